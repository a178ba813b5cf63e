// Who may read a volume's files besides root: the group that owns them (a pod's fsGroup, or a
// class's explicit fileGroup) and the mode of files whose object names none. Parsed here once, for
// the driver (which writes files and mounts the tmpfs) and for the AWS provider (which writes them
// itself in provider-writes mode), so that both accept and refuse the same values.

/** SecretProviderClass parameters (or pod volumeAttributes) of ours about file ownership. */
export const FileOwnershipAttr = {
  /** Decimal group ID that owns the files; overrides the pod's fsGroup. */
  fileGroup: 'fileGroup',
  /** Four octal digits: the mode of files whose object sets no permission of its own. */
  defaultFilePermission: 'defaultFilePermission',
} as const;

/** Kubernetes' own bound for fsGroup and runAsGroup (a 32-bit signed ID, never negative). */
export const MAX_GROUP_ID = 2_147_483_647;

/** Bits a group member needs: read on files; read and search on folders. */
export const GROUP_READ = 0o040;
export const GROUP_SEARCH = 0o050;

export class FileOwnershipError extends Error {
  override name = 'FileOwnershipError';
}

/**
 * A group ID given as decimal text (`fileGroup`, or the kubelet's volume_mount_group). `what` names
 * the setting in the error. Only plain digits: a name, a sign, spaces or an exponent are refused
 * rather than guessed at, since a wrong group would hide the files from the pod.
 */
export function parseGroupId(raw: string, what: string): number {
  if (!/^\d{1,10}$/.test(raw) || Number(raw) > MAX_GROUP_ID) {
    throw new FileOwnershipError(
      `${what} must be a numeric group ID from 0 to ${MAX_GROUP_ID}, got ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

/** A file mode as four octal digits from 0000 to 0777 (the notation of the AWS provider's filePermission). */
export function parseFileMode(raw: string, what: string): number {
  if (!/^0[0-7]{3}$/.test(raw)) {
    throw new FileOwnershipError(
      `${what} must be four octal digits from 0000 to 0777, such as "0440", got ${JSON.stringify(raw)}`,
    );
  }
  return parseInt(raw, 8);
}

/** The group in `attributes` (fileGroup), if set; an empty value counts as unset. */
export function fileGroupOf(attributes: Readonly<Record<string, string | undefined>>): number | undefined {
  const raw = attributes[FileOwnershipAttr.fileGroup];
  return raw === undefined || raw === '' ? undefined : parseGroupId(raw, FileOwnershipAttr.fileGroup);
}

/** The default file mode in `attributes` (defaultFilePermission), if set. */
export function defaultFileModeOf(
  attributes: Readonly<Record<string, string | undefined>>,
): number | undefined {
  const raw = attributes[FileOwnershipAttr.defaultFilePermission];
  return raw === undefined || raw === ''
    ? undefined
    : parseFileMode(raw, FileOwnershipAttr.defaultFilePermission);
}
