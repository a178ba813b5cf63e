// Who a Mount request is for, told by its token rather than by anything else the caller says:
// - `pod`: the CSI driver's mount of a pod's volume. The kubelet requests the token for that pod
//   (a TokenRequest bound to it), so it carries the `kubernetes.io` pod claim.
// - `serviceaccount`: the sync controller's request for a SecretSync. It names its own pod, but
//   its token is a TokenRequest for the SecretSync's ServiceAccount with no bound object: no pod.
// The claim is read here without checking the signature. It only picks which checks apply
// (token-verifier.ts): a token claiming no pod must then prove it has none, and removing the
// claim from a pod's token breaks its signature. A token that is not a JWT at all is taken for a
// pod's, today's path: it verifies nowhere and goes to STS or the agent as it is.

export type Requester = 'pod' | 'serviceaccount';

/** The `kubernetes.io` claims of a service-account token, as far as bindings go. */
export interface KubernetesClaims {
  namespace?: unknown;
  pod?: { name?: unknown; uid?: unknown };
  serviceaccount?: { name?: unknown; uid?: unknown };
}

/** The JSON object of one part of a JWT (header or payload), or undefined. */
export function decodeJwtPart<T>(part: string | undefined): T | undefined {
  if (!part) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/** True when the claims bind the token to a pod (whatever pod: the verifier checks which). */
export function boundToPod(claims: { 'kubernetes.io'?: unknown }): boolean {
  const k8s = claims['kubernetes.io'] as KubernetesClaims | undefined;
  return typeof k8s === 'object' && k8s !== null && k8s.pod !== undefined && k8s.pod !== null;
}

/** Who `token` says the request is for; a token that is not a JWT is taken for a pod's. */
export function requesterOf(token: string | undefined): Requester {
  const parts = token?.split('.') ?? [];
  if (parts.length !== 3) return 'pod';
  const claims = decodeJwtPart<{ 'kubernetes.io'?: unknown }>(parts[1]);
  if (!claims) return 'pod';
  return boundToPod(claims) ? 'pod' : 'serviceaccount';
}
