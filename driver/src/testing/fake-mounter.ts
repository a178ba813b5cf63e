// For unit tests: a Mounter over plain folders that remembers what is "mounted", and that empties a
// folder on unmount as a real tmpfs unmount does. Stacked mounts count, as on a real node.
import fs from 'node:fs';
import path from 'node:path';

import type { Mounter, TmpfsOwner } from '../mount/mounter';

export class FakeMounter implements Mounter {
  /** How many mounts are stacked on each target. */
  private readonly stacks = new Map<string, number>();
  /** The group each tmpfs root was given, by target. */
  readonly owners = new Map<string, TmpfsOwner | undefined>();
  /** When set, the next call of this kind fails with it. */
  failNext?: { call: 'mountTmpfs' | 'unmount' | 'isMountPoint'; error: Error };

  /** The targets with something mounted on them. */
  get mounted(): ReadonlySet<string> {
    return new Set(this.stacks.keys());
  }

  /** How many mounts are stacked on `target`. */
  depth(target: string): number {
    return this.stacks.get(target) ?? 0;
  }

  /** Mounts on `target` without filling it: what an earlier, interrupted publish left. */
  stack(target: string, count = 1): void {
    this.stacks.set(target, (this.stacks.get(target) ?? 0) + count);
  }

  async mountTmpfs(target: string, owner?: TmpfsOwner): Promise<void> {
    this.fault('mountTmpfs');
    if (!fs.statSync(target).isDirectory()) throw new Error(`${target} is not a folder`);
    this.stack(target);
    this.owners.set(target, owner);
  }

  async unmount(target: string): Promise<void> {
    this.fault('unmount');
    const count = this.stacks.get(target) ?? 0;
    if (count === 0) throw new Error(`umount: ${target}: not mounted`);
    if (count === 1) this.stacks.delete(target);
    else this.stacks.set(target, count - 1);
    // What a real unmount does to a tmpfs: its files go away with it.
    for (const entry of fs.readdirSync(target))
      fs.rmSync(path.join(target, entry), { recursive: true, force: true });
  }

  async isMountPoint(target: string): Promise<boolean> {
    this.fault('isMountPoint');
    return this.stacks.has(target);
  }

  private fault(call: 'mountTmpfs' | 'unmount' | 'isMountPoint'): void {
    if (this.failNext?.call !== call) return;
    const { error } = this.failNext;
    this.failNext = undefined;
    throw error;
  }
}
