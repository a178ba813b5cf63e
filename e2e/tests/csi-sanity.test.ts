// csi-sanity (kubernetes-csi/csi-test), built by the lab, against the running driver. Skipped specs,
// as compat.md §2 allows: the Controller Server (the driver serves nodes only) and "should remove
// target path" (it needs CreateVolume). A successful publish needs a SecretProviderClass, which
// csi-sanity cannot supply: driver-publish.test.ts covers it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { DriverProcess } from '../src';
import { requireLab, startDriver, uniqueSuffix } from '../src';

const lab = requireLab();
let driver: DriverProcess;
let root: string;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(lab.stateDir, 'sanity-'));
  driver = await startDriver({
    nodeId: `sanity-${uniqueSuffix()}`,
    socketPath: path.join(root, 'csi.sock'),
    providerDir: path.join(root, 'providers'),
    kubeconfig: lab.kubeconfig,
  });
});

afterAll(async () => {
  await driver?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

it('passes csi-sanity with only the allowed skips', async () => {
  const args = [
    `--csi.endpoint=${path.join(root, 'csi.sock')}`,
    `--csi.mountdir=${path.join(root, 'mnt')}`,
    `--csi.stagingdir=${path.join(root, 'stage')}`,
    '--ginkgo.skip=Controller Server|should remove target path',
    '--ginkgo.no-color',
    '--ginkgo.v',
  ];
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      path.join(lab.binDir, 'csi-sanity'),
      args,
      { timeout: 300_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({
          code: err ? Number((err as { code?: number }).code ?? 1) : 0,
          output: `${stdout}\n${stderr}`,
        }),
    );
  });
  const summary = /(\d+) Passed \| (\d+) Failed/.exec(output);
  if (code !== 0) throw new Error(`csi-sanity failed:\n${output.slice(-6000)}`);
  expect(Number(summary?.[2])).toBe(0);
  expect(Number(summary?.[1])).toBeGreaterThanOrEqual(10);
  for (const spec of [
    'GetPluginInfo',
    'NodeGetInfo should return appropriate values',
    'NodePublishVolume should fail when no volume id is provided',
    'NodeUnpublishVolume should fail when no target path is provided',
  ]) {
    expect(output).toContain(spec);
  }
});
