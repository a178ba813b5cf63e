// The SecretSync API (secret-sync.x-k8s.io/v1alpha1) as this controller reads and writes it, and
// the resource types it uses besides common's. Only the fields the controller uses are typed; the
// rest of an object passes through the status write untouched.
import type { KubeObject, ResourceType } from '@sscsi/common';

export const SECRET_SYNC_GROUP = 'secret-sync.x-k8s.io';
export const SECRET_SYNC_API_VERSION = `${SECRET_SYNC_GROUP}/v1alpha1`;
export const SECRET_SYNC_KIND = 'SecretSync';

export const SecretSyncResources = {
  secretSyncs: {
    group: SECRET_SYNC_GROUP,
    version: 'v1alpha1',
    plural: 'secretsyncs',
    kind: SECRET_SYNC_KIND,
    namespaced: true,
  },
  leases: {
    group: 'coordination.k8s.io',
    version: 'v1',
    plural: 'leases',
    kind: 'Lease',
    namespaced: true,
  },
} satisfies Record<string, ResourceType>;

export interface SecretObjectData {
  sourcePath: string;
  targetKey: string;
}

export interface SecretSyncSecretObject {
  type?: string;
  data: SecretObjectData[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  /** RFC 3339, whole seconds, UTC. */
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface SecretSyncStatus {
  syncHash?: string;
  lastSuccessfulSyncTime?: string;
  conditions?: Condition[];
  [field: string]: unknown;
}

export interface SecretSync extends KubeObject {
  metadata: KubeObject['metadata'] & { generation?: number };
  spec: {
    secretProviderClassName: string;
    serviceAccountName: string;
    secretObject: SecretSyncSecretObject;
    secretSyncControllerName?: string;
    forceSynchronization?: string;
  };
  status?: SecretSyncStatus;
}

/** The SecretProviderClass fields the controller reads: the provider, its parameters, uid and generation. */
export interface SecretProviderClassView extends KubeObject {
  metadata: KubeObject['metadata'] & { generation?: number };
  spec: { provider?: string; parameters?: Record<string, string> | null };
}

/** `namespace/name`, the work queue's key. */
export function secretSyncKey(ss: Pick<SecretSync, 'metadata'>): string {
  return `${ss.metadata.namespace ?? ''}/${ss.metadata.name ?? ''}`;
}

export function parseSecretSyncKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
