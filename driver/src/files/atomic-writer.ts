// Writes a payload into a volume so that readers never see a half-written set of files: the same
// layout as Kubernetes Secret volumes. The files go to a fresh hidden folder `..<time>.<random>`,
// `..data` is a symlink to it swapped in one rename, and each visible name is a symlink through
// `..data`. Unchanged payloads are not rewritten.
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import type { PayloadFile } from './payload';
import { validatePayload } from './payload';

export const DATA_DIR_LINK = '..data';
const DATA_DIR_TMP_LINK = '..data_tmp';

function timestampName(now: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_` +
    `${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`
  );
}

async function readLinkOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await fs.readlink(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Every regular file below `dir`, as paths relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** True when `dir` holds exactly these files with these modes and contents. */
async function holdsPayload(dir: string, files: readonly PayloadFile[]): Promise<boolean> {
  let existing: string[];
  try {
    existing = await listFiles(dir);
  } catch {
    return false;
  }
  const wanted = files.map((f) => f.path).sort();
  if (existing.length !== wanted.length || existing.some((p, i) => p !== wanted[i])) return false;
  for (const file of files) {
    const full = path.join(dir, file.path);
    const stat = await fs.lstat(full);
    if ((stat.mode & 0o777) !== file.mode || stat.size !== file.contents.length) return false;
    if (!(await fs.readFile(full)).equals(file.contents)) return false;
  }
  return true;
}

const topLevel = (p: string): string => p.split('/')[0] as string;

export interface WriteOutcome {
  /** False when the volume already held exactly this payload and nothing was touched. */
  changed: boolean;
}

/**
 * Writes `files` into `targetDir` atomically. Throws PayloadError for a bad payload before
 * touching the folder; on any later failure the previous contents stay visible.
 */
export async function writePayload(
  targetDir: string,
  files: readonly PayloadFile[],
  now = new Date(),
): Promise<WriteOutcome> {
  validatePayload(files);
  const dataLink = path.join(targetDir, DATA_DIR_LINK);
  const oldDirName = await readLinkOrUndefined(dataLink);
  if (oldDirName !== undefined && (await holdsPayload(path.join(targetDir, oldDirName), files))) {
    return { changed: false };
  }

  const newDir = await fs.mkdtemp(path.join(targetDir, timestampName(now)));
  const newDirName = path.basename(newDir);
  try {
    await fs.chmod(newDir, 0o755);
    for (const file of files) {
      const full = path.join(newDir, file.path);
      await fs.mkdir(path.dirname(full), { recursive: true, mode: 0o755 });
      await fs.writeFile(full, file.contents, {
        mode: file.mode,
        flag: fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY,
      });
      // The process umask may have cleared bits of the requested mode.
      await fs.chmod(full, file.mode);
    }
    const tmpLink = path.join(targetDir, DATA_DIR_TMP_LINK);
    await fs.rm(tmpLink, { force: true });
    await fs.symlink(newDirName, tmpLink);
    await fs.rename(tmpLink, dataLink);
  } catch (err) {
    await fs.rm(newDir, { recursive: true, force: true });
    throw err;
  }

  // The swap is done: from here on readers see the new payload. Fix up the visible names.
  const wantedNames = new Set(files.map((f) => topLevel(f.path)));
  for (const name of wantedNames) {
    const visible = path.join(targetDir, name);
    const target = path.join(DATA_DIR_LINK, name);
    const current = await readLinkOrUndefined(visible).catch(() => undefined);
    if (current === target) continue;
    await fs.rm(visible, { recursive: true, force: true });
    await fs.symlink(target, visible);
  }
  for (const entry of await fs.readdir(targetDir, { withFileTypes: true })) {
    const name = entry.name;
    if (name.startsWith('..')) {
      // Payload folders of earlier writes, including leftovers of an interrupted one.
      if (name !== DATA_DIR_LINK && name !== newDirName)
        await fs.rm(path.join(targetDir, name), { recursive: true, force: true });
    } else if (!wantedNames.has(name) && entry.isSymbolicLink()) {
      const link = await readLinkOrUndefined(path.join(targetDir, name));
      if (link?.startsWith(`${DATA_DIR_LINK}/`)) await fs.unlink(path.join(targetDir, name));
    }
  }
  return { changed: true };
}
