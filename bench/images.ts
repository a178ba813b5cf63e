// The program images (issue 22, item 7), without the lab. Sizes: each layer of the images that
// scripts/build-images.sh saved (IMAGE_ARCHIVE_DIR: driver.tar, provider-aws.tar,
// sync-controller.tar), uncompressed and gzipped (level 6, as a registry stores a pushed layer).
// Then each program three ways, all with the images' node flags (the #! line of its main.ts): from
// the workspaces' dist/ with node_modules (what the images ran before), bundled by
// scripts/bundle.mjs, and inside its image (chroot into the image's files, unpacked here; needs
// root). For each: the wall time of `--version`, the time from spawn until the program listens (the
// driver and the provider on their sockets, the sync controller on its probes' port) and the CPU it
// used until then (utime + stime), and its memory once idle (RSS, anonymous, file-backed,
// BENCH_IDLE_MS after it listens). The Kubernetes API is a stand-in in this process over HTTP (empty
// lists, watches held open): the driver and the sync controller list and watch, the provider asks
// nothing of it before a mount. The builds take turns; medians, the range in brackets.
//
//   images=$(mktemp -d); IMAGE_REGISTRY=localhost/bench IMAGE_ARCHIVE_DIR=$images scripts/build-images.sh
//   BENCH_IMAGES=$images node bench/images.ts        (without BENCH_IMAGES: no image rows)
//   BENCH_UPSTREAM_IMAGES=<dir>: upstream's images' sizes too (e2e/peer/build.sh images; its
//   `build.sh path images` names the folder)
//   BENCH_RUNS=5 BENCH_IDLE_MS=10000 (BENCH_RUNS=0: the sizes only)
//   BENCH_PROGRAMS=secrets-store-sync-controller,...: those programs only (default: all three)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import type { ProcessMemory } from './stats.ts';
import { printTable, processMemory } from './stats.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);
const IMAGES = process.env.BENCH_IMAGES;
const MIB = 1024 * 1024;

interface Program {
  name: string;
  workspace: string;
  /** The archive scripts/build-images.sh saves its image as. */
  archive: string;
  /** Listening: its socket in the run's folder exists, or (serving) its log has that text. */
  socket?: string;
  serving?: string;
  args: (dir: string, kubeconfig: string) => string[];
}

const ALL_PROGRAMS: Program[] = [
  {
    name: 'secrets-store-csi-driver',
    workspace: 'driver',
    archive: 'driver.tar',
    socket: 'csi.sock',
    args: (dir, kubeconfig) => [
      `--endpoint=unix://${dir}/csi.sock`,
      '--nodeid=bench',
      `--provider-volume=${dir}/providers`,
      '--metrics-addr=127.0.0.1:0',
      `--kubeconfig=${kubeconfig}`,
    ],
  },
  {
    name: 'secrets-store-csi-driver-provider-aws',
    workspace: 'provider-aws',
    archive: 'provider-aws.tar',
    socket: 'aws.sock',
    args: (dir, kubeconfig) => [
      `--provider-volume=${dir}`,
      '--metrics-addr=127.0.0.1:0',
      `--kubeconfig=${kubeconfig}`,
    ],
  },
  {
    name: 'secrets-store-sync-controller',
    workspace: 'sync-controller',
    archive: 'sync-controller.tar',
    // Logged once its probes and metrics listen.
    serving: '"msg":"serving"',
    args: (dir, kubeconfig) => [
      `--provider-volume=${dir}/providers`,
      '--health-probe-bind-address=127.0.0.1:0',
      '--metrics-bind-address=127.0.0.1:0',
      '--zap-devel=false',
      `--kubeconfig=${kubeconfig}`,
    ],
  },
];

const PROGRAMS = process.env.BENCH_PROGRAMS
  ? ALL_PROGRAMS.filter((p) => (process.env.BENCH_PROGRAMS ?? '').split(',').includes(p.name))
  : ALL_PROGRAMS;

/** The node flags of a program's #! line, which its image's entrypoint passes too. */
function nodeFlags(p: Program): string[] {
  const first =
    fs.readFileSync(path.join(REPO, p.workspace, 'src', 'main.ts'), 'utf8').split('\n', 1)[0] ?? '';
  return (/^#!\/usr\/bin\/env -S node(.*)$/.exec(first)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/**
 * The layers of an image archive, uncompressed, in order: a docker-archive (manifest.json, as
 * scripts/build-images.sh saves them) or an OCI archive (index.json, gzipped blobs, as
 * e2e/peer/build.sh saves upstream's).
 */
function layersOf(archive: string): Buffer[] {
  const read = (member: string) => execFileSync('tar', ['-xOf', archive, member], { maxBuffer: 1024 * MIB });
  const members = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).split('\n');
  if (members.includes('manifest.json')) {
    const [manifest] = JSON.parse(read('manifest.json').toString('utf8')) as Array<{ Layers: string[] }>;
    return (manifest?.Layers ?? []).map((name) => read(name));
  }
  const blob = (digest: string) => read(`blobs/sha256/${digest.replace(/^sha256:/, '')}`);
  const index = JSON.parse(read('index.json').toString('utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(blob(index.manifests[0]?.digest ?? '').toString('utf8')) as {
    layers: Array<{ digest: string; mediaType: string }>;
  };
  return manifest.layers.map((l) =>
    l.mediaType.endsWith('gzip') ? zlib.gunzipSync(blob(l.digest)) : blob(l.digest),
  );
}

interface Build {
  title: string;
  /** The command that runs the program with `args`, and the folder its files go in (as it sees it). */
  command: (p: Program, args: string[]) => string[];
  /** A folder for the run's socket and kubeconfig: [as this process sees it, as the program does]. */
  scratch: () => [string, string];
}

function localBuild(title: string, mainOf: (p: Program) => string): Build {
  return {
    title,
    command: (p, args) => [process.execPath, ...nodeFlags(p), mainOf(p), ...args],
    scratch: () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-images-'));
      return [dir, dir];
    },
  };
}

function imageBuild(root: string): Build {
  return {
    title: 'image (chroot)',
    command: (p, args) => [
      'chroot',
      root,
      '/usr/local/bin/node',
      ...nodeFlags(p),
      `/opt/${p.name}/dist/main.js`,
      ...args,
    ],
    scratch: () => {
      const inside = `/bench-${process.pid}-${Math.random().toString(36).slice(2)}`;
      fs.mkdirSync(path.join(root, inside));
      return [path.join(root, inside), inside];
    },
  };
}

interface Sample {
  versionMs: number;
  startMs: number;
  startCpuMs: number;
  idle: ProcessMemory;
}

/** utime + stime of a process, ms. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The pid of node in a run: the chroot program execs it, keeping its pid. */
async function sample(p: Program, build: Build, kubeServer: string): Promise<Sample> {
  const [dir, seen] = build.scratch();
  try {
    const [cmd, ...rest] = build.command(p, ['--version']);
    let t0 = performance.now();
    const version = spawnSync(cmd as string, rest, { encoding: 'utf8' });
    const versionMs = performance.now() - t0;
    if (version.status !== 0) throw new Error(`${build.title} ${p.name} --version: ${version.stderr}`);

    fs.mkdirSync(path.join(dir, 'providers'));
    fs.writeFileSync(
      path.join(dir, 'kubeconfig'),
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: kubeServer } }],
        users: [{ name: 'u', user: { token: 'bench' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const [start, ...startArgs] = build.command(p, p.args(seen, `${seen}/kubeconfig`));
    const log = path.join(dir, 'log');
    const logFd = fs.openSync(log, 'w');
    t0 = performance.now();
    const child = spawn(start as string, startArgs, { stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    let exited = false;
    child.once('exit', () => (exited = true));
    const listening = () =>
      p.socket
        ? fs.existsSync(path.join(dir, p.socket))
        : fs.readFileSync(log, 'utf8').includes(p.serving ?? '');
    try {
      while (!listening()) {
        if (exited)
          throw new Error(
            `${build.title} ${p.name} exited before listening: ${fs.readFileSync(log, 'utf8')}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const startMs = performance.now() - t0;
      const startCpuMs = cpuMs(child.pid ?? 0);
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      return { versionMs, startMs, startCpuMs, idle: processMemory(child.pid ?? 0) };
    } finally {
      child.kill('SIGTERM');
      if (!exited) await new Promise((resolve) => child.once('exit', resolve));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const cell = (values: number[], digits: number) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;

/** Uncompressed and gzipped MiB of each layer and in all; unpacks the layers into `root` when given. */
function sizeRows(title: string, archive: string, root?: string): string[][] {
  const rows: string[][] = [];
  let raw = 0;
  let gz = 0;
  for (const [i, layer] of layersOf(archive).entries()) {
    const zipped = zlib.gzipSync(layer, { level: 6 }).length;
    raw += layer.length;
    gz += zipped;
    rows.push([title, String(i + 1), (layer.length / MIB).toFixed(1), (zipped / MIB).toFixed(2)]);
    if (root) execFileSync('tar', ['-x', '-C', root], { input: layer, maxBuffer: 1024 * MIB });
  }
  rows.push([title, 'all', (raw / MIB).toFixed(1), (gz / MIB).toFixed(1)]);
  return rows;
}

/**
 * The sizes of our images (BENCH_IMAGES) and upstream's (BENCH_UPSTREAM_IMAGES: e2e/peer/build.sh's
 * images folder), and our images unpacked, for running the programs inside them.
 */
function sizes(): Map<string, string> {
  const roots = new Map<string, string>();
  const upstream = process.env.BENCH_UPSTREAM_IMAGES;
  if (!IMAGES && !upstream) return roots;
  const rows = [['image', 'layer', 'uncompressed MiB', 'gzipped MiB']];
  for (const p of PROGRAMS) {
    if (IMAGES) {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), `bench-image-${p.workspace}-`));
      roots.set(p.name, root);
      rows.push(...sizeRows(`ours: ${p.archive}`, path.join(IMAGES, p.archive), root));
    }
    // e2e/peer/build.sh makes no image of upstream's sync controller.
    if (upstream && fs.existsSync(path.join(upstream, p.archive)))
      rows.push(...sizeRows(`upstream: ${p.archive}`, path.join(upstream, p.archive)));
  }
  printTable('Image sizes (gzipped: each layer at gzip level 6)', rows);
  return roots;
}

/**
 * Kubernetes as far as the driver and the sync controller ask at start: empty lists, and watches
 * that stay open.
 */
function kubeApi(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (/[?&]watch=(1|true)/.test(req.url ?? '')) return void res.flushHeaders();
    res.end(
      JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main(): Promise<void> {
  const roots = sizes();
  // BENCH_RUNS=0: the sizes only.
  if (RUNS === 0) {
    for (const root of roots.values()) fs.rmSync(root, { recursive: true, force: true });
    return;
  }
  const bundles = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-bundles-'));
  execFileSync(
    process.execPath,
    [path.join(REPO, 'scripts', 'bundle.mjs'), bundles, ...PROGRAMS.map((p) => p.name)],
    {
      stdio: 'ignore',
    },
  );
  const kube = await kubeApi();
  const kubeServer = `http://127.0.0.1:${(kube.address() as AddressInfo).port}`;
  const rows = [
    [
      'program',
      'build',
      '--version ms',
      'start to listening ms',
      'CPU until listening ms',
      'idle RSS MiB',
      'idle RssAnon MiB',
      'idle RssFile MiB',
    ],
  ];
  try {
    for (const p of PROGRAMS) {
      const builds = [
        localBuild('dist/ and node_modules', (q) => path.join(REPO, q.workspace, 'dist', 'main.js')),
        localBuild('bundle', (q) => path.join(bundles, q.name, 'dist', 'main.js')),
        ...(roots.has(p.name) ? [imageBuild(roots.get(p.name) as string)] : []),
      ];
      const samples = builds.map((): Sample[] => []);
      for (let run = 0; run < RUNS; run++) {
        // Which build goes first rotates, so that none always runs on a warmer machine.
        for (let k = 0; k < builds.length; k++) {
          const i = (run + k) % builds.length;
          samples[i]?.push(await sample(p, builds[i] as Build, kubeServer));
        }
      }
      builds.forEach((b, i) => {
        const s = samples[i] as Sample[];
        rows.push([
          p.name,
          b.title,
          cell(
            s.map((x) => x.versionMs),
            0,
          ),
          cell(
            s.map((x) => x.startMs),
            0,
          ),
          cell(
            s.map((x) => x.startCpuMs),
            0,
          ),
          cell(
            s.map((x) => x.idle.rss),
            1,
          ),
          cell(
            s.map((x) => x.idle.anon),
            1,
          ),
          cell(
            s.map((x) => x.idle.file),
            1,
          ),
        ]);
      });
    }
  } finally {
    kube.close();
    kube.closeAllConnections();
    fs.rmSync(bundles, { recursive: true, force: true });
    for (const root of roots.values()) fs.rmSync(root, { recursive: true, force: true });
  }
  printTable(
    `Programs started as their images start them (${RUNS} runs, idle after ${IDLE_MS / 1000} s)`,
    rows,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
