// Which volume of a pod a SecretProviderClassPodStatus points at. The status is an API object that
// anyone allowed to write statuses can edit: before a Secret is built from the files at its target
// path, that path must be a volume of this pod, of this driver, mounting this class, as upstream
// checks. Otherwise a status could copy another volume's files into a Secret.
import type { Pod } from '@sscsi/common';
import path from 'node:path';

import { SyncError } from './secret-data';

const TARGET_PATH = /\/pods\/([^/]+)\/volumes\/kubernetes\.io~csi\/([^/]+)\/mount$/;

/** The name of the pod's volume at `targetPath`; throws SyncError when it is not one of `spcName`. */
export function volumeOfClass(pod: Pod, targetPath: string, driverName: string, spcName: string): string {
  const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const match = TARGET_PATH.exec(targetPath);
  if (
    !match ||
    !path.isAbsolute(targetPath) ||
    path.normalize(targetPath) !== targetPath ||
    match[1] !== pod.metadata.uid
  ) {
    throw new SyncError(
      `the status names target path ${targetPath}, which is not a volume of pod ${podName}`,
    );
  }
  const volumeName = match[2] as string;
  const volume = pod.spec?.volumes?.find((v) => v.name === volumeName);
  if (volume?.csi?.driver !== driverName || volume.csi.volumeAttributes?.secretProviderClass !== spcName) {
    throw new SyncError(
      `the status names volume ${volumeName} of pod ${podName}, which is not a volume of class ${spcName} (driver ${driverName})`,
    );
  }
  return volumeName;
}
