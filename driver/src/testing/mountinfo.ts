// For tests against the kernel: its list of mounts, read from /proc/self/mountinfo rather than
// through the code under test.
import fs from 'node:fs';

export interface MountEntry {
  /** The mount point as the kernel shows it: symlinks resolved, octal escapes decoded. */
  mountPoint: string;
  fsType: string;
}

export function mountinfo(): MountEntry[] {
  const decode = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const fields = line.split(' ');
      return { mountPoint: decode(fields[4] ?? ''), fsType: fields[fields.indexOf('-') + 1] ?? '' };
    });
}

/** The mount points below `dir` (not `dir` itself), in the order they were mounted. */
export function mountsBelow(dir: string): string[] {
  return mountinfo()
    .map((m) => m.mountPoint)
    .filter((m) => m.startsWith(`${dir}/`));
}
