// Who owns a volume's files and which mode they get when their object names none. The group comes
// from, in order: the pod's volumeAttributes `fileGroup`, the class's `fileGroup`, then the pod's
// fsGroup (the kubelet sends it as volume_mount_group, since the driver advertises
// VOLUME_MOUNT_GROUP). The kubelet never changes the group of a read-only CSI volume itself, and
// secrets-store volumes are always read-only: without this, files stay root:root. Pure, so that
// the linter (lint/) refuses exactly what a mount would.
import { defaultFileModeOf, fileGroupOf, FileOwnershipError } from '@sscsi/common';

import { DriverError } from '../errors';

/** Mode of files whose object asks for none, unless the class says otherwise: 0644, as upstream. */
export const DEFAULT_FILE_PERMISSION = 0o644;

export interface VolumeOwnership {
  /** The group that owns the files and the tmpfs root, or undefined for root's group (upstream's). */
  group: number | undefined;
  /** The `permission` sent to the provider: the mode of files whose object sets none. */
  defaultMode: number;
}

/** Parses `read`, turning a bad value into the driver error of the place it came from. */
function checked<T>(read: () => T, where: 'class' | 'pod', className: string): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof FileOwnershipError)) throw err;
    if (where === 'pod')
      throw new DriverError('InvalidRequest', `volume attribute ${err.message}`, { cause: err });
    throw new DriverError('InvalidSecretProviderClass', `SecretProviderClass ${className}: ${err.message}`, {
      cause: err,
    });
  }
}

/**
 * The ownership of a volume's files. `className` (namespace/name) names the class in errors;
 * `volumeMountGroup` is the pod's fsGroup as the kubelet sent it, already parsed.
 */
export function volumeOwnership(
  classParameters: Readonly<Record<string, string>> | undefined,
  volumeContext: Readonly<Record<string, string>>,
  volumeMountGroup: number | undefined,
  className: string,
): VolumeOwnership {
  const parameters = classParameters ?? {};
  const group =
    checked(() => fileGroupOf(volumeContext), 'pod', className) ??
    checked(() => fileGroupOf(parameters), 'class', className) ??
    volumeMountGroup;
  const defaultMode =
    checked(() => defaultFileModeOf(volumeContext), 'pod', className) ??
    checked(() => defaultFileModeOf(parameters), 'class', className) ??
    DEFAULT_FILE_PERMISSION;
  return { group, defaultMode };
}
