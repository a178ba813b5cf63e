// The target path on its own: what it holds, a tmpfs mounted for a first publish and taken back,
// and an unpublish's clean-up, over plain folders with a fake mounter (as the node server's tests);
// a mount point below a folder is told by its device, so that case mounts a real tmpfs (root).
import { Status } from '@sscsi/common';
import { capturingLogger } from '@sscsi/common/testing';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { DriverError } from '../errors';
import { FakeMounter } from '../testing/fake-mounter';
import { systemMounter } from './mounter';
import { TargetPaths } from './target-paths';

describe('TargetPaths', () => {
  let root: string;
  let target: string;
  let mounter: FakeMounter;
  let logs: string[];
  let targets: TargetPaths;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'target-paths-'));
    target = path.join(root, 'pods', 'uid-1', 'volumes', 'kubernetes.io~csi', 'secrets', 'mount');
    mounter = new FakeMounter();
    const { logger, lines } = capturingLogger();
    logs = lines;
    targets = new TargetPaths(mounter, logger);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e as DriverError,
    );

  describe('state', () => {
    it('tells a first publish, an empty mount and a filled one apart', async () => {
      expect(await targets.state(target)).toBe('unmounted');
      fs.mkdirSync(target, { recursive: true });
      mounter.stack(target);
      expect(await targets.state(target)).toBe('empty');
      fs.writeFileSync(path.join(target, 'MyDBSecret'), 'x');
      expect(await targets.state(target)).toBe('filled');
    });

    it('refuses a target that is itself a symlink, wherever it points (found by the fuzz test)', async () => {
      // Mounting through it would put the pod's secrets in the folder it names: here a host
      // folder, or the mounted volume of another pod.
      const outside = path.join(root, 'outside');
      fs.mkdirSync(outside);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.symlinkSync(outside, target);
      expect(await failure(targets.state(target))).toMatchObject({
        reason: 'InvalidRequest',
        code: Status.INVALID_ARGUMENT,
        message: `target path ${target} is a symlink: a volume is mounted on a folder, never through a link`,
      });
      mounter.stack(outside);
      fs.writeFileSync(path.join(outside, 'other-pods-secret'), 'x');
      expect(await failure(targets.state(target))).toMatchObject({ reason: 'InvalidRequest' });
    });

    it('follows a symlink among the parents, as a kubelet root that is a symlink', async () => {
      const real = path.join(root, 'data', 'kubelet');
      fs.mkdirSync(path.join(real, 'volume'), { recursive: true });
      fs.symlinkSync(real, path.join(root, 'kubelet'));
      const viaLink = path.join(root, 'kubelet', 'volume');
      mounter.stack(viaLink);
      fs.writeFileSync(path.join(viaLink, 'MyDBSecret'), 'x');
      expect(await targets.state(viaLink)).toBe('filled');
    });

    it('counts a name whose ..data link is gone as no file', async () => {
      fs.mkdirSync(path.join(target, '..2024_01_01_00_00_00.123'), { recursive: true });
      fs.symlinkSync('..data/MyDBSecret', path.join(target, 'MyDBSecret'));
      mounter.stack(target);
      expect(await targets.state(target)).toBe('empty');
    });

    it('fails with FailedToEnsureMountPoint when the mount table or the volume cannot be read', async () => {
      mounter.failNext = { call: 'isMountPoint', error: new Error('EACCES: /proc/self/mountinfo') };
      expect(await failure(targets.state(target))).toMatchObject({
        reason: 'FailedToEnsureMountPoint',
        code: Status.INTERNAL,
        message: `cannot tell whether ${target} is mounted: EACCES: /proc/self/mountinfo`,
      });
      mounter.stack(target); // mounted, but the folder is not there to read
      expect(await failure(targets.state(target))).toMatchObject({
        reason: 'FailedToEnsureMountPoint',
        message: expect.stringContaining(`cannot read the mounted volume ${target}: ENOENT`),
      });
    });
  });

  describe('mountTmpfs', () => {
    it('makes the folder, mounts a tmpfs for the group, and takes both back', async () => {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const unmount = await targets.mountTmpfs(target, 2000);
      expect(mounter.mounted.has(target)).toBe(true);
      expect(mounter.owners.get(target)).toEqual({ gid: 2000 });
      expect(fs.statSync(target).mode & 0o777).toBe(0o750);
      await unmount();
      expect(mounter.mounted.size).toBe(0);
      expect(fs.existsSync(target)).toBe(false);
      // The kubelet's folder stays.
      expect(fs.existsSync(path.dirname(target))).toBe(true);
    });

    it('takes back the parent folders it made where the kubelet had made none (found by the fuzz test)', async () => {
      const unmount = await targets.mountTmpfs(target, undefined);
      await unmount();
      expect(fs.readdirSync(root)).toEqual([]);
    });

    it('takes back the parent folders it made when a name on the way is too long (found by the fuzz test)', async () => {
      const tooLong = path.join(path.dirname(target), 'n'.repeat(256), 'mount');
      expect(await failure(targets.mountTmpfs(tooLong, undefined))).toMatchObject({
        reason: 'FailedToMount',
        message: expect.stringContaining('ENAMETOOLONG'),
      });
      expect(fs.readdirSync(root)).toEqual([]);
    });

    it('leaves a parent folder it made once another volume uses it', async () => {
      const unmount = await targets.mountTmpfs(target, undefined);
      const sibling = path.join(path.dirname(path.dirname(target)), 'other', 'mount');
      fs.mkdirSync(sibling, { recursive: true });
      await unmount();
      expect(fs.existsSync(path.dirname(target))).toBe(false);
      expect(fs.existsSync(sibling)).toBe(true);
    });

    it('leaves a folder it did not make', async () => {
      fs.mkdirSync(target, { recursive: true });
      const unmount = await targets.mountTmpfs(target, undefined);
      expect(mounter.owners.get(target)).toBeUndefined();
      await unmount();
      expect(mounter.mounted.size).toBe(0);
      expect(fs.existsSync(target)).toBe(true);
    });

    it('fails with FailedToMount and removes the folder it made', async () => {
      mounter.failNext = { call: 'mountTmpfs', error: new Error('EPERM: operation not permitted') };
      expect(await failure(targets.mountTmpfs(target, undefined))).toMatchObject({
        reason: 'FailedToMount',
        message: `failed to mount tmpfs at ${target}: EPERM: operation not permitted`,
      });
      // Nor the parents it made on the way.
      expect(fs.readdirSync(root)).toEqual([]);
    });

    it('logs an unmount that fails while taking a failed publish back, and does not throw', async () => {
      const unmount = await targets.mountTmpfs(target, undefined);
      mounter.failNext = { call: 'unmount', error: new Error('EBUSY: target is busy') };
      await expect(unmount()).resolves.toBeUndefined();
      const logged = logs.map((l) => JSON.parse(l) as { msg: string; err: string });
      expect(logged).toEqual([
        expect.objectContaining({
          msg: 'failed to unmount after a failed publish',
          err: 'EBUSY: target is busy',
        }),
      ]);
      // The mount stays: a later publish finds it empty and fills it.
      expect(mounter.mounted.has(target)).toBe(true);
    });
  });

  describe('cleanUp', () => {
    it('unmounts every stacked mount, removes the files and the folder', async () => {
      fs.mkdirSync(path.join(target, 'nested'), { recursive: true });
      fs.writeFileSync(path.join(target, 'nested', 'file'), 'x');
      mounter.stack(target, 3);
      await targets.cleanUp(target);
      expect(mounter.mounted.size).toBe(0);
      expect(fs.existsSync(target)).toBe(false);
    });

    it('is done when there is nothing: unpublish is idempotent', async () => {
      await expect(targets.cleanUp(target)).resolves.toBeUndefined();
      await expect(targets.cleanUp(target)).resolves.toBeUndefined();
    });

    it('removes nothing from a folder that still holds anything once unmounted, nor follows a symlink in it', async () => {
      // As upstream: what is left is not the driver's (the tmpfs took the volume's files with it).
      const outside = path.join(root, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'keep'), 'precious');
      fs.mkdirSync(target, { recursive: true });
      fs.symlinkSync(outside, path.join(target, 'link'));
      fs.writeFileSync(path.join(target, 'kubelets'), 'x');
      expect(await failure(targets.cleanUp(target))).toMatchObject({
        reason: 'FailedToUnmount',
        message: `failed to clean up ${target}: it still holds "kubelets", "link" once unmounted; only an empty folder is removed`,
      });
      expect(fs.readFileSync(path.join(outside, 'keep'), 'utf8')).toBe('precious');
      expect(fs.readdirSync(target).sort()).toEqual(['kubelets', 'link']);
    });

    it('removes a target that is itself a symlink, not what it points to', async () => {
      const outside = path.join(root, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'keep'), 'precious');
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.symlinkSync(outside, target);
      await targets.cleanUp(target);
      expect(fs.existsSync(target)).toBe(false);
      expect(fs.readFileSync(path.join(outside, 'keep'), 'utf8')).toBe('precious');
    });

    it('fails with FailedToUnmount, keeping the folder, when an unmount fails', async () => {
      fs.mkdirSync(target, { recursive: true });
      mounter.stack(target);
      mounter.failNext = { call: 'unmount', error: new Error('EBUSY: target is busy') };
      expect(await failure(targets.cleanUp(target))).toMatchObject({
        reason: 'FailedToUnmount',
        message: `failed to clean up ${target}: EBUSY: target is busy`,
      });
      expect(fs.existsSync(target)).toBe(true);
      // The kubelet retries; the next attempt finishes the job.
      await targets.cleanUp(target);
      expect(fs.existsSync(target)).toBe(false);
    });

    it("refuses a folder holding another volume's mount, removing nothing (found by the fuzz test)", async () => {
      // A real tmpfs (the device number tells a mount point): root, as mounter.test.ts.
      const real = new TargetPaths(systemMounter().mounter, capturingLogger().logger);
      const podFolder = path.join(root, 'pods', 'uid-1');
      const sibling = path.join(podFolder, 'volumes', 'kubernetes.io~csi', 'other', 'mount');
      fs.mkdirSync(sibling, { recursive: true });
      fs.writeFileSync(path.join(podFolder, 'etc-hosts'), 'x');
      await real.mountTmpfs(target, undefined);
      fs.writeFileSync(path.join(target, 'MyDBSecret'), 's3cr3t');
      try {
        expect(await failure(real.cleanUp(podFolder))).toMatchObject({
          reason: 'FailedToUnmount',
          message: `failed to clean up ${podFolder}: it still holds "etc-hosts", "volumes" once unmounted; only an empty folder is removed`,
        });
        expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('s3cr3t');
        expect(fs.existsSync(sibling)).toBe(true);
        expect(fs.existsSync(path.join(podFolder, 'etc-hosts'))).toBe(true);
      } finally {
        await real.cleanUp(target);
      }
      expect(fs.existsSync(target)).toBe(false);
    });

    it('stops unmounting after 8 stacked mounts rather than loop on a mount that does not go', async () => {
      fs.mkdirSync(target, { recursive: true });
      mounter.stack(target, 20);
      // On a node the folder, still a mount point, cannot be removed (EBUSY): the kubelet retries.
      await targets.cleanUp(target).catch(() => undefined);
      expect(mounter.depth(target)).toBe(12);
    });
  });
});
