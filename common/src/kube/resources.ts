// The resource types this project uses and how their API paths are built.

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const core = (plural: string, kind: string, namespaced = true): ResourceType => ({
  group: '',
  version: 'v1',
  plural,
  kind,
  namespaced,
});

export const SECRETS_STORE_GROUP = 'secrets-store.csi.x-k8s.io';

export const Resources = {
  pods: core('pods', 'Pod'),
  secrets: core('secrets', 'Secret'),
  serviceAccounts: core('serviceaccounts', 'ServiceAccount'),
  nodes: core('nodes', 'Node', false),
  namespaces: core('namespaces', 'Namespace', false),
  events: core('events', 'Event'),
  configMaps: core('configmaps', 'ConfigMap'),
  secretProviderClasses: {
    group: SECRETS_STORE_GROUP,
    version: 'v1',
    plural: 'secretproviderclasses',
    kind: 'SecretProviderClass',
    namespaced: true,
  },
  secretProviderClassPodStatuses: {
    group: SECRETS_STORE_GROUP,
    version: 'v1',
    plural: 'secretproviderclasspodstatuses',
    kind: 'SecretProviderClassPodStatus',
    namespaced: true,
  },
  csiDrivers: {
    group: 'storage.k8s.io',
    version: 'v1',
    plural: 'csidrivers',
    kind: 'CSIDriver',
    namespaced: false,
  },
} satisfies Record<string, ResourceType>;

/** `apiVersion` of a resource type, e.g. `v1` or `secrets-store.csi.x-k8s.io/v1`. */
export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/**
 * The API path of a collection (no name) or of one object. Without a namespace, a namespaced
 * type's path covers all namespaces (for lists and watches).
 */
export function resourcePath(
  type: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const root = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  const ns = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const one = name ? `/${encodeURIComponent(name)}` : '';
  const sub = name && subresource ? `/${subresource}` : '';
  return `${root}${ns}/${type.plural}${one}${sub}`;
}
