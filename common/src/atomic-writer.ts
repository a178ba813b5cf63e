// Writes a payload into a volume so that readers never see a half-written set of files: the same
// layout as Kubernetes Secret volumes. The files go to a fresh hidden folder `..<time>.<random>`,
// `..data` is a symlink to it swapped in one rename, and each visible name is a symlink through
// `..data`. Unchanged payloads are not rewritten, only their visible names checked. Used by the
// driver, and by the AWS provider when it writes the files itself.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { GROUP_READ, GROUP_SEARCH } from './file-ownership';
import type { PayloadFile } from './payload';
import { DATA_DIR_LINK, DATA_DIR_TMP_LINK, isWriterName, validatePayload } from './payload';

function timestampName(now: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_` +
    `${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`
  );
}

const NAME_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A new payload folder, 0755 (mkdtemp's name, not its 0700). Made with its mode, never chmod'ed:
 * in a volume mounted for a group (setgid, our driver's) it inherits the group and the setgid bit,
 * so that what is created inside is the group's from the start and the chowns after change
 * nothing, which a writer without CAP_CHOWN may do (the AWS provider, root with every capability
 * dropped, as its chart runs it). A chmod by a process outside that group and without CAP_FSETID
 * clears the setgid bit: the files were then root's and the provider's chown failed (EPERM).
 */
function makePayloadDir(targetDir: string, now: Date): string {
  for (let attempt = 0; ; attempt++) {
    const suffix = Array.from(crypto.randomBytes(6), (b) => NAME_CHARS[b % NAME_CHARS.length]).join('');
    const dir = path.join(targetDir, `${timestampName(now)}${suffix}`);
    try {
      fs.mkdirSync(dir, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 10) throw err;
      continue;
    }
    // Only under a umask that took some of 0755's bits (the programs run with 022).
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o777) !== 0o755) fs.chmodSync(dir, (mode & 0o7000) | 0o755);
    return dir;
  }
}

function readLinkOrUndefined(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL') return undefined;
    throw err;
  }
}

/** Every regular file below `dir`, as paths relative to it. */
function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** The mode a file gets: its own, plus read for the owning group when one is given. */
function effectiveMode(file: PayloadFile, group: number | undefined): number {
  return group === undefined ? file.mode : file.mode | GROUP_READ;
}

/** True when `dir` holds exactly these files with these modes, group (when given) and contents. */
function holdsPayload(dir: string, files: readonly PayloadFile[], group: number | undefined): boolean {
  let existing: string[];
  try {
    existing = listFiles(dir);
  } catch {
    return false;
  }
  const wanted = files.map((f) => f.path).sort();
  if (existing.length !== wanted.length || existing.some((p, i) => p !== wanted[i])) return false;
  return files.every((file) => {
    const full = path.join(dir, file.path);
    const stat = fs.lstatSync(full);
    return (
      (stat.mode & 0o777) === effectiveMode(file, group) &&
      (group === undefined || stat.gid === group) &&
      stat.size === file.contents.length &&
      fs.readFileSync(full).equals(file.contents)
    );
  });
}

const topLevel = (p: string): string => p.split('/')[0] as string;

/**
 * Makes the volume's top level show exactly the payload behind `..data`: a symlink through `..data`
 * for each top-level name, no links of earlier payloads, no payload folder but `currentDirName`.
 * Entries the writer did not make (plain files of another writer) stay.
 */
function settleNames(targetDir: string, files: readonly PayloadFile[], currentDirName: string): void {
  const wantedNames = new Set(files.map((f) => topLevel(f.path)));
  for (const name of wantedNames) {
    const visible = path.join(targetDir, name);
    const target = path.join(DATA_DIR_LINK, name);
    if (readLinkOrUndefined(visible) === target) continue;
    fs.rmSync(visible, { recursive: true, force: true });
    fs.symlinkSync(target, visible);
  }
  for (const entry of fs.readdirSync(targetDir, { withFileTypes: true })) {
    const name = entry.name;
    if (name === DATA_DIR_LINK || name === currentDirName || wantedNames.has(name)) continue;
    if (isWriterName(name)) {
      // Payload folders of earlier writes, including leftovers of an interrupted one.
      fs.rmSync(path.join(targetDir, name), { recursive: true, force: true });
    } else if (entry.isSymbolicLink()) {
      // A name of an earlier payload that this one no longer has.
      if (readLinkOrUndefined(path.join(targetDir, name))?.startsWith(`${DATA_DIR_LINK}/`))
        fs.unlinkSync(path.join(targetDir, name));
    }
  }
}

export interface WriteOptions {
  /**
   * The group that owns the files and folders (the pod's fsGroup or the class's fileGroup): each
   * file's mode gains group read, folders group search, and `targetDir` itself follows, so that
   * members of the group can read the files whatever their modes say about others.
   */
  group?: number;
  /** The time in the payload folder's name. */
  now?: Date;
}

/** Gives `dir` to `group` and lets its members list and enter it; no-op when it already does. */
function openToGroup(dir: string, group: number): void {
  const stat = fs.statSync(dir);
  if (stat.gid !== group) fs.chownSync(dir, -1, group);
  if ((stat.mode & GROUP_SEARCH) !== GROUP_SEARCH) fs.chmodSync(dir, (stat.mode & 0o7777) | GROUP_SEARCH);
}

export interface WriteOutcome {
  /**
   * False when the volume already held exactly this payload: no file was rewritten (missing visible
   * names were put back).
   */
  changed: boolean;
}

/**
 * Writes `files` into `targetDir` atomically. Throws PayloadError for a bad payload before
 * touching the folder; on any later failure the previous contents stay visible and the new
 * payload folder is removed.
 *
 * Synchronous on purpose: the target is a tmpfs, where each call takes microseconds, less than
 * a round trip through the thread pool; the whole write stays well under a millisecond, and no
 * other write to the same volume can interleave with it.
 */
export function writePayload(
  targetDir: string,
  files: readonly PayloadFile[],
  options: WriteOptions = {},
): WriteOutcome {
  const { group, now = new Date() } = options;
  validatePayload(files);
  // Before anything else: a volume shared with a group must stay open to it on every write.
  if (group !== undefined) openToGroup(targetDir, group);
  const dataLink = path.join(targetDir, DATA_DIR_LINK);
  const oldDirName = readLinkOrUndefined(dataLink);
  if (oldDirName !== undefined && holdsPayload(path.join(targetDir, oldDirName), files, group)) {
    // The payload is there, but a visible name may have gone (removed by hand, or a write stopped
    // between the swap and the links): without it the pod would not see the file.
    settleNames(targetDir, files, oldDirName);
    return { changed: false };
  }

  const newDir = makePayloadDir(targetDir, now);
  const newDirName = path.basename(newDir);
  const tmpLink = path.join(targetDir, DATA_DIR_TMP_LINK);
  try {
    for (const file of files) {
      const full = path.join(newDir, file.path);
      const mode = effectiveMode(file, group);
      if (file.path.includes('/')) fs.mkdirSync(path.dirname(full), { recursive: true, mode: 0o755 });
      fs.writeFileSync(full, file.contents, { mode, flag: 'wx' });
      // The process umask may have cleared bits of the requested mode.
      fs.chmodSync(full, mode);
      if (group !== undefined) fs.chownSync(full, -1, group);
    }
    if (group !== undefined) {
      // Folders are 0755, so searching them needs no group bit; the group owns them all the same.
      fs.chownSync(newDir, -1, group);
      for (const entry of fs.readdirSync(newDir, { recursive: true, withFileTypes: true }))
        if (entry.isDirectory()) fs.chownSync(path.join(entry.parentPath, entry.name), -1, group);
    }
    fs.rmSync(tmpLink, { force: true });
    fs.symlinkSync(newDirName, tmpLink);
    fs.renameSync(tmpLink, dataLink);
  } catch (err) {
    fs.rmSync(tmpLink, { force: true });
    fs.rmSync(newDir, { recursive: true, force: true });
    throw err;
  }

  // The swap is done: from here on readers see the new payload.
  settleNames(targetDir, files, newDirName);
  return { changed: true };
}
