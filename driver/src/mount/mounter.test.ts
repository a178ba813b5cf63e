// Both mounters against the kernel: real tmpfs mounts in a temporary folder, checked in
// /proc/self/mountinfo. Mounting needs root (make test runs as root, like the driver's container).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Mounter } from './mounter';
import {
  decodeMountinfoField,
  MountError,
  mountPointsOf,
  ProgramMounter,
  SyscallMounter,
  systemMounter,
} from './mounter';

function fsTypeAt(target: string): string | undefined {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[4] && decodeMountinfoField(fields[4]) === target) return fields[fields.indexOf('-') + 1];
  }
  return undefined;
}

describe('mountinfo parsing', () => {
  it('reads mount points and decodes the octal escapes of spaces, tabs and backslashes', () => {
    const info = [
      '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      '97 22 0:50 / /var/lib/kubelet/pods/a\\040b/volumes/x\\011y\\134z rw shared:2 - tmpfs tmpfs rw',
      '',
    ].join('\n');
    expect(mountPointsOf(info)).toEqual(['/', '/var/lib/kubelet/pods/a b/volumes/x\ty\\z']);
  });
});

describe.each([
  ['SyscallMounter', () => SyscallMounter.load()],
  ['ProgramMounter', () => new ProgramMounter()],
])('%s', (_name, make: () => Mounter) => {
  let dir: string;
  let mounter: Mounter;

  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error('mount tests need root (the driver runs as root too)');
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mounter-'));
    mounter = make();
  });

  afterEach(async () => {
    const target = path.join(dir, 'mount');
    for (let i = 0; i < 4 && (await mounter.isMountPoint(target)); i++) await mounter.unmount(target);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('mounts a tmpfs that holds files, and unmounts it leaving the empty folder', async () => {
    const target = path.join(dir, 'mount');
    fs.mkdirSync(target);
    expect(await mounter.isMountPoint(target)).toBe(false);
    await mounter.mountTmpfs(target);
    expect(await mounter.isMountPoint(target)).toBe(true);
    expect(fsTypeAt(target)).toBe('tmpfs');
    fs.writeFileSync(path.join(target, 'secret'), 'value');
    await mounter.unmount(target);
    expect(await mounter.isMountPoint(target)).toBe(false);
    // The file lived on the tmpfs only.
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it('names the target and the reason when the folder does not exist', async () => {
    const target = path.join(dir, 'missing');
    const err = await mounter.mountTmpfs(target).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MountError);
    expect((err as Error).message).toContain(target);
    expect((err as Error).message).toMatch(/no such file or directory|does not exist/i);
    expect(fs.existsSync(target)).toBe(false);
  });

  it('fails to unmount a folder where nothing is mounted, naming it', async () => {
    const target = path.join(dir, 'mount');
    fs.mkdirSync(target);
    await expect(mounter.unmount(target)).rejects.toThrow(target);
  });
});

describe('systemMounter', () => {
  it('uses the system call where libc loads, as on every glibc node', () => {
    const { method, fallbackReason } = systemMounter();
    expect(fallbackReason).toBeUndefined();
    expect(method).toBe('mount(2) system call');
  });
});
