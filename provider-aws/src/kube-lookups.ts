// What the provider asks Kubernetes for a mount: the ServiceAccount's role annotation and, when no
// region is given, the pod's node's region label. Answers are cached briefly and shared between
// concurrent mounts, so that a node full of pods starting at once stays within --qps/--burst.
// A shared request belongs to no one mount: it runs without any mount's signal (the client's own
// timeout bounds it), and each mount stops waiting when its own signal aborts.
import type { KubeApi, Node, Pod, ServiceAccount } from '@sscsi/common';
import { isNotFound, Resources, resourcePath, unlessAborted } from '@sscsi/common';

import { MountError } from './errors';

export const ROLE_ARN_ANNOTATION = 'eks.amazonaws.com/role-arn';
export const REGION_LABEL = 'topology.kubernetes.io/region';

/** A changed role annotation is seen within this time. */
const SERVICE_ACCOUNT_TTL_MS = 30_000;
const NODE_TTL_MS = 10 * 60_000;

class TtlCache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; expires: number }>();

  constructor(private readonly ttlMs: number) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    const value = load();
    this.entries.set(key, { value, expires: now + this.ttlMs });
    // Failures are not cached.
    value.catch(() => this.entries.delete(key));
    if (this.entries.size > 4096) {
      for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
    }
    return value;
  }
}

export interface PodLookups {
  roleArn(namespace: string, serviceAccount: string, signal?: AbortSignal): Promise<string>;
  nodeRegion(namespace: string, podName: string, signal?: AbortSignal): Promise<string>;
}

export class KubePodLookups implements PodLookups {
  private readonly serviceAccounts = new TtlCache<ServiceAccount>(SERVICE_ACCOUNT_TTL_MS);
  private readonly nodeRegions = new TtlCache<string | undefined>(NODE_TTL_MS);

  constructor(private readonly kube: Pick<KubeApi, 'get'>) {}

  async roleArn(namespace: string, serviceAccount: string, signal?: AbortSignal): Promise<string> {
    const shared = this.serviceAccounts.get(`${namespace}/${serviceAccount}`, () =>
      this.kube.get<ServiceAccount>(resourcePath(Resources.serviceAccounts, namespace, serviceAccount)),
    );
    const sa = await unlessAborted(shared, signal).catch((err: unknown) => {
      if (isNotFound(err))
        throw new MountError('KubernetesError', `ServiceAccount ${namespace}/${serviceAccount} not found`);
      throw new MountError(
        'KubernetesError',
        `cannot read ServiceAccount ${namespace}/${serviceAccount}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    });
    const roleArn = sa.metadata.annotations?.[ROLE_ARN_ANNOTATION];
    if (!roleArn) {
      throw new MountError(
        'MissingRoleAnnotation',
        `ServiceAccount ${namespace}/${serviceAccount} has no ${ROLE_ARN_ANNOTATION} annotation: annotate it with the IAM role the pod should use, or set usePodIdentity: "true" in the SecretProviderClass for EKS Pod Identity`,
      );
    }
    return roleArn;
  }

  async nodeRegion(namespace: string, podName: string, signal?: AbortSignal): Promise<string> {
    let pod: Pod;
    try {
      // The pod is this mount's own question: it is not shared, so it carries the mount's signal.
      pod = await this.kube.get<Pod>(resourcePath(Resources.pods, namespace, podName), { signal });
    } catch (err) {
      throw new MountError(
        'KubernetesError',
        `cannot read pod ${namespace}/${podName} to find its region: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const nodeName = pod.spec?.nodeName;
    if (!nodeName)
      throw new MountError(
        'RegionNotFound',
        `pod ${namespace}/${podName} is not bound to a node; set region in the SecretProviderClass`,
      );
    const shared = this.nodeRegions.get(nodeName, async () => {
      const node = await this.kube.get<Node>(resourcePath(Resources.nodes, undefined, nodeName));
      return node.metadata.labels?.[REGION_LABEL];
    });
    const region = await unlessAborted(shared, signal).catch((err: unknown) => {
      throw new MountError(
        'KubernetesError',
        `cannot read node ${nodeName} to find its region: ${(err as Error).message}`,
        { cause: err },
      );
    });
    if (!region) {
      throw new MountError(
        'RegionNotFound',
        `no region: the SecretProviderClass sets no "region", the provider has no AWS_REGION, and node ${nodeName} has no ${REGION_LABEL} label`,
      );
    }
    return region;
  }
}
