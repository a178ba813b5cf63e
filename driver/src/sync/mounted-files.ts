// The files of a pod's mounted volume, as read for a synced Secret: never a file outside the mount,
// and with the time the files read last changed, which decides between pods that disagree
// (secret-plan.ts). The driver rewrites a volume's files only when their contents change, so that
// time is when this pod's mount last saw new contents.
import fs from 'node:fs';
import path from 'node:path';

import { SyncError } from './secret-data';

export class MountedFiles {
  private readonly root: string;
  private newest = 0;

  constructor(private readonly targetPath: string) {
    this.root = fs.realpathSync(targetPath);
  }

  /** Reads a file by its path relative to the mount; throws when missing or outside it. */
  read = (relativePath: string): Buffer => {
    const real = fs.realpathSync(path.join(this.targetPath, relativePath));
    if (!real.startsWith(`${this.root}/`)) throw new SyncError(`${relativePath} resolves outside the mount`);
    // One open file for the time and the contents: a rotation in between cannot pair them wrongly.
    const fd = fs.openSync(real, 'r');
    try {
      this.newest = Math.max(this.newest, Math.floor(fs.fstatSync(fd).mtimeMs));
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  };

  /** When the files read since the last call last changed (ms since the epoch); starts over. */
  takeChangedAt(): number {
    const newest = this.newest;
    this.newest = 0;
    return newest;
  }
}
