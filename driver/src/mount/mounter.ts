// Where a volume's tmpfs is mounted and unmounted. The Mounter interface keeps the node server's
// logic testable; SystemMounter runs the `mount` and `umount` programs and reads mountinfo.
import { spawn } from 'node:child_process';
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

/** Runs a mount program. Only stderr is piped (for the error message): fewer pipes, faster spawn. */
function run(program: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) =>
      reject(new MountError(`${program} ${args.join(' ')}: ${err.message}`, { cause: err })),
    );
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const why = stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`);
      reject(new MountError(`${program} ${args.join(' ')}: ${why}`));
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
