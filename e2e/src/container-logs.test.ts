import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ContainerLogKeeper, containerLogFiles, keptName } from './container-logs';

/** A folder laid out as /var/log/pods, and one to keep the logs in. */
function folders(keptBase = os.tmpdir()): { pods: string; kept: string; done: () => void } {
  const pods = fs.mkdtempSync(path.join(os.tmpdir(), 'pods-'));
  const kept = fs.mkdtempSync(path.join(keptBase, 'kept-'));
  return {
    pods,
    kept,
    done: () => {
      fs.rmSync(pods, { recursive: true, force: true });
      fs.rmSync(kept, { recursive: true, force: true });
    },
  };
}

function containerLog(pods: string, pod: string, container: string, text: string): string {
  const dir = path.join(pods, pod, container);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, '0.log');
  fs.writeFileSync(file, text);
  return file;
}

describe('containerLogFiles', () => {
  it('finds <pod>/<container>/<n>.log files only', () => {
    const { pods, done } = folders();
    try {
      const log = containerLog(pods, 'kube-system_driver_uid1', 'secrets-store', 'started\n');
      fs.writeFileSync(path.join(pods, 'kube-system_driver_uid1', 'stray.log'), 'x');
      fs.writeFileSync(path.join(pods, 'kube-system_driver_uid1', 'secrets-store', '0.log.tmp'), 'x');
      expect(containerLogFiles(pods)).toEqual([log]);
      expect(keptName(log, pods)).toBe('node-kube-system_driver_uid1-secrets-store-0.log');
      expect(containerLogFiles(path.join(pods, 'missing'))).toEqual([]);
    } finally {
      done();
    }
  });
});

describe('ContainerLogKeeper', () => {
  it("keeps a container's whole log after the kubelet removed the pod's folder", () => {
    const { pods, kept, done } = folders();
    try {
      const log = containerLog(pods, 'default_app_uid2', 'app', 'first line\n');
      const keeper = new ContainerLogKeeper(pods, kept, 60_000);
      keeper.sweep();
      // containerd keeps writing after the keeper looked; then the pod goes.
      fs.appendFileSync(log, 'last line\n');
      fs.rmSync(path.join(pods, 'default_app_uid2'), { recursive: true });
      keeper.stop();
      expect(keeper.kept).toBe(1);
      expect(fs.readFileSync(path.join(kept, 'node-default_app_uid2-app-0.log'), 'utf8')).toBe(
        'first line\nlast line\n',
      );
    } finally {
      done();
    }
  });

  it('copies what was appended since the last look where it cannot link (another file system)', () => {
    // /dev/shm is a tmpfs: a link from there to the temporary folder fails with EXDEV.
    if (!fs.existsSync('/dev/shm') || fs.statSync('/dev/shm').dev === fs.statSync(os.tmpdir()).dev) {
      throw new Error('this test needs /dev/shm on a file system other than the temporary folder');
    }
    const { pods, kept, done } = folders('/dev/shm');
    try {
      const log = containerLog(pods, 'default_app_uid3', 'app', 'one\n');
      const keeper = new ContainerLogKeeper(pods, kept, 60_000);
      keeper.sweep();
      fs.appendFileSync(log, 'two\n');
      keeper.sweep();
      keeper.sweep();
      fs.appendFileSync(log, 'three\n');
      keeper.stop();
      expect(fs.readFileSync(path.join(kept, 'node-default_app_uid3-app-0.log'), 'utf8')).toBe(
        'one\ntwo\nthree\n',
      );
    } finally {
      done();
    }
  });

  it('keeps new logs as they appear while it runs, and a second keeper does not keep them twice', async () => {
    const { pods, kept, done } = folders();
    try {
      const first = new ContainerLogKeeper(pods, kept, 20);
      first.start();
      containerLog(pods, 'default_late_uid4', 'app', 'late\n');
      const file = path.join(kept, 'node-default_late_uid4-app-0.log');
      const deadline = Date.now() + 5000;
      while (!fs.existsSync(file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      first.stop();
      const second = new ContainerLogKeeper(pods, kept, 60_000);
      second.stop();
      expect(second.kept).toBe(1);
      expect(fs.readFileSync(file, 'utf8')).toBe('late\n');
      expect(fs.readdirSync(kept)).toEqual(['node-default_late_uid4-app-0.log']);
    } finally {
      done();
    }
  });
});
