// Where a volume's tmpfs is mounted and unmounted. The Mounter interface keeps the node server's
// logic testable. SyscallMounter calls mount(2) and umount2(2) in libc; ProgramMounter runs the
// `mount` and `umount` programs, as upstream does, where libc cannot be loaded. Both tell a mount
// point by its device number, as mount(2) and umount(2) see the path: through any symlink.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import util from 'node:util';

/** The tmpfs root's owning group, when the files are shared with one (fsGroup or fileGroup). */
export interface TmpfsOwner {
  gid: number;
}

export interface Mounter {
  /** Mounts a fresh tmpfs at `target`, which must exist; its root given to `owner.gid` when set. */
  mountTmpfs(target: string, owner?: TmpfsOwner): Promise<void>;
  unmount(target: string): Promise<void>;
  /** True when something is mounted at `target` (symlinks on the way followed, as mount(2) does). */
  isMountPoint(target: string): Promise<boolean>;
}

export class MountError extends Error {
  override name = 'MountError';
}

/**
 * tmpfs options for a volume shared with a group: the root belongs to the group, which may list and
 * enter it; setgid, so that anything created in it (a provider writing files itself) takes the
 * group too. Without a group no option is given, as upstream (the kernel's default, 1777).
 */
export function tmpfsOptions(owner?: TmpfsOwner): string | undefined {
  return owner ? `mode=2755,gid=${owner.gid}` : undefined;
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

/**
 * True when `target` is the root of a mounted file system: its device differs from its parent's, or
 * it is its own parent (`/`). Mountinfo lists the path the mount was made through, so comparing its
 * strings misses a mount reached through a symlink (a kubelet root that is a symlink) and a
 * republish would stack a second tmpfs. Every mount this driver makes is a tmpfs, a device of its
 * own, so a bind mount within one device (which this test cannot see) never happens here.
 */
export async function isMountPoint(target: string): Promise<boolean> {
  let real: string;
  try {
    real = await fs.realpath(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const [self, parent] = await Promise.all([fs.stat(real), fs.stat(path.dirname(real))]);
  return self.dev !== parent.dev || self.ino === parent.ino;
}

/** Runs the `mount` and `umount` programs: a process per call (about 4 ms each on a small node). */
export class ProgramMounter implements Mounter {
  readonly method = 'mount program';

  async mountTmpfs(target: string, owner?: TmpfsOwner): Promise<void> {
    const options = tmpfsOptions(owner);
    await run('mount', ['-t', 'tmpfs', ...(options ? ['-o', options] : []), 'tmpfs', target]);
  }

  async unmount(target: string): Promise<void> {
    await run('umount', [target]);
  }

  isMountPoint(target: string): Promise<boolean> {
    return isMountPoint(target);
  }
}

/** The two libc functions SyscallMounter calls, and the errno they leave. */
interface LibcMounts {
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  errno(): number;
}

/** The part of koffi's API used here (koffi is loaded with require, so that a missing module falls back). */
interface Koffi {
  load(path: string): { func(declaration: string): (...args: unknown[]) => unknown };
  errno(): number;
}

/** "ENOENT (No such file or directory)" for an errno value. */
function describeErrno(errno: number): string {
  try {
    return `${util.getSystemErrorName(-errno)} (${util.getSystemErrorMessage(-errno)})`;
  } catch {
    return `errno ${errno}`;
  }
}

/**
 * Calls mount(2) and umount2(2) through libc: the same tmpfs mount as `mount -t tmpfs tmpfs
 * <target>` (no flags; options only for a group), in tens of microseconds instead of a process start.
 */
export class SyscallMounter implements Mounter {
  readonly method = 'mount(2) system call';

  private constructor(private readonly libc: LibcMounts) {}

  /** Loads libc through koffi (a prebuilt FFI module); throws where that is not possible. */
  static load(): SyscallMounter {
    const koffi = createRequire(__filename)('koffi') as Koffi;
    const libc = koffi.load('libc.so.6');
    const mount = libc.func(
      'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
    );
    const umount2 = libc.func('int umount2(const char *target, int flags)');
    return new SyscallMounter({
      mount: (source, target, fstype, flags, data) => mount(source, target, fstype, flags, data) as number,
      umount2: (target, flags) => umount2(target, flags) as number,
      errno: () => koffi.errno(),
    });
  }

  mountTmpfs(target: string, owner?: TmpfsOwner): Promise<void> {
    if (this.libc.mount('tmpfs', target, 'tmpfs', 0, tmpfsOptions(owner) ?? null) !== 0)
      return Promise.reject(new MountError(`mount tmpfs on ${target}: ${describeErrno(this.libc.errno())}`));
    return Promise.resolve();
  }

  unmount(target: string): Promise<void> {
    if (this.libc.umount2(target, 0) !== 0)
      return Promise.reject(new MountError(`umount ${target}: ${describeErrno(this.libc.errno())}`));
    return Promise.resolve();
  }

  isMountPoint(target: string): Promise<boolean> {
    return isMountPoint(target);
  }
}

/** The system call mounter when libc can be loaded, else the programs; says which in `method`. */
export function systemMounter(): { mounter: Mounter; method: string; fallbackReason?: string } {
  try {
    const mounter = SyscallMounter.load();
    return { mounter, method: mounter.method };
  } catch (err) {
    const mounter = new ProgramMounter();
    return { mounter, method: mounter.method, fallbackReason: (err as Error).message };
  }
}
