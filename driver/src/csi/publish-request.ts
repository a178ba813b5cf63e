// NodePublishVolume and NodeUnpublishVolume requests, checked and turned into typed values before
// anything is mounted or asked of the API server.
import { FileOwnershipError, parseGroupId } from '@sscsi/common';
import type { NodePublishVolumeRequest, NodeUnpublishVolumeRequest } from '@sscsi/proto';
import path from 'node:path';

import { invalidRequest } from '../errors';

/** volume_context keys the kubelet sets (CSIDriver podInfoOnMount and tokenRequests). */
export const Attr = {
  secretProviderClass: 'secretProviderClass',
  podName: 'csi.storage.k8s.io/pod.name',
  podNamespace: 'csi.storage.k8s.io/pod.namespace',
  podUid: 'csi.storage.k8s.io/pod.uid',
  serviceAccountName: 'csi.storage.k8s.io/serviceAccount.name',
  serviceAccountTokens: 'csi.storage.k8s.io/serviceAccount.tokens',
} as const;

export interface PublishRequest {
  volumeId: string;
  targetPath: string;
  spcName: string;
  pod: { name: string; namespace: string; uid: string };
  volumeContext: Readonly<Record<string, string>>;
  /** nodePublishSecretRef data, without the service-account tokens. */
  secrets: Readonly<Record<string, string>>;
  /** The tokens JSON, from `secrets` (Kubernetes 1.35+ serviceAccountTokenInSecrets) or volume_context. */
  serviceAccountTokens: string | undefined;
  /** The pod's fsGroup: the kubelet sends it to a driver with the VOLUME_MOUNT_GROUP capability. */
  volumeMountGroup: number | undefined;
}

function parseVolumeMountGroup(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  try {
    return parseGroupId(raw, "volume_mount_group (the pod's fsGroup)");
  } catch (err) {
    if (err instanceof FileOwnershipError) throw invalidRequest(err.message);
    throw err;
  }
}

function requireTargetPath(targetPath: string): string {
  if (!targetPath) throw invalidRequest('target path missing in request');
  if (!path.isAbsolute(targetPath))
    throw invalidRequest(`target path ${JSON.stringify(targetPath)} is not absolute`);
  const trimmed = targetPath.replace(/(.)\/+$/, '$1');
  if (path.normalize(trimmed) !== trimmed || targetPath.includes('\0')) {
    throw invalidRequest(`target path ${JSON.stringify(targetPath)} is not a clean path`);
  }
  return trimmed;
}

export function parsePublishRequest(req: NodePublishVolumeRequest): PublishRequest {
  if (!req.volumeCapability) throw invalidRequest('volume capability missing in request');
  if (!req.volumeId) throw invalidRequest('volume ID missing in request');
  const targetPath = requireTargetPath(req.targetPath);
  if (req.volumeCapability.block) {
    throw invalidRequest('block volumes are not supported: secrets-store volumes are mounted file systems');
  }
  const context = req.volumeContext ?? {};
  if (Object.keys(context).length === 0) {
    throw invalidRequest(
      'volume attributes missing in request: the pod must set volumeAttributes.secretProviderClass',
    );
  }
  if (!req.readonly) {
    throw invalidRequest(
      'readonly is not true in request: secrets-store volumes must be mounted with readOnly: true',
    );
  }
  const spcName = context[Attr.secretProviderClass];
  if (!spcName)
    throw invalidRequest(
      'volume attribute secretProviderClass is missing: name the SecretProviderClass to use',
    );
  const name = context[Attr.podName];
  const namespace = context[Attr.podNamespace];
  const uid = context[Attr.podUid];
  if (!name || !namespace || !uid) {
    throw invalidRequest(
      `volume context lacks ${[!name && Attr.podName, !namespace && Attr.podNamespace, !uid && Attr.podUid]
        .filter(Boolean)
        .join(', ')}: the CSIDriver object needs podInfoOnMount: true`,
    );
  }
  const volumeMountGroup = parseVolumeMountGroup(req.volumeCapability.mount?.volumeMountGroup);
  const secrets = { ...(req.secrets ?? {}) };
  const tokensFromSecrets = secrets[Attr.serviceAccountTokens];
  delete secrets[Attr.serviceAccountTokens];
  return {
    volumeId: req.volumeId,
    targetPath,
    spcName,
    pod: { name, namespace, uid },
    volumeContext: context,
    secrets,
    serviceAccountTokens: tokensFromSecrets ?? context[Attr.serviceAccountTokens],
    volumeMountGroup,
  };
}

export function parseUnpublishRequest(req: NodeUnpublishVolumeRequest): {
  volumeId: string;
  targetPath: string;
} {
  if (!req.volumeId) throw invalidRequest('volume ID missing in request');
  return { volumeId: req.volumeId, targetPath: requireTargetPath(req.targetPath) };
}
