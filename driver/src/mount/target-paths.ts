// The target path of a pod's volume on the node: what is there (nothing mounted, a mount without
// files, a filled mount), a fresh tmpfs mounted for a first publish (and taken back if the publish
// fails), and the clean-up of an unpublish. Only folders the driver made are removed, and a
// target that is itself a symlink is never followed (its parents' are, as by mount(2)).
import type { Logger } from '@sscsi/common';
import fs from 'node:fs/promises';
import path from 'node:path';

import { DriverError } from '../errors';
import { showsFiles } from '../files/volume-contents';
import type { Mounter } from './mounter';

/**
 * `unmounted`: a first publish; `empty`: mounted but showing no files (the driver stopped between
 * mount and write, or a failed publish could not unmount); `filled`: a republish.
 */
export type TargetState = 'unmounted' | 'empty' | 'filled';

/** Unmounts of one target tried at most: mounts stacked by earlier failures, not an endless loop. */
const MAX_STACKED_MOUNTS = 8;

const within = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
const succeeds = (call: Promise<unknown>): Promise<boolean> => call.then(() => true).catch(() => false);

/**
 * The first folder on the way to `targetPath` that is not there: what a recursive mkdir of it
 * makes first, or undefined when the target is there already.
 */
async function firstMissing(targetPath: string): Promise<string | undefined> {
  let missing: string | undefined;
  for (let dir = targetPath; ; dir = path.dirname(dir)) {
    // Any failure to look (a name too long) means that mkdir would have to make it.
    if (await succeeds(fs.stat(dir))) return missing;
    missing = dir;
    if (dir === path.dirname(dir)) return missing;
  }
}

/** rmdir failures that mean a folder is in use: it, and the folders above it, stay. */
const IN_USE = new Set(['ENOTEMPTY', 'EEXIST', 'EBUSY']);

/**
 * Removes the folders a publish made for `targetPath` (`firstMade` and those below it on the way
 * to the target), deepest first, while they are empty: a folder another publish uses meanwhile
 * stays. Those that are not there (mkdir failed before making them) are passed over.
 */
async function removeMadeFolders(targetPath: string, firstMade: string | undefined): Promise<void> {
  if (firstMade === undefined) return;
  for (let dir = targetPath; within(dir, firstMade); dir = path.dirname(dir)) {
    try {
      await fs.rmdir(dir);
    } catch (err) {
      if (IN_USE.has((err as NodeJS.ErrnoException).code ?? '')) return;
    }
  }
}

export class TargetPaths {
  constructor(
    private readonly mounter: Mounter,
    private readonly logger: Logger,
  ) {}

  /**
   * What is at the target. A target that is itself a symlink is refused: mounting through it would
   * put the volume, and the pod's secrets, wherever it points (another pod's volume, a host
   * folder). The kubelet makes a folder or nothing there; the symlinks of its parents (a kubelet
   * root that is a symlink) are followed, as mount(2) does.
   */
  async state(targetPath: string): Promise<TargetState> {
    // Any failure to look (a path too long) is the mount check's to report.
    if ((await fs.lstat(targetPath).catch(() => undefined))?.isSymbolicLink()) {
      throw new DriverError(
        'InvalidRequest',
        `target path ${targetPath} is a symlink: a volume is mounted on a folder, never through a link`,
      );
    }
    let mounted: boolean;
    try {
      mounted = await this.mounter.isMountPoint(targetPath);
    } catch (err) {
      throw new DriverError(
        'FailedToEnsureMountPoint',
        `cannot tell whether ${targetPath} is mounted: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!mounted) return 'unmounted';
    try {
      return (await showsFiles(targetPath)) ? 'filled' : 'empty';
    } catch (err) {
      throw new DriverError(
        'FailedToEnsureMountPoint',
        `cannot read the mounted volume ${targetPath}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /**
   * Creates the folder if needed and mounts a fresh tmpfs on it, its root given to `group` when
   * set. Returns what takes it back after a failed publish: the unmount, and the folders made
   * here (the target's, and any parent the kubelet had not made). A failure to mount leaves
   * nothing behind itself.
   */
  async mountTmpfs(targetPath: string, group: number | undefined): Promise<() => Promise<void>> {
    // Known before mkdir: a mkdir that fails half-way (a name too long) has made folders too.
    const firstMade = await firstMissing(targetPath);
    try {
      await fs.mkdir(targetPath, { recursive: true, mode: 0o750 });
      await this.mounter.mountTmpfs(targetPath, group === undefined ? undefined : { gid: group });
    } catch (err) {
      await removeMadeFolders(targetPath, firstMade);
      throw new DriverError(
        'FailedToMount',
        `failed to mount tmpfs at ${targetPath}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return async () => {
      await this.mounter
        .unmount(targetPath)
        .catch((err: unknown) =>
          this.logger.error(
            { targetPath, err: (err as Error).message },
            'failed to unmount after a failed publish',
          ),
        );
      await removeMadeFolders(targetPath, firstMade);
    };
  }

  /**
   * An unpublish: unmounts (every stacked mount) and removes the folder, which must then be empty,
   * as upstream's: anything else in it is not the driver's (the tmpfs took the volume's files
   * with it), and removing it could reach into another volume (a call naming a pod's folder) or
   * orphan one reached through a symlink in it. Nothing there is no error: unpublish is
   * idempotent. A target that is a symlink is unlinked, never followed.
   */
  async cleanUp(targetPath: string): Promise<void> {
    let stat;
    try {
      stat = await fs.lstat(targetPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new DriverError('FailedToUnmount', `cannot inspect ${targetPath}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (stat.isSymbolicLink()) {
      await fs.unlink(targetPath);
      return;
    }
    try {
      for (let i = 0; i < MAX_STACKED_MOUNTS && (await this.mounter.isMountPoint(targetPath)); i++)
        await this.mounter.unmount(targetPath);
      const left = await fs.readdir(targetPath);
      if (left.length > 0) {
        const names = left
          .sort()
          .slice(0, 3)
          .map((n) => JSON.stringify(n));
        throw new Error(
          `it still holds ${names.join(', ')}${left.length > 3 ? ', ...' : ''} once unmounted; only an empty folder is removed`,
        );
      }
      await fs.rmdir(targetPath);
    } catch (err) {
      throw new DriverError(
        'FailedToUnmount',
        `failed to clean up ${targetPath}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
