// For unit tests: the kubelet's NodePublishVolume for pod default/sample-app, whose volume uses the
// class my-db-secret (provider aws, one object MyDBSecret), and that class.
import type { SecretProviderClass } from '@sscsi/common';
import type { NodePublishVolumeRequest } from '@sscsi/proto';

import { Attr } from '../csi/publish-request';

export const MY_DB_CLASS: SecretProviderClass = {
  metadata: { name: 'my-db-secret', namespace: 'default' },
  spec: { provider: 'aws', parameters: { objects: '- objectName: MyDBSecret' } },
};

/** A mount volume as the kubelet asks for it, read-only, with the pod's fsGroup when it has one. */
export function mountCapability(volumeMountGroup = ''): NodePublishVolumeRequest['volumeCapability'] {
  return {
    mount: { fsType: '', mountFlags: [], volumeMountGroup },
    accessMode: { mode: 'SINGLE_NODE_READER_ONLY' },
    accessType: 'mount',
  };
}

export function publishRequest(
  targetPath: string,
  overrides: Partial<NodePublishVolumeRequest> = {},
): NodePublishVolumeRequest {
  return {
    volumeId: 'vol-1',
    publishContext: {},
    stagingTargetPath: '',
    targetPath,
    volumeCapability: mountCapability(),
    readonly: true,
    secrets: {},
    volumeContext: {
      [Attr.secretProviderClass]: 'my-db-secret',
      [Attr.podName]: 'sample-app',
      [Attr.podNamespace]: 'default',
      [Attr.podUid]: 'uid-1',
      [Attr.serviceAccountTokens]: '{"sts.amazonaws.com":{"token":"tok"}}',
      region: 'from-pod',
    },
    ...overrides,
  };
}
