// Where a volume's tmpfs is mounted and unmounted. The Mounter interface keeps the node server's
// logic testable; SystemMounter runs the `mount` and `umount` programs and reads mountinfo.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Mounter {
  /** Mounts a fresh tmpfs at `target`, which must exist. */
  mountTmpfs(target: string): Promise<void>;
  unmount(target: string): Promise<void>;
  /** True when something is mounted exactly at `target`. */
  isMountPoint(target: string): Promise<boolean>;
}

export class MountError extends Error {
  override name = 'MountError';
}

function run(program: string, args: string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { timeout: 30_000, signal }, (err, _stdout, stderr) => {
      if (err)
        reject(
          new MountError(`${program} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, {
            cause: err,
          }),
        );
      else resolve();
    });
  });
}

/** Decodes the octal escapes (`\040` for a space) of a mountinfo field. */
export function decodeMountinfoField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mount points listed in a mountinfo text (5th field of each line). */
export function mountPointsOf(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.push(decodeMountinfoField(field));
  }
  return points;
}

export class SystemMounter implements Mounter {
  constructor(private readonly mountinfoPath = '/proc/self/mountinfo') {}

  async mountTmpfs(target: string): Promise<void> {
    await run('mount', ['-t', 'tmpfs', 'tmpfs', target]);
  }

  async unmount(target: string): Promise<void> {
    await run('umount', [target]);
  }

  async isMountPoint(target: string): Promise<boolean> {
    const wanted = path.resolve(target);
    const points = mountPointsOf(await fs.readFile(this.mountinfoPath, 'utf8'));
    return points.includes(wanted);
  }
}
