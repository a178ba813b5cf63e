// Local verification of a pod's service-account token: signature against the cluster's signing keys
// (the API server's /openid/v1/jwks), audience, validity window and subject. It lets credentials
// cached for one pod of a ServiceAccount serve another pod of the same ServiceAccount without a new
// STS call, and only after that pod has proven it is one.
import crypto from 'node:crypto';

export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  [key: string]: unknown;
}

export type JwksSource = () => Promise<{ keys: Jwk[] }>;

export interface TokenExpectation {
  audience: string;
  /** `system:serviceaccount:<namespace>:<name>` */
  subject: string;
}

interface JwtHeader {
  alg?: string;
  kid?: string;
}

interface JwtClaims {
  aud?: string | string[];
  sub?: string;
  exp?: number;
  nbf?: number;
}

const ALGORITHMS: Record<string, { hash: string; dsaEncoding?: 'ieee-p1363' }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsaEncoding: 'ieee-p1363' },
};

const CLOCK_SKEW_S = 30;
const KEYS_TTL_MS = 10 * 60_000;
/** A token signed with a key we do not know refetches the keys, at most this often. */
const REFETCH_MIN_MS = 30_000;

function decodePart<T>(part: string | undefined): T | undefined {
  if (!part) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

export class TokenVerifier {
  private keys = new Map<string, crypto.KeyObject>();
  private fetchedAt = 0;
  private fetching?: Promise<void>;

  constructor(
    private readonly source: JwksSource,
    private readonly now: () => number = Date.now,
  ) {}

  private async refresh(): Promise<void> {
    this.fetching ??= (async () => {
      try {
        const jwks = await this.source();
        const keys = new Map<string, crypto.KeyObject>();
        for (const jwk of jwks.keys) {
          try {
            keys.set(jwk.kid ?? '', crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' }));
          } catch {
            // A key type node:crypto cannot use: tokens signed with it go to STS instead.
          }
        }
        this.keys = keys;
        this.fetchedAt = this.now();
      } finally {
        this.fetching = undefined;
      }
    })();
    return this.fetching;
  }

  private async keyFor(kid: string): Promise<crypto.KeyObject | undefined> {
    const age = this.now() - this.fetchedAt;
    if (age > KEYS_TTL_MS || (!this.keys.has(kid) && age > REFETCH_MIN_MS)) await this.refresh();
    return (
      this.keys.get(kid) ?? (this.keys.size === 1 && kid === '' ? [...this.keys.values()][0] : undefined)
    );
  }

  /** True when the token is signed by the cluster, for `audience`, currently valid, and for `subject`. */
  async verify(token: string, expected: TokenExpectation): Promise<boolean> {
    const [headerPart, payloadPart, signaturePart] = token.split('.');
    const header = decodePart<JwtHeader>(headerPart);
    const claims = decodePart<JwtClaims>(payloadPart);
    const algorithm = ALGORITHMS[header?.alg ?? ''];
    if (!header || !claims || !algorithm || !signaturePart) return false;
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const nowS = this.now() / 1000;
    if (!audiences.includes(expected.audience) || claims.sub !== expected.subject) return false;
    if (typeof claims.exp !== 'number' || claims.exp < nowS - CLOCK_SKEW_S) return false;
    if (typeof claims.nbf === 'number' && claims.nbf > nowS + CLOCK_SKEW_S) return false;
    let key: crypto.KeyObject | undefined;
    try {
      key = await this.keyFor(header.kid ?? '');
    } catch {
      return false;
    }
    if (!key) return false;
    return crypto.verify(
      algorithm.hash,
      Buffer.from(`${headerPart}.${payloadPart}`),
      algorithm.dsaEncoding ? { key, dsaEncoding: algorithm.dsaEncoding } : key,
      Buffer.from(signaturePart, 'base64url'),
    );
  }
}
