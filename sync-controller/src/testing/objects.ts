// For unit tests: SecretSyncs and SecretProviderClasses as the API server would hold them, with
// upstream's e2e names by default (SecretSync sse2esecret of SPC e2e-providerspc, `foo` → `bar`).
import type { SecretProviderClassView, SecretSync } from '../api/secret-sync';

export const SS_UID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
export const SPC_UID = '11111111-2222-3333-4444-555555555555';

export interface SecretSyncOverrides {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  serviceAccountName?: string;
  secretProviderClassName?: string;
  forceSynchronization?: string;
  secretObject?: Partial<SecretSync['spec']['secretObject']>;
  status?: SecretSync['status'];
}

export function secretSync(o: SecretSyncOverrides = {}): SecretSync {
  const ss: SecretSync = {
    apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
    kind: 'SecretSync',
    metadata: {
      name: o.name ?? 'sse2esecret',
      namespace: o.namespace ?? 'test-v1alpha1',
      uid: o.uid ?? SS_UID,
      generation: o.generation ?? 1,
    },
    spec: {
      secretProviderClassName: o.secretProviderClassName ?? 'e2e-providerspc',
      serviceAccountName: o.serviceAccountName ?? 'default',
      secretSyncControllerName: '',
      secretObject: { type: 'Opaque', data: [{ sourcePath: 'foo', targetKey: 'bar' }], ...o.secretObject },
    },
  };
  if (o.forceSynchronization !== undefined) ss.spec.forceSynchronization = o.forceSynchronization;
  if (o.status !== undefined) ss.status = o.status;
  return ss;
}

export interface ClassOverrides {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  provider?: string;
  parameters?: Record<string, string> | null;
}

export function secretProviderClass(o: ClassOverrides = {}): SecretProviderClassView {
  const spc: SecretProviderClassView = {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: {
      name: o.name ?? 'e2e-providerspc',
      namespace: o.namespace ?? 'test-v1alpha1',
      uid: o.uid ?? SPC_UID,
      generation: o.generation ?? 1,
    },
    spec: { provider: o.provider ?? 'e2e-provider' },
  };
  if (o.parameters !== null)
    spc.spec.parameters = o.parameters ?? {
      objects: 'array:\n  - |\n    objectName: foo\n    objectVersion: v1\n',
    };
  return spc;
}
