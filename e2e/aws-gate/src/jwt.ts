// Service-account tokens (JWTs) as AWS judges them: decoded once into typed parts, the signature
// checked against the issuer's JWKS, the validity window against the gate's clock.
import { jwtSignatureValid } from '@sscsi/common';
import crypto from 'node:crypto';

export interface KubernetesClaims {
  namespace?: string;
  serviceAccount?: { name?: string; uid?: string };
  pod?: { name?: string; uid?: string };
}

export interface JwtClaims {
  iss?: string;
  sub?: string;
  aud: readonly string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  kubernetes: KubernetesClaims;
}

export interface DecodedJwt {
  alg: string;
  kid: string;
  claims: JwtClaims;
  signingInput: Buffer;
  signature: Buffer;
}

export class MalformedToken extends Error {
  override name = 'MalformedToken';
}

type Json = Record<string, unknown>;

function part(text: string | undefined, what: string): Json {
  try {
    const value = JSON.parse(Buffer.from(text ?? '', 'base64url').toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  } catch {
    // reported below
  }
  throw new MalformedToken(`the token's ${what} is not base64url-encoded JSON`);
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
const obj = (v: unknown) => (v && typeof v === 'object' ? (v as Json) : {});

function kubernetesClaims(raw: Json): KubernetesClaims {
  const k = obj(raw['kubernetes.io']);
  const sa = obj(k.serviceaccount);
  const pod = k.pod ? obj(k.pod) : undefined;
  return {
    namespace: str(k.namespace),
    serviceAccount: { name: str(sa.name), uid: str(sa.uid) },
    pod: pod ? { name: str(pod.name), uid: str(pod.uid) } : undefined,
  };
}

export function decodeJwt(token: string): DecodedJwt {
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw new MalformedToken('the token is not a JWT (three dot-separated parts)');
  const [headerText, payloadText, signatureText] = parts as [string, string, string];
  const header = part(headerText, 'header');
  const raw = part(payloadText, 'payload');
  const aud = raw.aud;
  return {
    alg: str(header.alg) ?? '',
    kid: str(header.kid) ?? '',
    claims: {
      iss: str(raw.iss),
      sub: str(raw.sub),
      aud: Array.isArray(aud)
        ? aud.filter((a): a is string => typeof a === 'string')
        : aud
          ? [String(aud)]
          : [],
      exp: num(raw.exp),
      nbf: num(raw.nbf),
      iat: num(raw.iat),
      kubernetes: kubernetesClaims(raw),
    },
    signingInput: Buffer.from(`${headerText}.${payloadText}`),
    signature: Buffer.from(signatureText, 'base64url'),
  };
}

export interface Jwk extends crypto.JsonWebKey {
  kid?: string;
}

/** The keys of a JWKS by `kid`; keys node:crypto cannot use are left out. */
export function keysFromJwks(jwks: unknown): Map<string, crypto.KeyObject> {
  const keys = new Map<string, crypto.KeyObject>();
  const list = obj(jwks).keys;
  for (const jwk of Array.isArray(list) ? (list as Jwk[]) : []) {
    try {
      keys.set(jwk.kid ?? '', crypto.createPublicKey({ key: jwk, format: 'jwk' }));
    } catch {
      // an unusable key signs nothing we accept
    }
  }
  return keys;
}

/** Whether the token is signed by `key` with an asymmetric algorithm (never `none` or HMAC). */
export function signatureValid(jwt: DecodedJwt, key: crypto.KeyObject): boolean {
  return jwtSignatureValid(jwt.alg, jwt.signingInput, jwt.signature, key);
}

export type ValidityProblem = 'no-expiry' | 'expired' | 'not-yet-valid';

/** What is wrong with the token's validity window at `nowSeconds`, if anything. */
export function validityProblem(
  claims: JwtClaims,
  nowSeconds: number,
  notBeforeSkewSeconds = 60,
): ValidityProblem | undefined {
  if (claims.exp === undefined) return 'no-expiry';
  if (claims.exp <= nowSeconds) return 'expired';
  if (claims.nbf !== undefined && claims.nbf > nowSeconds + notBeforeSkewSeconds) return 'not-yet-valid';
  return undefined;
}
