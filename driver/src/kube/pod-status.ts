// SecretProviderClassPodStatus: the driver's record that a pod's volume is mounted, with the object
// versions in it. Owned by the pod, so the garbage collector removes it with the pod; labelled with
// the node, so each driver watches only its own.
import type { KubeApi, SecretProviderClassObject, SecretProviderClassPodStatus } from '@sscsi/common';
import {
  apiVersionOf,
  isAlreadyExists,
  isConflict,
  isNotFound,
  Resources,
  resourcePath,
} from '@sscsi/common';

/** Reads and updates of a status that another writer changed each time, before giving up. */
const CONFLICT_ATTEMPTS = 5;

export const NODE_LABEL = 'internal.secrets-store.csi.k8s.io/node-name';

export interface PodStatusInput {
  podName: string;
  podUid: string;
  namespace: string;
  secretProviderClassName: string;
  targetPath: string;
  nodeId: string;
  objects: readonly SecretProviderClassObject[];
}

export interface PodStatusStore {
  /** Creates the status, or updates it when it exists (a StatefulSet pod may return on another node). */
  record(input: PodStatusInput, signal?: AbortSignal): Promise<void>;
  /** The object versions recorded for a pod's volume, if any. */
  objects(
    namespace: string,
    podName: string,
    spcName: string,
    signal?: AbortSignal,
  ): Promise<SecretProviderClassObject[] | undefined>;
}

export function podStatusName(podName: string, namespace: string, spcName: string): string {
  return `${podName}-${namespace}-${spcName}`;
}

export function buildPodStatus(input: PodStatusInput): SecretProviderClassPodStatus {
  return {
    apiVersion: apiVersionOf(Resources.secretProviderClassPodStatuses),
    kind: 'SecretProviderClassPodStatus',
    metadata: {
      name: podStatusName(input.podName, input.namespace, input.secretProviderClassName),
      namespace: input.namespace,
      labels: { [NODE_LABEL]: input.nodeId },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: input.podName, uid: input.podUid }],
    },
    status: {
      podName: input.podName,
      secretProviderClassName: input.secretProviderClassName,
      mounted: true,
      targetPath: input.targetPath,
      objects: [...input.objects].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    },
  };
}

export class KubePodStatusStore implements PodStatusStore {
  constructor(private readonly client: Pick<KubeApi, 'get' | 'create' | 'replace'>) {}

  async record(input: PodStatusInput, signal?: AbortSignal): Promise<void> {
    const desired = buildPodStatus(input);
    const collection = resourcePath(Resources.secretProviderClassPodStatuses, input.namespace);
    try {
      await this.client.create(collection, desired, { signal });
      return;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const one = resourcePath(
      Resources.secretProviderClassPodStatuses,
      input.namespace,
      desired.metadata.name,
    );
    // Replace labels, owner and status; keep everything else (finalizers, other labels) as it is.
    // A conflict is read again and retried: the name is one per pod and class, so a pod's volumes
    // of one class (as upstream names it) all record here, and rotate at the same moment.
    for (let attempt = 1; ; attempt++) {
      const existing = await this.client.get<SecretProviderClassPodStatus>(one, { signal });
      try {
        await this.client.replace(
          one,
          {
            ...existing,
            metadata: {
              ...existing.metadata,
              labels: { ...existing.metadata.labels, ...desired.metadata.labels },
              ownerReferences: desired.metadata.ownerReferences,
            },
            status: desired.status,
          },
          { signal },
        );
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= CONFLICT_ATTEMPTS) throw err;
      }
    }
  }

  async objects(
    namespace: string,
    podName: string,
    spcName: string,
    signal?: AbortSignal,
  ): Promise<SecretProviderClassObject[] | undefined> {
    try {
      const status = await this.client.get<SecretProviderClassPodStatus>(
        resourcePath(
          Resources.secretProviderClassPodStatuses,
          namespace,
          podStatusName(podName, namespace, spcName),
        ),
        { signal },
      );
      return status.status?.objects ?? [];
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
