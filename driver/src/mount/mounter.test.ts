// Both mounters against the kernel: real tmpfs mounts in a temporary folder, checked against
// /proc/self/mountinfo. Mounting needs root (make test runs as root, like the driver's container).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { mountinfo, mountsBelow } from '../testing/mountinfo';
import type { Mounter } from './mounter';
import { MountError, ProgramMounter, SyscallMounter, systemMounter } from './mounter';

const fsTypeAt = (target: string) => mountinfo().find((m) => m.mountPoint === target)?.fsType;

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
    // Whatever a failed test left mounted below the folder, by mountinfo (not by the code under test).
    for (const mountPoint of mountsBelow(dir).reverse()) await mounter.unmount(mountPoint);
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

  it('without an owner, mounts the kernel default root (1777 root:root), as upstream', async () => {
    const target = path.join(dir, 'mount');
    fs.mkdirSync(target);
    await mounter.mountTmpfs(target);
    const root = fs.statSync(target);
    expect({ mode: root.mode & 0o7777, gid: root.gid }).toEqual({ mode: 0o1777, gid: 0 });
    await mounter.unmount(target);
  });

  it('with an owner, mounts a root of that group, setgid, that the group may enter', async () => {
    const target = path.join(dir, 'mount');
    fs.mkdirSync(target);
    await mounter.mountTmpfs(target, { gid: 2000 });
    const root = fs.statSync(target);
    expect({ mode: root.mode & 0o7777, uid: root.uid, gid: root.gid }).toEqual({
      mode: 0o2755,
      uid: 0,
      gid: 2000,
    });
    // setgid: what a provider creates there itself belongs to the group too.
    fs.writeFileSync(path.join(target, 'written-by-a-provider'), 'x');
    expect(fs.statSync(path.join(target, 'written-by-a-provider')).gid).toBe(2000);
    await mounter.unmount(target);
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

  it('sees a mount reached through a symlinked folder, so a republish does not stack another', async () => {
    // As on nodes whose kubelet root is a symlink (/var/lib/kubelet -> /data/kubelet).
    const real = path.join(dir, 'real');
    fs.mkdirSync(path.join(real, 'mount'), { recursive: true });
    fs.symlinkSync(real, path.join(dir, 'link'));
    const viaLink = path.join(dir, 'link', 'mount');
    expect(await mounter.isMountPoint(viaLink)).toBe(false);
    await mounter.mountTmpfs(viaLink);
    expect(await mounter.isMountPoint(viaLink)).toBe(true);
    expect(await mounter.isMountPoint(path.join(real, 'mount'))).toBe(true);
    await mounter.unmount(viaLink);
    expect(await mounter.isMountPoint(viaLink)).toBe(false);
  });

  it('answers false for a path that does not exist, and for a plain folder', async () => {
    expect(await mounter.isMountPoint(path.join(dir, 'missing'))).toBe(false);
    fs.mkdirSync(path.join(dir, 'plain'));
    expect(await mounter.isMountPoint(path.join(dir, 'plain'))).toBe(false);
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
