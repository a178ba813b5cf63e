// Tokens a test makes itself: signed with a key of its own (a forgery the cluster never issued), or
// with the lab's service-account signing key (a token the cluster could have issued, e.g. expired).
import crypto from 'node:crypto';

export interface SignOptions {
  /** The header's `kid`; AWS and the provider pick the verification key by it. */
  kid?: string;
  alg?: 'RS256' | 'ES256' | 'none';
}

/** A compact JWS of `claims` signed with `key` (RS256 by default). */
export function signToken(claims: object, key: crypto.KeyObject, o: SignOptions = {}): string {
  const alg = o.alg ?? 'RS256';
  const header = Buffer.from(JSON.stringify({ alg, kid: o.kid ?? '' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${header}.${payload}`;
  if (alg === 'none') return `${input}.`;
  const signature = crypto.sign(
    'sha256',
    Buffer.from(input),
    alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key,
  );
  return `${input}.${signature.toString('base64url')}`;
}

/** The claims and `kid` of a real token, to forge one that differs only where a test wants. */
export function tokenParts(token: string): { kid: string; claims: Record<string, unknown> } {
  const [header, payload] = token.split('.');
  const parse = (text: string | undefined) =>
    JSON.parse(Buffer.from(text ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return { kid: String(parse(header).kid ?? ''), claims: parse(payload) };
}

/** The same claims and `kid`, signed by a key the cluster does not have. */
export function forgeToken(token: string, changes: Record<string, unknown> = {}): string {
  const { kid, claims } = tokenParts(token);
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return signToken({ ...claims, ...changes }, privateKey, { kid });
}
