// For unit tests: SecretSyncs and SecretProviderClasses as the API server would hold them, with
// upstream's e2e names by default (SecretSync sse2esecret of SPC e2e-providerspc, `foo` → `bar`).
import type { SecretProviderClassView, SecretSync } from '../api/secret-sync';

export const SS_UID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
export const SPC_UID = '11111111-2222-3333-4444-555555555555';

/** What a test may set of an object's metadata; the rest is upstream's e2e names. */
export interface MetadataOverrides {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
}

function metadata(o: MetadataOverrides, name: string, uid: string) {
  return {
    name: o.name ?? name,
    namespace: o.namespace ?? 'test-v1alpha1',
    uid: o.uid ?? uid,
    generation: o.generation ?? 1,
  };
}

export interface SecretSyncOverrides extends MetadataOverrides {
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
    metadata: metadata(o, 'sse2esecret', SS_UID),
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

export interface ClassOverrides extends MetadataOverrides {
  provider?: string;
  parameters?: Record<string, string> | null;
}

export function secretProviderClass(o: ClassOverrides = {}): SecretProviderClassView {
  const spc: SecretProviderClassView = {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: metadata(o, 'e2e-providerspc', SPC_UID),
    spec: { provider: o.provider ?? 'e2e-provider' },
  };
  if (o.parameters !== null)
    spc.spec.parameters = o.parameters ?? {
      objects: 'array:\n  - |\n    objectName: foo\n    objectVersion: v1\n',
    };
  return spc;
}
