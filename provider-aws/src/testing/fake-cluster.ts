// For unit tests: a stand-in for the cluster's service-account token issuer. It signs tokens shaped
// like the ones the kubelet requests for a CSI volume (bound to the pod) and like the sync
// controller's TokenRequests (bound to nothing), and publishes its keys as the API server does, so
// tests exercise the real verifier with real signatures.
import crypto from 'node:crypto';

import type { MountInput } from '../parameters/mount-request';
import { parseMountRequest } from '../parameters/mount-request';
import type { Jwk } from '../credentials/token-verifier';

export const CLUSTER_ISSUER = 'https://kubernetes.default.svc';

export interface PodOfToken {
  namespace: string;
  serviceAccount: string;
  name: string;
  uid: string;
}

/** Pod `name` of ServiceAccount default/<serviceAccount>, its uid `uid-<name>`. */
export function podNamed(name: string, serviceAccount = 'app'): PodOfToken {
  return { namespace: 'default', serviceAccount, name, uid: `uid-${name}` };
}

/** A SecretSync's ServiceAccount: what the sync controller requests a token for. */
export interface ServiceAccountOfToken {
  namespace: string;
  serviceAccount: string;
}

export interface TokenOptions {
  audience: string;
  /** Claims to add or override (`iss`, `exp`, `kubernetes.io`, ...); undefined removes one. */
  claims?: Record<string, unknown>;
  /** Sign with another key under the cluster's key id: a forgery only signature checks catch. */
  forged?: boolean;
}

export class FakeCluster {
  private readonly key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly forger = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  readonly keyId = 'cluster-key-1';

  constructor(
    readonly issuer = CLUSTER_ISSUER,
    private readonly now: () => number = Date.now,
  ) {}

  /** What the API server publishes: its issuer (discovery document) and its keys (JWKS). */
  signingKeys(): { issuer: string; keys: Jwk[] } {
    const jwk = this.key.publicKey.export({ format: 'jwk' }) as Jwk;
    return { issuer: this.issuer, keys: [{ ...jwk, kid: this.keyId, alg: 'ES256', use: 'sig' }] };
  }

  /** A token the kubelet requests for a pod's CSI volume: bound to the pod. */
  token(pod: PodOfToken, options: TokenOptions): string {
    return this.sign(pod, options, {
      namespace: pod.namespace,
      node: { name: 'node-1', uid: 'node-uid-1' },
      pod: { name: pod.name, uid: pod.uid },
      serviceaccount: { name: pod.serviceAccount, uid: `sa-uid-${pod.serviceAccount}` },
    });
  }

  /** A token the sync controller requests (a TokenRequest without boundObjectRef): no pod. */
  serviceAccountToken(sa: ServiceAccountOfToken, options: TokenOptions): string {
    return this.sign(sa, options, {
      namespace: sa.namespace,
      serviceaccount: { name: sa.serviceAccount, uid: `sa-uid-${sa.serviceAccount}` },
    });
  }

  private sign(sa: ServiceAccountOfToken, options: TokenOptions, binding: Record<string, unknown>): string {
    const nowS = Math.floor(this.now() / 1000);
    const claims: Record<string, unknown> = {
      aud: [options.audience],
      exp: nowS + 3600,
      iat: nowS,
      nbf: nowS,
      iss: this.issuer,
      jti: crypto.randomUUID(),
      sub: `system:serviceaccount:${sa.namespace}:${sa.serviceAccount}`,
      'kubernetes.io': binding,
    };
    for (const [name, value] of Object.entries(options.claims ?? {})) {
      if (value === undefined) delete claims[name];
      else claims[name] = value;
    }
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signed = `${encode({ alg: 'ES256', kid: this.keyId })}.${encode(claims)}`;
    const signature = crypto.sign('sha256', Buffer.from(signed), {
      key: (options.forged ? this.forger : this.key).privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${signed}.${signature.toString('base64url')}`;
  }

  /** True when the cluster signed `token`: what STS or the Pod Identity agent find out remotely. */
  signed(token: string): boolean {
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || !signature) return false;
    return crypto.verify(
      'sha256',
      Buffer.from(`${header}.${payload}`),
      { key: this.key.publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature, 'base64url'),
    );
  }
}

/** The pod and audience a token was made for, read back without checking it (test bookkeeping). */
export function claimsOf(token: string): {
  sub?: string;
  aud?: string[];
  'kubernetes.io'?: { pod?: { name?: string; uid?: string } };
} {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as ReturnType<
    typeof claimsOf
  >;
}

export interface MountOptions {
  usePodIdentity?: boolean;
  /** A forged token, or one of another pod, instead of the pod's own. */
  token?: string;
  /** More SecretProviderClass parameters (region, failoverRegion, objects, ...). */
  parameters?: Record<string, string>;
}

/** A Mount request of `pod` as the driver sends it, parsed: its token made by `cluster`. */
export function mountInputFor(cluster: FakeCluster, pod: PodOfToken, options: MountOptions = {}): MountInput {
  const audience = options.usePodIdentity ? 'pods.eks.amazonaws.com' : 'sts.amazonaws.com';
  const token = options.token ?? cluster.token(pod, { audience });
  return parseMountRequest({
    attributes: JSON.stringify({
      'csi.storage.k8s.io/pod.name': pod.name,
      'csi.storage.k8s.io/pod.namespace': pod.namespace,
      'csi.storage.k8s.io/pod.uid': pod.uid,
      'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
      'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ [audience]: { token } }),
      objects: '- {objectName: MyDBSecret, objectType: secretsmanager}',
      region: 'us-east-1',
      usePodIdentity: String(Boolean(options.usePodIdentity)),
      preferredAddressType: 'ipv4',
      ...options.parameters,
    }),
    secrets: 'null',
    targetPath: `/var/lib/kubelet/pods/${pod.uid}/volumes/kubernetes.io~csi/secrets/mount`,
    permission: '420',
    currentObjectVersion: [],
  });
}

/** The sync controller's own pod, which its requests name whatever the SecretSync. */
export const SYNC_CONTROLLER_POD = {
  name: 'secrets-store-sync-controller-7d9f-abcde',
  uid: 'controller-uid-1',
};

export interface SyncOptions {
  usePodIdentity?: boolean;
  /** Tokens by audience instead of the ServiceAccount's own for the mode's audience. */
  tokens?: Record<string, string>;
  /** More SecretProviderClass parameters (region, objects, ...). */
  parameters?: Record<string, string>;
}

/**
 * The Mount request the sync controller sends for a SecretSync of `sa`, as it sends it: its own
 * pod's name and uid, the SecretSync's namespace and ServiceAccount, a TokenRequest token bound to
 * no pod, `secrets` {}, permission 420, target path /mnt/secrets-store and no object versions.
 */
export function syncRequestFor(cluster: FakeCluster, sa: ServiceAccountOfToken, options: SyncOptions = {}) {
  const audience = options.usePodIdentity ? 'pods.eks.amazonaws.com' : 'sts.amazonaws.com';
  const tokens = options.tokens ?? { [audience]: cluster.serviceAccountToken(sa, { audience }) };
  const entries = Object.fromEntries(
    Object.entries(tokens).map(([aud, token]) => [
      aud,
      { token, expirationTimestamp: '2030-01-02T03:04:05Z' },
    ]),
  );
  return {
    attributes: JSON.stringify({
      'csi.storage.k8s.io/pod.name': SYNC_CONTROLLER_POD.name,
      'csi.storage.k8s.io/pod.namespace': sa.namespace,
      'csi.storage.k8s.io/pod.uid': SYNC_CONTROLLER_POD.uid,
      'csi.storage.k8s.io/serviceAccount.name': sa.serviceAccount,
      'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify(entries),
      objects: '- {objectName: MyDBSecret, objectType: secretsmanager}',
      region: 'us-east-1',
      ...(options.usePodIdentity ? { usePodIdentity: 'true' } : {}),
      ...options.parameters,
    }),
    secrets: '{}',
    targetPath: '/mnt/secrets-store',
    permission: '420',
    currentObjectVersion: [],
  };
}

/** The sync controller's Mount request for `sa`, parsed. */
export function syncInputFor(
  cluster: FakeCluster,
  sa: ServiceAccountOfToken,
  options?: SyncOptions,
): MountInput {
  return parseMountRequest(syncRequestFor(cluster, sa, options));
}
