// The target path of a pod's volume on the node: what is there (nothing mounted, a mount without
// files, a filled mount), a fresh tmpfs mounted for a first publish (and taken back if the publish
// fails), and the clean-up of an unpublish. Only folders the driver made are removed, and no
// symlink in a target path is ever followed.
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

export class TargetPaths {
  constructor(
    private readonly mounter: Mounter,
    private readonly logger: Logger,
  ) {}

  async state(targetPath: string): Promise<TargetState> {
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
   * set. Returns what takes it back after a failed publish: the unmount, and the folder if it was
   * made here. A failure to mount leaves nothing behind itself.
   */
  async mountTmpfs(targetPath: string, group: number | undefined): Promise<() => Promise<void>> {
    let createdDir = false;
    try {
      createdDir = (await fs.mkdir(targetPath, { recursive: true, mode: 0o750 })) !== undefined;
      await this.mounter.mountTmpfs(targetPath, group === undefined ? undefined : { gid: group });
    } catch (err) {
      if (createdDir) await fs.rmdir(targetPath).catch(() => undefined);
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
      if (createdDir) await fs.rmdir(targetPath).catch(() => undefined);
    };
  }

  /**
   * An unpublish: unmounts (every stacked mount), removes what is left without following
   * symlinks, removes the folder. Nothing there is no error: unpublish is idempotent.
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
      for (const entry of await fs.readdir(targetPath)) {
        await fs.rm(path.join(targetPath, entry), { recursive: true, force: true });
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
