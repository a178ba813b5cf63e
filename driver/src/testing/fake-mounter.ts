// For unit tests: mounts kept in memory over real folders. An unmount empties the folder, as the
// end of a tmpfs does, so tests see what a failed publish leaves behind.
import fs from 'node:fs';
import path from 'node:path';

import type { Mounter, TmpfsOwner } from '../mount/mounter';

export class FakeMounter implements Mounter {
  readonly mounted = new Set<string>();
  /** The group each tmpfs root was given, by target. */
  readonly owners = new Map<string, TmpfsOwner | undefined>();
  async mountTmpfs(target: string, owner?: TmpfsOwner) {
    this.mounted.add(target);
    this.owners.set(target, owner);
  }
  async unmount(target: string) {
    this.mounted.delete(target);
    // What a real unmount does to a tmpfs: its files go away with it.
    for (const entry of fs.readdirSync(target))
      fs.rmSync(path.join(target, entry), { recursive: true, force: true });
  }
  async isMountPoint(target: string) {
    return this.mounted.has(target);
  }
}
