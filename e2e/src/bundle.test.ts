// scripts/bundle.mjs: the programs as the images carry them, bundled afresh and run by this node
// (the images' node is /usr/local/bin/node, named by the bundles' #! line).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT } from './lab';

const DRIVER = 'secrets-store-csi-driver';
const PROVIDER = 'secrets-store-csi-driver-provider-aws';
const SYNC_CONTROLLER = 'secrets-store-sync-controller';
const LINT = 'secrets-store-csi-lint';

let out = '';

beforeAll(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-'));
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'bundle.mjs'), out], { stdio: 'pipe' });
});

afterAll(() => {
  if (out) fs.rmSync(out, { recursive: true, force: true });
});

const mainOf = (program: string) => path.join(out, program, 'dist', 'main.js');

/** The node flags of a program's #! line in its sources. */
function shebangFlags(workspace: string): string[] {
  const first = fs.readFileSync(path.join(REPO_ROOT, workspace, 'src', 'main.ts'), 'utf8').split('\n', 1)[0];
  return (/^#!\/usr\/bin\/env -S node(.*)$/.exec(first ?? '')?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/** What --version prints: the driver's and the provider's JSON, or upstream's sync controller's. */
const csiVersion = (version: string) => ({ version: `v${version}`, runtime: 'node' });
const controllerVersion = (version: string) => ({ BuildVersion: `v${version}` });

describe.each([
  { program: DRIVER, workspace: 'driver', version: csiVersion, image: [DRIVER, LINT] },
  { program: PROVIDER, workspace: 'provider-aws', version: csiVersion, image: [PROVIDER, LINT] },
  // The linter checks what the driver and the provider read, not SecretSyncs.
  {
    program: SYNC_CONTROLLER,
    workspace: 'sync-controller',
    version: controllerVersion,
    image: [SYNC_CONTROLLER],
  },
])('the bundle of $program', ({ program, workspace, version: versionOf, image }) => {
  it('prints its version from its own package.json, finds the .proto files, and maps to its sources', () => {
    const run = spawnSync(process.execPath, [mainOf(program), '--version'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const version = (
      JSON.parse(fs.readFileSync(path.join(REPO_ROOT, workspace, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    expect(JSON.parse(run.stdout)).toMatchObject(versionOf(version));

    const protos = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.proto'));
    expect(protos(path.join(out, program))).toEqual(protos(path.join(REPO_ROOT, 'proto')));
    const code = fs.readFileSync(mainOf(program), 'utf8');
    expect(code.split('\n', 1)[0]).toBe('#!/usr/local/bin/node');
    expect(code.trimEnd().endsWith('//# sourceMappingURL=main.js.map')).toBe(true);
    const map = JSON.parse(fs.readFileSync(`${mainOf(program)}.map`, 'utf8')) as { sources: string[] };
    expect(map.sources.filter((f) => f.endsWith(`/${workspace}/src/main.ts`))).toHaveLength(1);
    expect(fs.readFileSync(path.join(out, program, 'THIRD-PARTY-LICENSES'), 'utf8')).toMatch(
      /^@grpc\/grpc-js@\S+ \(Apache-2\.0\)$/m,
    );
  });

  it("is started by each Dockerfile with its #! line's node flags", () => {
    const dockerfile = fs.readFileSync(path.join(REPO_ROOT, workspace, 'Dockerfile'), 'utf8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? 'null') as unknown;
    expect(entrypoint).toEqual([
      '/usr/local/bin/node',
      ...shebangFlags(workspace),
      `/opt/${program}/dist/main.js`,
    ]);
    // The programs the image carries, and no other.
    expect(dockerfile).toMatch(
      new RegExp(`^RUN node scripts/bundle\\.mjs /bundles ${image.join(' ')} \\\\$`, 'm'),
    );
  });
});

describe.each([DRIVER, SYNC_CONTROLLER])('the bundle of %s', (program) => {
  it('has node-forge in a file of its own, loaded when a PFX shows up', () => {
    const pkcs12 = path.join(out, program, 'dist', 'pkcs12.js');
    expect(fs.readFileSync(mainOf(program), 'utf8').includes('pkcs12FromAsn1')).toBe(false);
    const run = spawnSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(pkcs12)}).pfxBlocks(Buffer.from('no PFX'), {}, (e) => { throw e; })`],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/Too few bytes to read ASN\.1 value|ASN\.1/);
  });
});

describe(`the bundle of ${DRIVER}`, () => {
  it("loads koffi's native module from beside the bundle, and through it libc's mount(2)", () => {
    const script = `const koffi = require('node:module').createRequire(${JSON.stringify(mainOf(DRIVER))})('koffi');
      const libc = koffi.load('libc.so.6');
      libc.func('int umount2(const char *target, int flags)');
      process.stdout.write('loaded');`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: os.tmpdir() });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('loaded');
    const files = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? files(p) : [path.relative(out, p)];
      });
    // Only what node loads of koffi: no sources, docs or other platforms' builds.
    expect(files(path.join(out, DRIVER, 'node_modules')).filter((f) => f.endsWith('.node'))).toEqual([
      expect.stringMatching(
        /^secrets-store-csi-driver\/node_modules\/@koromix\/koffi-linux-[^/]+\/[^/]+\/koffi\.node$/,
      ),
    ]);
  });
});

describe(`the bundle of ${PROVIDER}`, () => {
  it('has the SSM client in a file of its own, loaded on first use', () => {
    const code = fs.readFileSync(mainOf(PROVIDER), 'utf8');
    const ssm = path.join(out, PROVIDER, 'dist', 'ssm-sdk.js');
    // SSM's service name, which only its client holds.
    expect([code.includes('AmazonSSM'), fs.readFileSync(ssm, 'utf8').includes('AmazonSSM')]).toEqual([
      false,
      true,
    ]);
    const loaded = spawnSync(
      process.execPath,
      ['-e', `const s = require(${JSON.stringify(ssm)}); console.log(Object.keys(s).sort().join(' '))`],
      { encoding: 'utf8' },
    );
    expect(loaded.stdout.trim()).toBe('GetParametersByPathCommand GetParametersCommand SSMClient');
  });
});

describe.each([
  {
    program: DRIVER,
    workspace: 'driver',
    args: (dir: string) => [
      `--endpoint=unix://${dir}/csi.sock`,
      '--nodeid=bundle-test',
      `--provider-volume=${dir}`,
      '--metrics-addr=127.0.0.1:0',
    ],
    started: `${DRIVER} started`,
    listens: 'its socket',
  },
  {
    program: PROVIDER,
    workspace: 'provider-aws',
    args: (dir: string) => [`--provider-volume=${dir}`, '--metrics-addr=127.0.0.1:0'],
    started: `${PROVIDER} started`,
    listens: 'its socket',
  },
  {
    program: SYNC_CONTROLLER,
    workspace: 'sync-controller',
    args: (dir: string) => [
      `--provider-volume=${dir}`,
      '--health-probe-bind-address=127.0.0.1:0',
      '--metrics-bind-address=127.0.0.1:0',
      '--zap-devel=false',
    ],
    started: '"msg":"serving"',
    listens: 'its probes',
  },
])('the bundle of $program, started', ({ program, workspace, args, started, listens }) => {
  it(`reads its kubeconfig (YAML, loaded on first use), serves ${listens}, and stops on SIGTERM`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-start-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const child = spawn(
      process.execPath,
      [...shebangFlags(workspace), mainOf(program), ...args(dir), `--kubeconfig=${kubeconfig}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes(started)) {
        if (child.exitCode !== null) throw new Error(`${program} exited: ${output}`);
        if (Date.now() > deadline) throw new Error(`${program} did not start in 30 s: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (program === SYNC_CONTROLLER) {
        const line = output.split('\n').find((l) => l.includes(started)) ?? '';
        const { probes } = JSON.parse(line) as { probes: string };
        const health = await fetch(`http://${probes}/healthz`);
        expect([health.status, await health.text()]).toEqual([200, 'ok']);
      } else {
        expect(fs.existsSync(path.join(dir, program === DRIVER ? 'csi.sock' : 'aws.sock'))).toBe(true);
      }
      // The driver mounts through libc, with koffi from beside the bundle.
      if (program === DRIVER) expect(output).toContain('mounting with the mount(2) system call');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`the bundle of ${LINT}`, () => {
  it("refuses what the AWS provider refuses, with the provider's message", () => {
    const spc = [
      'apiVersion: secrets-store.csi.x-k8s.io/v1',
      'kind: SecretProviderClass',
      'metadata: {name: db}',
      'spec:',
      '  provider: aws',
      '  parameters:',
      '    objects: |',
      '      - objectName: "MyDBSecret"',
      '        objectType: "secretmanager"',
      '',
    ].join('\n');
    const run = spawnSync(process.execPath, [mainOf(LINT), '-'], { input: spc, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(
      /^<stdin>:1: spec\.parameters: .*objectType must be "secretsmanager" or "ssmparameter"/,
    );
  });
});
