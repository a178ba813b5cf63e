// The three executables started the way an operator starts them: through their `bin` links, whose
// `#!/usr/bin/env -S node <flags>` line picks the `node` on PATH. What they print must be their own
// lines only: JSON log records on a start, one JSON object for --version, one line for a mistake.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT } from '../src/lab';

const BIN = path.join(REPO_ROOT, 'node_modules', '.bin');
const PROGRAMS = [
  'secrets-store-csi-driver',
  'secrets-store-csi-driver-provider-aws',
  'secrets-store-sync-controller',
] as const;
// The Node.js the tests run on (24, from the Makefile) first on PATH, as `make lab-env` arranges.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
};
delete env.NODE_OPTIONS;

/** Lines that are not one of the program's own JSON log records. */
function foreignLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        const record = JSON.parse(line) as { msg?: unknown };
        return typeof record.msg !== 'string';
      } catch {
        return true;
      }
    });
}

describe.each(PROGRAMS)('%s', (program) => {
  const exe = path.join(BIN, program);

  it('prints only its version as JSON for --version', () => {
    const run = spawnSync(exe, ['--version'], { env, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    if (program === 'secrets-store-sync-controller') {
      // Upstream's three fields, in its order.
      expect(Object.keys(JSON.parse(run.stdout) as object)).toEqual([
        'BuildVersion',
        'GitCommit',
        'BuildDate',
      ]);
      expect((JSON.parse(run.stdout) as { BuildVersion: string }).BuildVersion).toMatch(/^v\d+\.\d+\.\d+/);
      return;
    }
    const version = JSON.parse(run.stdout) as { version: string; runtimeVersion: string };
    expect(version.version).toMatch(/^v\d+\.\d+\.\d+/);
    expect(Number(version.runtimeVersion.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('names a wrong flag in one line and exits 2', () => {
    const run = spawnSync(exe, ['--no-such-flag=1'], { env, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('no-such-flag');
  });

  it('says in one line, without a stack, that a kubeconfig cannot be read', () => {
    const nodeId = program === 'secrets-store-csi-driver' ? ['--nodeid=n'] : [];
    const run = spawnSync(exe, [...nodeId, '--kubeconfig=/nonexistent/kubeconfig'], {
      env,
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${program}: cannot read kubeconfig /nonexistent/kubeconfig`)),
    ]);
  });

  it('prints only its own log records from start to shutdown', async () => {
    const kubeconfig = process.env.KUBECONFIG;
    if (!kubeconfig) throw new Error('KUBECONFIG is unset: run this file through make test-lab');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-exe-'));
    try {
      const args = {
        'secrets-store-csi-driver': [
          `--endpoint=unix://${dir}/csi.sock`,
          '--nodeid=executables-test',
          `--provider-volume=${dir}/providers`,
          '--metrics-addr=127.0.0.1:0',
          '--log-format-json',
          `--kubeconfig=${kubeconfig}`,
        ],
        'secrets-store-csi-driver-provider-aws': [
          `--provider-volume=${dir}/providers`,
          '--metrics-addr=127.0.0.1:0',
          '--log-format-json',
          `--kubeconfig=${kubeconfig}`,
        ],
        // JSON records: controller-runtime's zap flag, upstream's default being text lines.
        'secrets-store-sync-controller': [
          `--provider-volume=${dir}/providers`,
          '--health-probe-bind-address=127.0.0.1:0',
          '--metrics-bind-address=127.0.0.1:0',
          '--zap-devel=false',
          `--kubeconfig=${kubeconfig}`,
        ],
      }[program];
      // The sync controller's last line of its start: it serves its probes and metrics.
      const started = program === 'secrets-store-sync-controller' ? '"msg":"serving"' : `${program} started`;
      fs.mkdirSync(`${dir}/providers`);
      const child = spawn(exe, args, { env: { ...env, AWS_REGION: 'us-east-1' } });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const deadline = Date.now() + 30_000;
      while (!output.includes(started)) {
        if (child.exitCode !== null) throw new Error(`${program} exited while starting:\n${output}`);
        if (Date.now() > deadline) throw new Error(`${program} did not start in 30 s:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(foreignLines(output)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
