// Local verification of a service-account token: signature against the cluster's signing keys
// (the API server's /openid/v1/jwks), issuer (the API server's discovery document), audience,
// validity window, subject (the ServiceAccount and namespace the request names) and the binding
// that fits who the request is for (requester.ts):
// - a pod's token (CSI) must be bound to the pod the request names (name, and uid when given);
// - the sync controller's token must be bound to no pod: a pod's token whose pod does not match
//   the request does not pass for a ServiceAccount's.
// It lets credentials cached for one identity serve another request of that identity without a
// new STS call, and only after the request has proven it is one. When the keys cannot be fetched,
// every token goes to STS or the agent instead, and the fetch is tried again only after a pause
// that grows with each failure.
import type { KubeApi } from '@sscsi/common';
import { jwtAlgorithmAccepted, jwtSignatureValid } from '@sscsi/common';
import crypto from 'node:crypto';

import type { KubernetesClaims, Requester } from './requester';
import { boundToPod, decodeJwtPart } from './requester';

export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  [key: string]: unknown;
}

/** What the cluster publishes about its service-account tokens. */
export interface ClusterSigningKeys {
  /** The `iss` of every token the cluster issues. */
  issuer: string;
  keys: Jwk[];
}

export type SigningKeysSource = () => Promise<ClusterSigningKeys>;

/** The API server, as far as the signing keys are concerned. */
export type DiscoveryApi = Pick<KubeApi, 'get'>;

/** The issuer from the API server's discovery document, the keys from its JWKS. */
export function clusterSigningKeys(api: DiscoveryApi): SigningKeysSource {
  return async () => {
    const [discovery, jwks] = await Promise.all([
      api.get<{ issuer?: unknown } | undefined>('/.well-known/openid-configuration'),
      api.get<{ keys?: unknown } | undefined>('/openid/v1/jwks', {
        accept: 'application/jwk-set+json, application/json',
      }),
    ]);
    if (typeof discovery?.issuer !== 'string' || discovery.issuer === '') {
      throw new Error('the discovery document /.well-known/openid-configuration names no issuer');
    }
    if (!Array.isArray(jwks?.keys)) throw new Error('/openid/v1/jwks holds no "keys" list');
    return { issuer: discovery.issuer, keys: jwks.keys as Jwk[] };
  };
}

/** The pod a mount request says it is for (the sync controller names its own pod). */
export interface RequestingPod {
  namespace: string;
  serviceAccount: string;
  /** A pod's token: always checked. */
  name: string;
  /** A pod's token: checked when the request names it. */
  uid?: string;
}

export interface TokenExpectation {
  audience: string;
  /** Its namespace and ServiceAccount are checked for both; its name and uid for a pod's token. */
  pod: RequestingPod;
  /** Which binding the token must have: to the request's pod, or to none. */
  requester: Requester;
}

/** What a verified token proves: the pod it was issued for, or only its ServiceAccount. */
export type VerifiedToken =
  { requester: 'pod'; pod: { name: string; uid: string } } | { requester: 'serviceaccount' };

interface JwtHeader {
  alg?: string;
  kid?: string;
}

interface JwtClaims {
  iss?: unknown;
  aud?: unknown;
  sub?: unknown;
  exp?: unknown;
  nbf?: unknown;
  'kubernetes.io'?: KubernetesClaims;
}

const CLOCK_SKEW_S = 30;
const KEYS_TTL_MS = 10 * 60_000;
/** A token signed with a key we do not know refetches the keys, at most this often. */
const REFETCH_MIN_MS = 30_000;
/** After a failed fetch of the keys: the first pause, doubled per failure up to the last. */
const BACKOFF_FIRST_MS = 5_000;
const BACKOFF_MAX_MS = 5 * 60_000;

/** What a token whose claims fit the request proves (all but issuer and signature), or undefined. */
function matchingClaims(
  claims: JwtClaims,
  expected: TokenExpectation,
  nowS: number,
): VerifiedToken | undefined {
  const { pod } = expected;
  const audiences = Array.isArray(claims.aud) ? (claims.aud as unknown[]) : [claims.aud];
  if (!audiences.includes(expected.audience)) return undefined;
  if (claims.sub !== `system:serviceaccount:${pod.namespace}:${pod.serviceAccount}`) return undefined;
  if (typeof claims.exp !== 'number' || claims.exp < nowS - CLOCK_SKEW_S) return undefined;
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > nowS + CLOCK_SKEW_S)) {
    return undefined;
  }
  const binding = claims['kubernetes.io'];
  if (expected.requester === 'serviceaccount') {
    // The sync controller's TokenRequest: bound to no pod. A namespace claim, when there is one,
    // names the same namespace as the subject (the API server writes both).
    if (boundToPod(claims)) return undefined;
    if (binding?.namespace !== undefined && binding.namespace !== pod.namespace) return undefined;
    return { requester: 'serviceaccount' };
  }
  // A token the kubelet requested for the pod's volume is bound to that pod; one that is not, or is
  // bound to another pod (or an earlier pod of the same name), proves nothing about this request.
  const name = binding?.pod?.name;
  const uid = binding?.pod?.uid;
  if (binding?.namespace !== pod.namespace || typeof name !== 'string' || typeof uid !== 'string') {
    return undefined;
  }
  if (name !== pod.name || (pod.uid !== undefined && uid !== pod.uid)) return undefined;
  return { requester: 'pod', pod: { name, uid } };
}

export class TokenVerifier {
  private issuer: string | undefined;
  private keys = new Map<string, crypto.KeyObject>();
  private fetchedAt = 0;
  private fetching?: Promise<void>;
  private failures = 0;
  private retryAt = 0;

  constructor(
    private readonly source: SigningKeysSource,
    private readonly now: () => number = Date.now,
  ) {}

  private refresh(): Promise<void> {
    this.fetching ??= (async () => {
      try {
        const published = await this.source();
        const keys = new Map<string, crypto.KeyObject>();
        for (const jwk of published.keys) {
          try {
            keys.set(jwk.kid ?? '', crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' }));
          } catch {
            // A key type node:crypto cannot use: tokens signed with it go to STS instead.
          }
        }
        this.issuer = published.issuer;
        this.keys = keys;
        this.fetchedAt = this.now();
        this.failures = 0;
      } catch (err) {
        this.retryAt = this.now() + Math.min(BACKOFF_FIRST_MS * 2 ** this.failures, BACKOFF_MAX_MS);
        this.failures++;
        throw err;
      } finally {
        this.fetching = undefined;
      }
    })();
    return this.fetching;
  }

  /** The key for `kid`, fetching the keys when they are old or `kid` is new; undefined if none. */
  private async keyFor(kid: string): Promise<crypto.KeyObject | undefined> {
    const now = this.now();
    const age = now - this.fetchedAt;
    const stale = age > KEYS_TTL_MS || (!this.keys.has(kid) && age > REFETCH_MIN_MS);
    // After a failed fetch, no new request until the pause is over (one already under way is joined).
    if (stale && (this.fetching || now >= this.retryAt)) await this.refresh();
    if (this.now() - this.fetchedAt > KEYS_TTL_MS) return undefined;
    return (
      this.keys.get(kid) ?? (this.keys.size === 1 && kid === '' ? [...this.keys.values()][0] : undefined)
    );
  }

  /**
   * What `token` proves, when the cluster signed it for `expected.audience`, it is valid now, it is
   * for the requesting ServiceAccount, and it is bound as `expected.requester` says (to the
   * requesting pod, or to no pod); otherwise undefined.
   */
  async verify(token: string, expected: TokenExpectation): Promise<VerifiedToken | undefined> {
    const [headerPart, payloadPart, signaturePart, ...rest] = token.split('.');
    const header = decodeJwtPart<JwtHeader>(headerPart);
    const claims = decodeJwtPart<JwtClaims>(payloadPart);
    const alg = header?.alg ?? '';
    if (!header || !claims || !jwtAlgorithmAccepted(alg) || !signaturePart || rest.length > 0)
      return undefined;
    const verified = matchingClaims(claims, expected, this.now() / 1000);
    if (!verified) return undefined;
    let key: crypto.KeyObject | undefined;
    try {
      key = await this.keyFor(header.kid ?? '');
    } catch {
      return undefined;
    }
    // The issuer is known only once the keys are: checked after fetching them.
    if (!key || this.issuer === undefined || claims.iss !== this.issuer) return undefined;
    const signed = jwtSignatureValid(
      alg,
      Buffer.from(`${headerPart}.${payloadPart}`),
      Buffer.from(signaturePart, 'base64url'),
      key,
    );
    return signed ? verified : undefined;
  }
}
