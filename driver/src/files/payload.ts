// What a provider asks the driver to write, checked before a single byte reaches the volume.

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

const MAX_PATH_LENGTH = 4096;
const MAX_ELEMENT_LENGTH = 255;

/**
 * Rejects any path that could leave the mount or clash with the writer's own entries: absolute,
 * unclean (`a//b`, `./a`, `a/`), containing a `..` element, starting with `..` (the writer's
 * hidden names), or too long. The message names the path but never the contents.
 */
export function validatePayloadPath(path: string): void {
  if (path === '') throw new PayloadError('file path is empty');
  if (path.includes('\0')) throw new PayloadError(`file path ${JSON.stringify(path)} contains a NUL byte`);
  if (path.length > MAX_PATH_LENGTH)
    throw new PayloadError(`file path is longer than ${MAX_PATH_LENGTH} characters`);
  if (path.startsWith('/')) throw new PayloadError(`file path ${JSON.stringify(path)} is absolute`);
  if (path.startsWith('..')) throw new PayloadError(`file path ${JSON.stringify(path)} starts with ".."`);
  for (const element of path.split('/')) {
    if (element === '' || element === '.')
      throw new PayloadError(`file path ${JSON.stringify(path)} is not clean`);
    if (element === '..') throw new PayloadError(`file path ${JSON.stringify(path)} contains ".."`);
    if (element.length > MAX_ELEMENT_LENGTH) {
      throw new PayloadError(
        `file path ${JSON.stringify(path)} has an element longer than ${MAX_ELEMENT_LENGTH}`,
      );
    }
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
