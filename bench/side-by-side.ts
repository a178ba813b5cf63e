// Side by side with upstream (issue 15 item 5): the same requests, in the same run, to our driver
// and AWS provider and to upstream's (driver v1.6.0 from the Go module proxy, the AWS provider from
// the peer folder's source, both as e2e/peer/build.sh builds and caches them), with the ratio of
// each figure computed from what this run measured. Three parts, each runnable alone:
//
//   drivers    each driver with the e2e test provider answering at once, driven by the kubelet
//              stand-in on the lab: NodePublishVolume one at a time (p50, CPU per publish), 110 at
//              once (wall time, CPU per publish), memory idle and with the 110 volumes mounted
//   providers  each AWS provider against the lab's AWS (its gate, which counts every call): 30 pods
//              of one ServiceAccount mount the article's 3 objects one at a time (p50, STS calls of
//              the 29 after the first, memory after), then the 29 remount as rotation does (AWS calls)
//   rotation   our driver with our provider, upstream's with upstream's: a value changed in the
//              lab's AWS until the file on disk has it, at a stated poll interval, many samples;
//              then the pair's memory, the pages both map counted once
//
// Memory is RSS with its anonymous and file-backed parts (/proc/<pid>/status) and Pss
// (/proc/<pid>/smaps_rollup); a pair's distinct pages come from /proc/<pid>/pagemap, whose page
// frame numbers only root sees (the lab runs as root).
//
// CPU is utime + stime + cutime + cstime of /proc/<pid>/stat: the process's own and that of the
// children it waited for (upstream's driver runs the mount program for every volume).
//
//   node bench/side-by-side.ts [--parts=drivers,providers,rotation] [--repetitions=3]
//                              [--results=bench/results/side-by-side.json] [--chart=docs/rotation-latency.svg]
//   node bench/side-by-side.ts --report     the table and chart again from the saved results
//   SSCSI_BUNDLES=<dir> node bench/side-by-side.ts ...   ours as the images run them: the bundles
//                                                      of `node scripts/bundle.mjs <dir>`
//
// Needs the lab (not its node mode) and `make build`; `make bench-compare` does both, and builds the
// upstream programs first when they are not cached. Parts run separately are merged into the results.
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { KubeClient, Pod } from '@sscsi/common';
import { connectionFromKubeconfig, Resources, resourcePath } from '@sscsi/common';
import type { Lab, PreparedPublish } from '@sscsi/e2e';
import {
  adminClient,
  AwsGate,
  awsAdmin,
  createNamespace,
  createPod,
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  DEFAULT_CSI_DRIVER,
  deleteNamespace,
  DRIVER_MAIN,
  ensureCrds,
  ensureCsiDriver,
  KubeletStandIn,
  logDir,
  ManagedProcess,
  mintTokens,
  mountsUnder,
  PROVIDER_AWS_MAIN,
  ProviderApiClient,
  requireLab,
  shebangFlags,
  startAwsProvider,
  startDriver,
  TestProvider,
  uniqueSuffix,
} from '@sscsi/e2e';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import type {
  DriverRepetition,
  Implementation,
  PairMemory,
  ProviderRepetition,
  RotationRun,
  SideBySideResults,
} from './side-by-side-report.ts';
import { comparisonRows, markdownTable, median, rotationChartSpec } from './side-by-side-report.ts';
import { processMemory as memoryOf } from './stats.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEQUENTIAL = 100;
const BURST = 110;
const PROVIDER_PODS = 30;
const ROTATION_POLL_INTERVAL = '2s';
const ROTATION_POLL_MS = 2000;
const REPUBLISH_INTERVAL_MS = 1000;
/** Where the upstream AWS provider's STS calls go: the host names resolve here in its mount namespace. */
const STS_FRONT_ADDRESS = '127.77.0.1';
const CLOCK_TICKS_PER_SECOND = 100;
/** The page size /proc/<pid>/pagemap counts in (4 KiB on x86-64, 16 or 64 KiB on some arm64 kernels). */
const PAGE_BYTES = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
/** Entries of /proc/<pid>/pagemap read at once (8 bytes each). */
const PAGEMAP_CHUNK = 65_536;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (text: string) => process.stderr.write(`[side-by-side] ${text}\n`);

// --- processes ----------------------------------------------------------------------------------

/** CPU time of a process and of its children it waited for, ms (from clock ticks). */
function cpuMs(pid: number): { total: number; children: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14 ... cstime 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ms = (...at: number[]) =>
    (at.reduce((sum, i) => sum + Number(fields[i]), 0) * 1000) / CLOCK_TICKS_PER_SECOND;
  return { total: ms(11, 12, 13, 14), children: ms(13, 14) };
}

/**
 * Adds the physical page frames of a process's resident pages to `frames`, from
 * /proc/<pid>/pagemap (whose frame numbers only root sees), reading only the mappings that smaps
 * says have resident pages.
 */
function addPageFrames(pid: number, frames: Set<number>): void {
  const smaps = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const fd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
  const buffer = Buffer.alloc(PAGEMAP_CHUNK * 8);
  try {
    let range: { first: number; pages: number } | undefined;
    for (const line of smaps.split('\n')) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
      if (head) {
        const start = parseInt(head[1] as string, 16);
        const end = parseInt(head[2] as string, 16);
        // The vsyscall page sits above what a double holds exactly; it is never resident.
        range =
          end <= Number.MAX_SAFE_INTEGER
            ? { first: start / PAGE_BYTES, pages: (end - start) / PAGE_BYTES }
            : undefined;
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (!rss || rss[1] === '0' || !range) continue;
      for (let done = 0; done < range.pages; done += PAGEMAP_CHUNK) {
        const count = Math.min(PAGEMAP_CHUNK, range.pages - done);
        const bytes = fs.readSync(fd, buffer, 0, count * 8, (range.first + done) * 8);
        for (let at = 0; at + 8 <= bytes; at += 8) {
          const high = buffer.readUInt32LE(at + 4);
          if ((high & 0x8000_0000) === 0) continue; // not present
          const frame = (high & 0x7f_ffff) * 2 ** 32 + buffer.readUInt32LE(at);
          if (frame === 0) throw new Error(`/proc/${pid}/pagemap hides page frames: run as root`);
          frames.add(frame);
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A driver's and its provider's memory, each page they share counted once in `distinct`. */
function pairMemoryOf(driverPid: number, providerPid: number): PairMemory {
  const frames = new Set<number>();
  addPageFrames(driverPid, frames);
  addPageFrames(providerPid, frames);
  return {
    driver: memoryOf(driverPid),
    provider: memoryOf(providerPid),
    distinct: (frames.size * PAGE_BYTES) / 2 ** 20,
  };
}

async function waitForSocket(socket: string, proc: ManagedProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await new Promise<boolean>((resolve) => {
      const conn = net.connect(socket, () => {
        conn.end();
        resolve(true);
      });
      conn.on('error', () => resolve(false));
    });
    if (ready) return;
    if (!proc.running) throw new Error(`${proc.name} exited:\n${proc.logs().slice(-3000)}`);
    if (Date.now() > deadline)
      throw new Error(`${proc.name} did not serve ${socket}:\n${proc.logs().slice(-3000)}`);
    await sleep(50);
  }
}

/** Upstream's processes still running: killed when this script ends, however it ends. */
const upstreamChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of upstreamChildren) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

function startProgram(name: string, file: string, args: string[], env: NodeJS.ProcessEnv): ManagedProcess {
  const logFile = path.join(logDir(), `${name}-${Date.now()}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(file, args, { stdio: ['ignore', out, out], env });
  fs.closeSync(out);
  upstreamChildren.add(child);
  child.once('exit', () => upstreamChildren.delete(child));
  return new ManagedProcess(name, child, logFile);
}

/** The cached upstream programs; built by e2e/peer/build.sh when missing (minutes, once). */
function upstreamProgram(name: 'driver' | 'provider-aws'): string {
  const build = path.join(REPO, 'e2e', 'peer', 'build.sh');
  let file = execFileSync(build, ['path', name], { encoding: 'utf8' }).trim();
  if (!fs.existsSync(file)) {
    say(`building upstream's programs (e2e/peer/build.sh programs)`);
    execFileSync(build, ['programs'], { stdio: ['ignore', 'inherit', 'inherit'] });
    file = execFileSync(build, ['path', name], { encoding: 'utf8' }).trim();
  }
  return file;
}

function versionsEnv(): Record<string, string> {
  const text = fs.readFileSync(path.join(REPO, 'e2e', 'peer', 'versions.env'), 'utf8');
  return Object.fromEntries(
    [...text.matchAll(/^(\w+)=["']?([^"'\n]*)["']?$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
}

interface DriverUnderTest {
  proc: ManagedProcess;
  pid: number;
  stop(): Promise<void>;
}

async function startDriverOf(
  impl: Implementation,
  lab: Lab,
  o: { nodeId: string; socket: string; providerDir: string; rotation?: string },
): Promise<DriverUnderTest> {
  fs.mkdirSync(path.dirname(o.socket), { recursive: true });
  if (impl === 'ours') {
    const proc = await startDriver({
      nodeId: o.nodeId,
      socketPath: o.socket,
      providerDir: o.providerDir,
      kubeconfig: lab.kubeconfig,
      rotation: o.rotation ? { pollInterval: o.rotation } : undefined,
    });
    return { proc, pid: proc.child.pid ?? 0, stop: async () => void (await proc.stop()) };
  }
  // The flags upstream's chart gives its container that matter here; the kubeconfig by KUBECONFIG,
  // which controller-runtime reads.
  const proc = startProgram(
    `upstream-driver-${o.nodeId}`,
    upstreamProgram('driver'),
    [
      `--endpoint=unix://${o.socket}`,
      `--nodeid=${o.nodeId}`,
      `--provider-volume=${o.providerDir}`,
      `--additional-provider-volume-paths=${o.providerDir}`,
      '--metrics-addr=127.0.0.1:0',
      ...(o.rotation ? ['--enable-secret-rotation=true', `--rotation-poll-interval=${o.rotation}`] : []),
    ],
    { ...process.env, KUBECONFIG: lab.kubeconfig },
  );
  await waitForSocket(o.socket, proc);
  return { proc, pid: proc.child.pid ?? 0, stop: async () => void (await proc.stop()) };
}

/**
 * What upstream's AWS provider needs to run outside a pod: in-cluster credentials (a ServiceAccount
 * token bound to cluster-admin, the API server's CA), and STS: its client ignores AWS_ENDPOINT_URL
 * and calls https://sts.<region>.amazonaws.com, so those names resolve to a TLS front (certificate
 * of the lab's CA) that passes the bytes to the lab's AWS endpoint. Both only inside the provider's
 * own mount namespace (its /etc/hosts and /run), nothing on the machine changes.
 */
class UpstreamProviderSupport {
  readonly dir: string;
  private readonly front: tls.Server;
  private readonly cleanup: () => Promise<void>;

  // Plain fields: Node runs this file by stripping types, which parameter properties are not.
  private constructor(dir: string, front: tls.Server, cleanup: () => Promise<void>) {
    this.dir = dir;
    this.front = front;
    this.cleanup = cleanup;
  }

  static async start(lab: Lab, kube: KubeClient, suffix: string): Promise<UpstreamProviderSupport> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-upstream-provider-'));
    const ns = `bench-upstream-${suffix}`;
    await createNamespace(kube, ns);
    await createServiceAccount(kube, ns, 'provider');
    const binding = `bench-upstream-provider-${suffix}`;
    await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: binding },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'provider', namespace: ns }],
    });
    const token = await kube.create<{ status?: { token?: string } }>(
      resourcePath(Resources.serviceAccounts, ns, 'provider', 'token'),
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } },
    );
    const connection = connectionFromKubeconfig(lab.kubeconfig);
    const sa = path.join(dir, 'serviceaccount');
    fs.mkdirSync(sa);
    fs.writeFileSync(path.join(sa, 'token'), token.status?.token ?? '', { mode: 0o600 });
    fs.writeFileSync(path.join(sa, 'ca.crt'), connection.ca ?? '');
    fs.writeFileSync(path.join(sa, 'namespace'), ns);
    const hosts = [`sts.amazonaws.com`, `sts.${lab.awsRegion}.amazonaws.com`];
    fs.writeFileSync(
      path.join(dir, 'hosts'),
      `127.0.0.1 localhost\n${hosts.map((h) => `${STS_FRONT_ADDRESS} ${h}`).join('\n')}\n`,
    );
    // A certificate of the lab's CA for the STS host names, as e2e/peer/run.sh makes one.
    const pki = path.join(lab.stateDir, 'pki');
    const key = path.join(dir, 'front.key');
    const csr = path.join(dir, 'front.csr');
    const crt = path.join(dir, 'front.crt');
    const ext = path.join(dir, 'front.ext');
    fs.writeFileSync(
      ext,
      `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
    );
    const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    openssl([
      ...'req -new -newkey rsa:2048 -nodes -subj /CN=sts.amazonaws.com'.split(' '),
      '-keyout',
      key,
      '-out',
      csr,
    ]);
    openssl([
      ...'x509 -req -days 1 -sha256'.split(' '),
      ...['-in', csr, '-extfile', ext, '-out', crt],
      ...['-CA', path.join(pki, 'ca.crt'), '-CAkey', path.join(pki, 'ca.key')],
      ...['-CAcreateserial', '-CAserial', path.join(dir, 'ca.srl')],
    ]);
    fs.copyFileSync(path.join(pki, 'ca.crt'), path.join(dir, 'lab-ca.crt'));
    const gate = new URL(lab.awsEndpoint);
    const front = tls.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(crt) }, (client) => {
      const upstream = net.connect(Number(gate.port), gate.hostname);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
    });
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject);
      front.listen(443, STS_FRONT_ADDRESS, () => resolve());
    });
    return new UpstreamProviderSupport(dir, front, async () => {
      await kube
        .delete(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${binding}`)
        .catch(() => undefined);
      await deleteNamespace(kube, ns);
    });
  }

  /** The provider's command line, run in a mount namespace of its own with the files above. */
  command(program: string, args: string[]): { file: string; args: string[] } {
    const setup = [
      'mount --bind "$1/hosts" /etc/hosts',
      'mount -t tmpfs tmpfs /run',
      'mkdir -p /run/secrets/kubernetes.io',
      'cp -r "$1/serviceaccount" /run/secrets/kubernetes.io/serviceaccount',
      'shift',
      'exec "$@"',
    ].join(' && ');
    return {
      file: 'unshare',
      args: ['--mount', '--propagation', 'private', 'sh', '-c', setup, 'sh', this.dir, program, ...args],
    };
  }

  env(lab: Lab): NodeJS.ProcessEnv {
    const connection = connectionFromKubeconfig(lab.kubeconfig);
    const api = new URL(connection.server);
    return {
      PATH: process.env.PATH,
      KUBERNETES_SERVICE_HOST: api.hostname,
      KUBERNETES_SERVICE_PORT: api.port || '443',
      AWS_ENDPOINT_URL: lab.awsEndpoint,
      AWS_REGION: lab.awsRegion,
      SSL_CERT_FILE: path.join(this.dir, 'lab-ca.crt'),
    };
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.front.close(resolve));
    await this.cleanup();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

interface ProviderUnderTest {
  pid: number;
  socket: string;
  stop(): Promise<void>;
}

async function startProviderOf(
  impl: Implementation,
  lab: Lab,
  providerDir: string,
  support: UpstreamProviderSupport | undefined,
): Promise<ProviderUnderTest> {
  fs.mkdirSync(providerDir, { recursive: true });
  const socket = path.join(providerDir, 'aws.sock');
  if (impl === 'ours') {
    const proc = await startAwsProvider({
      providerDir,
      kubeconfig: lab.kubeconfig,
      awsEndpoint: lab.awsEndpoint,
    });
    return { pid: proc.child.pid ?? 0, socket, stop: async () => void (await proc.stop()) };
  }
  if (!support) throw new Error("upstream's provider needs its support (UpstreamProviderSupport)");
  // The same flags as ours gets from startAwsProvider, where upstream has them.
  const { file, args } = support.command(upstreamProgram('provider-aws'), [
    `--provider-volume=${providerDir}`,
    '--driver-writes-secrets=true',
    '--qps=50',
    '--burst=100',
  ]);
  const proc = startProgram('upstream-provider-aws', file, args, support.env(lab));
  await waitForSocket(socket, proc);
  return { pid: proc.child.pid ?? 0, socket, stop: async () => void (await proc.stop()) };
}

// --- drivers ------------------------------------------------------------------------------------

async function createPods(kube: KubeClient, ns: string, names: string[], o: Parameters<typeof createPod>[3]) {
  const pods: Pod[] = [];
  for (let i = 0; i < names.length; i += 10)
    pods.push(...(await Promise.all(names.slice(i, i + 10).map((n) => createPod(kube, ns, n, o)))));
  return pods;
}

async function driverRepetition(impl: Implementation, lab: Lab, kube: KubeClient): Promise<DriverRepetition> {
  const suffix = uniqueSuffix();
  const ns = `bench-${impl}-${suffix}`;
  const nodeName = `bench-${impl}-${suffix}`;
  const root = fs.mkdtempSync(path.join(lab.stateDir, `bench-sbs-${impl}-${suffix}-`));
  const kubeletRoot = path.join(root, 'kubelet');
  const providerDir = path.join(root, 'providers');
  const socket = path.join(root, 'csi', 'csi.sock');
  fs.mkdirSync(kubeletRoot, { recursive: true });
  fs.mkdirSync(providerDir, { recursive: true });
  await createNamespace(kube, ns);
  const provider = new TestProvider(path.join(providerDir, 'test.sock'));
  await provider.start();
  provider.set('username', 'mamezou-tech', 'v1');
  provider.set('password', 'my-super-secret-password', 'v1');
  const driver = await startDriverOf(impl, lab, { nodeId: nodeName, socket, providerDir });
  const kubelet = new KubeletStandIn({ kube, nodeName, driverSocket: socket, rootDir: kubeletRoot });
  try {
    await kubelet.registerNode();
    await createSecretProviderClass(kube, ns, 'bench', {
      provider: 'test',
      parameters: { objects: 'username,password' },
    });
    const podOptions = { nodeName, volumes: [{ name: 'secrets', spc: 'bench' }] };
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    const warm = await createPods(kube, ns, names('warm', 3), podOptions);
    const sequentialPods = await createPods(kube, ns, names('seq', SEQUENTIAL), podOptions);
    const burstPods = await createPods(kube, ns, names('burst', BURST), podOptions);
    await sleep(2000);
    const idleMemory = memoryOf(driver.pid);

    for (const pod of warm) await kubelet.sendPublish(await kubelet.preparePublish(pod, 'secrets'));
    await kubelet.unpublishAll();

    const timed = async (prepared: PreparedPublish) => {
      const start = performance.now();
      await kubelet.sendPublish(prepared);
      return performance.now() - start;
    };
    const sequentialMs: number[] = [];
    let cpu = cpuMs(driver.pid);
    for (const pod of sequentialPods)
      sequentialMs.push(await timed(await kubelet.preparePublish(pod, 'secrets')));
    await sleep(500);
    let after = cpuMs(driver.pid);
    const cpuPerPublishMs = (after.total - cpu.total) / SEQUENTIAL;
    const childCpuPerPublishMs = (after.children - cpu.children) / SEQUENTIAL;
    await kubelet.unpublishAll();

    const prepared = await Promise.all(burstPods.map((pod) => kubelet.preparePublish(pod, 'secrets')));
    cpu = cpuMs(driver.pid);
    const wallStart = performance.now();
    await Promise.all(prepared.map((p) => kubelet.sendPublish(p)));
    const burstWallMs = performance.now() - wallStart;
    await sleep(2000);
    after = cpuMs(driver.pid);
    const burstCpuPerPublishMs = (after.total - cpu.total) / BURST;
    const burstVolumes = mountsUnder(kubeletRoot).length;
    const burstMemory = memoryOf(driver.pid);
    await kubelet.unpublishAll();
    return {
      impl,
      idleRssMiB: idleMemory.rss,
      burstRssMiB: burstMemory.rss,
      idleMemory,
      burstMemory,
      sequentialMs,
      cpuPerPublishMs,
      childCpuPerPublishMs,
      burstVolumes,
      burstWallMs,
      burstCpuPerPublishMs,
    };
  } finally {
    await kubelet.unpublishAll().catch(() => undefined);
    await kubelet.stop();
    await driver.stop();
    await provider.stop();
    await deleteNamespace(kube, ns);
    await kube.delete(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
    const leftovers = mountsUnder(root);
    if (leftovers.length > 0)
      say(`mounts left under ${root}: ${leftovers.map((m) => m.mountPoint).join(', ')}`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

// --- providers ----------------------------------------------------------------------------------

interface AwsObjects {
  roleArn: string;
  secret: string;
  parameters: string[];
  objects: string;
}

async function awsObjects(lab: Lab, suffix: string, admin: ReturnType<typeof awsAdmin>): Promise<AwsObjects> {
  const read = [{ Effect: 'Allow', Action: ['secretsmanager:*', 'ssm:GetParameters'], Resource: '*' }];
  const roleArn = await createRole(admin.iam, `sbs-${suffix}`, read);
  const secret = `MyDBSecret-${suffix}`;
  const parameters = [`/${suffix}/db/username`, `/${suffix}/db/password`];
  await admin.secretsManager.send(
    new CreateSecretCommand({ Name: secret, SecretString: '{"username":"u","password":"p"}' }),
  );
  await admin.ssm.send(new PutParameterCommand({ Name: parameters[0], Value: 'u', Type: 'String' }));
  await admin.ssm.send(new PutParameterCommand({ Name: parameters[1], Value: 'p', Type: 'SecureString' }));
  const objects = [
    `- {objectName: ${secret}, objectType: secretsmanager}`,
    ...parameters.map((p) => `- {objectName: "${p}", objectType: ssmparameter}`),
  ].join('\n');
  return { roleArn, secret, parameters, objects };
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(after))
    if (n - (before[key] ?? 0) > 0) out[key] = n - (before[key] ?? 0);
  return out;
}
const total = (calls: Record<string, number>) => Object.values(calls).reduce((a, b) => a + b, 0);

/** What the providers and rotation parts start from: a namespace whose ServiceAccount `app` has the objects' role, and a provider serving under a folder of the run's own. */
interface ProviderScene {
  suffix: string;
  ns: string;
  root: string;
  providerDir: string;
  provider: ProviderUnderTest;
  /** Stops the provider and deletes the namespace; removing `root` is the caller's, once nothing is mounted there. */
  stop(): Promise<void>;
}

async function startProviderScene(
  part: 'aws' | 'rot',
  impl: Implementation,
  lab: Lab,
  kube: KubeClient,
  aws: AwsObjects,
  support: UpstreamProviderSupport | undefined,
): Promise<ProviderScene> {
  const suffix = uniqueSuffix();
  const ns = `bench-${part}-${impl}-${suffix}`;
  const root = fs.mkdtempSync(path.join(lab.stateDir, `bench-sbs-${part}-${impl}-${suffix}-`));
  const providerDir = path.join(root, 'providers');
  try {
    await createNamespace(kube, ns);
    await createServiceAccount(kube, ns, 'app', aws.roleArn);
    const provider = await startProviderOf(impl, lab, providerDir, support);
    const stop = async () => {
      await provider.stop();
      await deleteNamespace(kube, ns);
    };
    return { suffix, ns, root, providerDir, provider, stop };
  } catch (err) {
    await deleteNamespace(kube, ns).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

async function providerRepetition(
  impl: Implementation,
  lab: Lab,
  kube: KubeClient,
  gate: AwsGate,
  aws: AwsObjects,
  support: UpstreamProviderSupport | undefined,
): Promise<ProviderRepetition> {
  const scene = await startProviderScene('aws', impl, lab, kube, aws, support);
  const { ns, root, provider } = scene;
  const api = new ProviderApiClient(provider.socket);
  try {
    // Real pods (never started), so that their tokens are bound to them as the kubelet's are.
    const pods = await createPods(
      kube,
      ns,
      Array.from({ length: PROVIDER_PODS }, (_, i) => `pod-${i}`),
      { nodeName: 'bench-node', serviceAccountName: 'app', volumes: [] },
    );
    const tokens = await Promise.all(
      pods.map((pod) =>
        mintTokens(kube, ns, 'app', ['sts.amazonaws.com'], {
          name: pod.metadata.name ?? '',
          uid: pod.metadata.uid ?? '',
        }),
      ),
    );
    await sleep(2000);
    const idleMemory = memoryOf(provider.pid);
    const mount = (i: number, current: Array<{ id: string; version: string }> = []) =>
      api.mount({
        attributes: {
          'csi.storage.k8s.io/pod.name': pods[i]?.metadata.name ?? '',
          'csi.storage.k8s.io/pod.namespace': ns,
          'csi.storage.k8s.io/pod.uid': pods[i]?.metadata.uid ?? '',
          'csi.storage.k8s.io/serviceAccount.name': 'app',
          'csi.storage.k8s.io/serviceAccount.tokens': tokens[i] ?? '',
          region: lab.awsRegion,
          objects: aws.objects,
        },
        targetPath: path.join(root, `pod-${i}`),
        currentObjectVersion: current,
      });
    const mountMs: number[] = [];
    const versions: Array<Array<{ id: string; version: string }>> = [];
    let calls = await gate.snapshot();
    for (let i = 0; i < PROVIDER_PODS; i++) {
      if (i === 1) calls = await gate.snapshot();
      const start = performance.now();
      const res = await mount(i);
      mountMs.push(performance.now() - start);
      versions.push(res.objectVersion.map((v) => ({ id: v.id, version: v.version })));
      // What the driver does with the answer: upstream's provider reads these files on a remount.
      for (const f of res.files) {
        const file = path.join(root, `pod-${i}`, f.path);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, f.contents);
      }
    }
    const firstMounts = delta(calls, await gate.snapshot());
    const stsAfterFirst = Object.entries(firstMounts)
      .filter(([k]) => k.endsWith('.AssumeRoleWithWebIdentity'))
      .reduce((sum, [, n]) => sum + n, 0);
    await sleep(2000);
    const mountedMemory = memoryOf(provider.pid);
    calls = await gate.snapshot();
    for (let i = 1; i < PROVIDER_PODS; i++) await mount(i, versions[i]);
    const remountByOperation = delta(calls, await gate.snapshot());
    return {
      impl,
      idleRssMiB: idleMemory.rss,
      mountedRssMiB: mountedMemory.rss,
      idleMemory,
      mountedMemory,
      pods: PROVIDER_PODS,
      mountMs,
      stsAfterFirst,
      remountCalls: total(remountByOperation),
      remountByOperation,
    };
  } finally {
    api.close();
    await scene.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

// --- rotation -----------------------------------------------------------------------------------

async function rotationRun(
  impl: Implementation,
  lab: Lab,
  kube: KubeClient,
  admin: ReturnType<typeof awsAdmin>,
  aws: AwsObjects,
  support: UpstreamProviderSupport | undefined,
  samples: number,
): Promise<RotationRun> {
  const scene = await startProviderScene('rot', impl, lab, kube, aws, support);
  const { suffix, ns, root, providerDir, provider } = scene;
  const nodeName = `bench-rot-${impl}-${suffix}`;
  const kubeletRoot = path.join(root, 'kubelet');
  const socket = path.join(root, 'csi', 'csi.sock');
  fs.mkdirSync(kubeletRoot, { recursive: true });
  const secret = `rotation-${impl}-${suffix}`;
  await admin.secretsManager.send(new CreateSecretCommand({ Name: secret, SecretString: 'v0' }));
  const driver = await startDriverOf(impl, lab, {
    nodeId: nodeName,
    socket,
    providerDir,
    rotation: ROTATION_POLL_INTERVAL,
  });
  const kubelet = new KubeletStandIn({
    kube,
    nodeName,
    driverSocket: socket,
    rootDir: kubeletRoot,
    republishIntervalMs: REPUBLISH_INTERVAL_MS,
  });
  try {
    await kubelet.registerNode();
    await createSecretProviderClass(kube, ns, 'rotation', {
      provider: 'aws',
      parameters: { region: lab.awsRegion, objects: `- {objectName: ${secret}, objectType: secretsmanager}` },
    });
    const pod = await createPod(kube, ns, 'app', {
      nodeName,
      serviceAccountName: 'app',
      volumes: [{ name: 'secrets', spc: 'rotation' }],
    });
    const file = path.join(kubelet.targetPath(pod, 'secrets'), secret);
    const read = () => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    };
    const waitForValue = async (value: string, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (read() !== value) {
        if (performance.now() > deadline) return false;
        await sleep(5);
      }
      return true;
    };
    await kubelet.start();
    if (!(await waitForValue('v0', 60_000)))
      throw new Error(
        `${impl}: the first mount did not write ${file}: ${kubelet.lastErrors.get(`${ns}/app`) ?? ''}`,
      );
    const latenciesMs: number[] = [];
    let missed = 0;
    for (let i = 1; i <= samples; i++) {
      // A random phase against the poll interval and the republish period, so that the samples
      // cover the whole cycle rather than the moment just after a refresh.
      await sleep(Math.random() * (ROTATION_POLL_MS + REPUBLISH_INTERVAL_MS));
      const value = `v${i}`;
      await admin.secretsManager.send(new PutSecretValueCommand({ SecretId: secret, SecretString: value }));
      const start = performance.now();
      if (await waitForValue(value, 30_000)) latenciesMs.push(performance.now() - start);
      else missed += 1;
    }
    // Once the last refresh's work is over: what the pair holds while it serves a node.
    await sleep(2000);
    let pair: PairMemory | undefined;
    try {
      pair = pairMemoryOf(driver.pid, provider.pid);
    } catch (err) {
      // Not root: the latency samples stand; the report leaves out the pair's rows.
      say(`the pair's memory was not read: ${(err as Error).message}`);
    }
    return { impl, latenciesMs, missed, pair };
  } finally {
    // As a pod deletion ends on a node: the stand-in unpublishes its volumes, then stops.
    await kube
      .delete(resourcePath(Resources.pods, ns, 'app'), { body: { gracePeriodSeconds: 30 } })
      .catch(() => undefined);
    const deadline = Date.now() + 30_000;
    while (mountsUnder(kubeletRoot).length > 0 && Date.now() < deadline) await sleep(100);
    await kubelet.stop();
    await driver.stop();
    await scene.stop();
    await kube.delete(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
    const leftovers = mountsUnder(root);
    if (leftovers.length > 0)
      say(`mounts left under ${root}: ${leftovers.map((m) => m.mountPoint).join(', ')}`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

// --- report -------------------------------------------------------------------------------------

function printReport(results: SideBySideResults): void {
  const rows = comparisonRows(results);
  process.stdout.write(
    `\nSide by side, ${results.date}, ${results.machine}, ${results.node}; ours with ` +
      `${results.oursFlags.driver.join(' ') || 'no flags'} (driver), ${results.oursFlags.provider.join(' ') || 'no flags'} (provider); ` +
      `upstream driver ${results.upstreamVersions.driver}, AWS provider ${results.upstreamVersions.provider}\n\n` +
      `${markdownTable(['figure', 'upstream', 'ours', 'ours / upstream'], rows)}\n`,
  );
  const p = results.providers;
  if (p) {
    for (const impl of ['upstream', 'ours'] as const) {
      const ops: Record<string, number[]> = {};
      for (const run of p.runs.filter((r) => r.impl === impl))
        for (const [op, n] of Object.entries(run.remountByOperation)) (ops[op] ??= []).push(n);
      process.stdout.write(
        `remount calls, ${impl}: ${Object.entries(ops)
          .map(([op, ns]) => `${op} ${median(ns)}`)
          .join(', ')}\n`,
      );
    }
  }
  const rot = results.rotation;
  if (rot)
    for (const run of rot.runs)
      process.stdout.write(
        `rotation ${run.impl}: ${run.latenciesMs.length} samples, ${run.missed} missed the 30 s deadline\n`,
      );
}

async function drawChart(results: SideBySideResults, file: string): Promise<void> {
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const spec = vegaLite.compile(rotationChartSpec(results) as never).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${await view.toSVG()}\n`);
  view.finalize();
  say(`chart written to ${path.relative(REPO, file)}`);
}

// --- main ---------------------------------------------------------------------------------------

const PARTS = ['drivers', 'providers', 'rotation'] as const;
type Part = (typeof PARTS)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      parts: { type: 'string', default: PARTS.join(',') },
      repetitions: { type: 'string', default: '3' },
      samples: { type: 'string', default: '40' },
      results: { type: 'string', default: path.join(REPO, 'bench', 'results', 'side-by-side.json') },
      chart: { type: 'string', default: path.join(REPO, 'docs', 'rotation-latency.svg') },
      report: { type: 'boolean', default: false },
    },
  });
  const resultsFile = path.resolve(values.results);
  const chartFile = path.resolve(values.chart);
  const saved: SideBySideResults | undefined = fs.existsSync(resultsFile)
    ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as SideBySideResults)
    : undefined;
  if (values.report) {
    if (!saved) throw new Error(`no results in ${resultsFile}: run the benchmark first`);
    printReport(saved);
    if (saved.rotation) await drawChart(saved, chartFile);
    return;
  }
  const parts = values.parts.split(',').map((p) => p.trim());
  for (const p of parts)
    if (!(PARTS as readonly string[]).includes(p))
      throw new Error(`--parts: unknown part ${p} (${PARTS.join(', ')})`);
  const want = (p: Part) => parts.includes(p);
  const repetitions = Number(values.repetitions);
  const samples = Number(values.samples);
  if (!Number.isInteger(repetitions) || repetitions < 1)
    throw new Error('--repetitions must be a whole number >= 1');
  if (!Number.isInteger(samples) || samples < 1) throw new Error('--samples must be a whole number >= 1');

  const versions = versionsEnv();
  const results: SideBySideResults = {
    ...saved,
    date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, shared`,
    node: `Node.js ${process.versions.node}`,
    oursFlags: { driver: shebangFlags(DRIVER_MAIN), provider: shebangFlags(PROVIDER_AWS_MAIN) },
    upstreamVersions: {
      driver: versions.PEER_DRIVER_VERSION ?? 'unknown',
      provider: versions.PEER_PROVIDER_AWS_VERSION ?? 'unknown',
    },
  };
  // Both upstream programs before anything starts, so that a missing build fails early.
  upstreamProgram('driver');
  upstreamProgram('provider-aws');

  const lab = requireLab();
  if (process.env.LAB_MODE === 'node')
    throw new Error(
      "the lab runs with its node, whose API server holds port 443, which upstream's provider needs for STS: use the lab without its node (make lab-up)",
    );
  const kube = adminClient(lab);
  const gate = AwsGate.of(lab);
  const admin = awsAdmin(lab);
  const suffix = uniqueSuffix();
  let support: UpstreamProviderSupport | undefined;
  // Formatted as the repository's prettier check wants it, since the results are committed.
  const save = async () => {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(resultsFile)) ?? {};
    fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
    fs.writeFileSync(
      resultsFile,
      await prettier.format(JSON.stringify(results), { ...options, parser: 'json' }),
    );
  };
  try {
    await ensureCrds(lab, kube);
    await ensureCsiDriver(kube, DEFAULT_CSI_DRIVER);
    // Alternating which goes first, so that neither always meets a warmer or a busier machine.
    const order = (r: number): Implementation[] =>
      r % 2 === 0 ? ['upstream', 'ours'] : ['ours', 'upstream'];
    if (want('drivers')) {
      const runs: DriverRepetition[] = [];
      for (let r = 0; r < repetitions; r++)
        for (const impl of order(r)) {
          say(`drivers: repetition ${r + 1}/${repetitions}, ${impl}`);
          runs.push(await driverRepetition(impl, lab, kube));
        }
      results.drivers = { repetitions, sequential: SEQUENTIAL, burst: BURST, runs };
      await save();
    }
    if (want('providers') || want('rotation')) {
      support = await UpstreamProviderSupport.start(lab, kube, suffix);
      const aws = await awsObjects(lab, suffix, admin);
      if (want('providers')) {
        const runs: ProviderRepetition[] = [];
        for (let r = 0; r < repetitions; r++)
          for (const impl of order(r)) {
            say(`providers: repetition ${r + 1}/${repetitions}, ${impl}`);
            runs.push(await providerRepetition(impl, lab, kube, gate, aws, support));
          }
        results.providers = { repetitions, pods: PROVIDER_PODS, runs };
        await save();
      }
      if (want('rotation')) {
        const runs: RotationRun[] = [];
        for (const impl of order(0)) {
          say(`rotation: ${impl}, ${samples} samples`);
          runs.push(await rotationRun(impl, lab, kube, admin, aws, support, samples));
        }
        results.rotation = {
          pollInterval: ROTATION_POLL_INTERVAL,
          republishIntervalMs: REPUBLISH_INTERVAL_MS,
          samples,
          runs,
        };
        await save();
      }
    }
  } finally {
    await support?.stop();
    admin.destroy();
    kube.close();
  }
  printReport(results);
  if (results.rotation) await drawChart(results, chartFile);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
