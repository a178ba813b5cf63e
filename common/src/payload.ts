// What goes into a volume, checked before a single byte reaches it: paths that stay inside the
// mount, valid modes, no two files on one path. Shared by the driver (files a provider returns)
// and the AWS provider (files it writes itself when the driver does not).

export interface PayloadFile {
  /** Relative, clean path inside the mount. */
  path: string;
  /** Mode bits 0..0o777. */
  mode: number;
  contents: Buffer;
}

export class PayloadError extends Error {
  override name = 'PayloadError';
}

/** The symlink to the current payload folder. */
export const DATA_DIR_LINK = '..data';
/** The symlink made before it replaces DATA_DIR_LINK in one rename. */
export const DATA_DIR_TMP_LINK = '..data_tmp';
/** Payload folders: `..<UTC time>.<random>`, the same shape as Kubernetes Secret volumes. */
const PAYLOAD_DIR = /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\./;

/** The longest file path in a volume (Linux's PATH_MAX); the AWS provider's file names share it. */
export const MAX_PATH_LENGTH = 4096;
/** The longest name of one file or folder in a path (Linux's NAME_MAX). */
export const MAX_PATH_ELEMENT_LENGTH = 255;

/**
 * True for the top-level names the atomic writer keeps for itself. Other names starting with `..`
 * are ordinary files to it (upstream's AWS provider writes them when it writes the files itself).
 */
export function isWriterName(name: string): boolean {
  return name === DATA_DIR_LINK || name === DATA_DIR_TMP_LINK || PAYLOAD_DIR.test(name);
}

/**
 * Rejects any path that could leave the mount or clash with the writer's own entries: absolute,
 * unclean (`a//b`, `./a`, `a/`), containing a `..` element, a name the writer keeps for itself
 * (`..data`, `..data_tmp`, payload folders), or too long. The message names the path, never the
 * contents.
 */
export function validatePayloadPath(path: string): void {
  const quoted = JSON.stringify(path);
  if (path === '') throw new PayloadError('file path is empty');
  if (path.includes('\0')) throw new PayloadError(`file path ${quoted} contains a NUL byte`);
  if (path.length > MAX_PATH_LENGTH)
    throw new PayloadError(`file path is longer than ${MAX_PATH_LENGTH} characters`);
  if (path.startsWith('/')) throw new PayloadError(`file path ${quoted} is absolute`);
  const elements = path.split('/');
  for (const element of elements) {
    if (element === '..') throw new PayloadError(`file path ${quoted} contains ".."`);
    if (element === '' || element === '.') throw new PayloadError(`file path ${quoted} is not clean`);
    if (element.length > MAX_PATH_ELEMENT_LENGTH) {
      throw new PayloadError(`file path ${quoted} has an element longer than ${MAX_PATH_ELEMENT_LENGTH}`);
    }
  }
  if (isWriterName(elements[0] as string)) {
    throw new PayloadError(`file path ${quoted} is a name the volume keeps for its own entries`);
  }
}

export function validateMode(path: string, mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new PayloadError(`file ${JSON.stringify(path)} has mode ${mode}, outside 0..0777`);
  }
}

/**
 * Validates a whole payload: every path and mode, no duplicates, and no file that is also the folder
 * of another (`a` and `a/b`).
 */
export function validatePayload(files: readonly PayloadFile[]): void {
  const seen = new Set<string>();
  for (const file of files) {
    validatePayloadPath(file.path);
    validateMode(file.path, file.mode);
    if (seen.has(file.path)) throw new PayloadError(`file path ${JSON.stringify(file.path)} appears twice`);
    seen.add(file.path);
  }
  for (const file of files) {
    const parts = file.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (seen.has(parent)) {
        throw new PayloadError(
          `file path ${JSON.stringify(file.path)} is inside ${JSON.stringify(parent)}, which is a file`,
        );
      }
    }
  }
}
