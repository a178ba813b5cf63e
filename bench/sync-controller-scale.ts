// The sync controller at scale, side by side with upstream's (issue 23, item 6): the same SecretSyncs,
// in the same run, synced by our controller and by kubernetes-sigs/secrets-store-sync-controller
// (SSC, built from the peer folder by e2e/peer/build.sh), each as a local process calling our AWS
// provider (a local process on its own socket folder, AWS_ENDPOINT_URL = the lab's gate).
//
// The spread (per team, `--teams` of them; 10 by default):
//   - a namespace with 5 ServiceAccounts app0..app4, each an IRSA role of its own;
//   - 10 objects: Secrets Manager secrets secret0..secret4 (a 200-byte JSON string) and SSM
//     SecureString parameters param0..param4;
//   - 5 SecretProviderClasses class0..class4: class k lists secret k, secret k+1 and param k (mod 5),
//     each with an alias (the file name);
//   - app j has SecretSyncs on class j (its own) and on class j+1 (its neighbour's), `--syncs-per-class`
//     of each (10 by default), each mapping the class's 3 files to 3 keys;
//   - app j's role may read what those two classes name: secrets j, j+1, j+2 and params j, j+1.
// With 10 teams: 50 ServiceAccounts, 100 objects, 50 classes, 1,000 SecretSyncs, 100 distinct
// (ServiceAccount, class) pairs and 250 distinct (identity, object) pairs: 150 secrets, 100
// parameters. Secret j+1 is in both classes app j uses: the one overlap a controller that coalesces
// per class cannot see.
//
// Phases, one controller at a time (both watch every namespace):
//   1. SSC on fresh namespaces (set A): SecretSyncs created while it runs, time from each create to
//      its Secret; then idle polls, then a poll after one secret was rotated.
//   2. Ours started against set A as SSC left it: a migration. Nothing may be rewritten (same hash).
//   3. Set A deleted; ours on fresh namespaces (set B), measured as in 1.
//   4. SSC started against set B as ours left it: the migration back; nothing may be rewritten.
// (`--impls=ours` or `--impls=ssc`: phase 1 only, for that controller.)
// Per poll: the reconciles, the AWS calls by action (the gate's counters), the controller's and the
// provider's CPU time (/proc/<pid>/stat), the controller's API requests (its own metrics: ours
// kubernetes_api_requests_total, SSC's client-go rest_client_requests_total), Secrets written.
//
//   node bench/sync-controller-scale.ts [--quick] [--teams=10] [--syncs-per-class=10]
//        [--poll-interval=120s] [--idle-polls=2] [--impls=ssc,ours]
//        [--results=bench/results/sync-controller-scale.json]
//   node bench/sync-controller-scale.ts --report     the tables again from the saved results
//
// Environment knobs for `make bench BENCHES=sync-controller-scale`: BENCH_QUICK=1, BENCH_TEAMS,
// BENCH_SYNCS_PER_CLASS, BENCH_POLL_INTERVAL, BENCH_IDLE_POLLS, BENCH_IMPLS. Needs the lab (host mode is enough)
// and `make build`; builds upstream's sync controller first when it is not cached (minutes, once).
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { KubeClient, KubeObject, Secret } from '@sscsi/common';
import { Informer, Resources, resourcePath } from '@sscsi/common';
import type { Lab } from '@sscsi/e2e';
import {
  adminClient,
  AwsGate,
  awsAdmin,
  createNamespace,
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  ensureCrds,
  kubectl,
  LAB_ACCOUNT,
  logDir,
  ManagedProcess,
  metricValue,
  REPO_ROOT,
  requireLab,
  startAwsProvider,
  startNodeProgram,
  uniqueSuffix,
} from '@sscsi/e2e';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import type { ProcessMemory } from './stats.ts';
import { percentile, printTable, processMemory } from './stats.ts';

type Impl = 'ours' | 'ssc';
const NAMES: Record<Impl, string> = { ours: 'ours', ssc: "SSC's" };

const APPS = 5;
const SYNC_CONTROLLER_MAIN = path.join(REPO_ROOT, 'sync-controller', 'dist', 'main.js');
const SECRETSYNC_CRD = path.join(
  REPO_ROOT,
  'charts',
  'secrets-store-sync-controller',
  'crds',
  'secret-sync.x-k8s.io_secretsyncs.yaml',
);
const SECRET_SYNCS = {
  group: 'secret-sync.x-k8s.io',
  version: 'v1alpha1',
  plural: 'secretsyncs',
  kind: 'SecretSync',
  namespaced: true,
};
/** The label both controllers put on the Secrets they write. */
const SYNCED_LABEL = 'secrets-store.sync.x-k8s.io';
const CLOCK_TICKS_PER_SECOND = 100;
const SAMPLE_MS = 500;
const CREATE_WIDTH = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (text: string) => process.stderr.write(`[sync-controller-scale] ${text}\n`);

// --- the shape ----------------------------------------------------------------------------------

interface Shape {
  teams: number;
  syncsPerClass: number;
  pollInterval: string;
  pollMs: number;
  idlePolls: number;
}

const mod = (n: number) => ((n % APPS) + APPS) % APPS;
/** What class k names: secret k, secret k+1, param k. */
const classObjects = (k: number) => ({ secrets: [k, mod(k + 1)], params: [k] });
/** The classes app j uses: its own and its neighbour's. */
const appClasses = (j: number) => [j, mod(j + 1)];

function syncCount(shape: Shape): number {
  return shape.teams * APPS * 2 * shape.syncsPerClass;
}

/** Distinct (identity, object) pairs of the spread: what one poll needs at least. */
function distinctPairs(shape: Shape): { secrets: number; params: number } {
  let secrets = 0;
  let params = 0;
  for (let j = 0; j < APPS; j++) {
    const s = new Set<number>();
    const p = new Set<number>();
    for (const k of appClasses(j)) {
      classObjects(k).secrets.forEach((x) => s.add(x));
      classObjects(k).params.forEach((x) => p.add(x));
    }
    secrets += s.size;
    params += p.size;
  }
  return { secrets: secrets * shape.teams, params: params * shape.teams };
}

interface AwsNames {
  secret(team: number, k: number): string;
  param(team: number, k: number): string;
  role(team: number, j: number): string;
}

function awsNames(suffix: string): AwsNames {
  return {
    secret: (t, k) => `bench-scale-${suffix}-t${t}-secret${k}`,
    param: (t, k) => `/bench-scale-${suffix}/t${t}/param${k}`,
    role: (t, j) => `arn:aws:iam::${LAB_ACCOUNT}:role/bench-scale-${suffix}-t${t}-app${j}`,
  };
}

async function createAwsObjects(
  lab: Lab,
  admin: ReturnType<typeof awsAdmin>,
  shape: Shape,
  names: AwsNames,
  suffix: string,
): Promise<void> {
  const region = lab.awsRegion;
  for (let t = 0; t < shape.teams; t++) {
    for (let k = 0; k < APPS; k++) {
      const value = JSON.stringify({
        username: `team${t}-service${k}`,
        password: crypto.randomBytes(48).toString('base64url'),
        host: `db-${t}-${k}.example.internal`,
        port: 5432,
      });
      await admin.secretsManager.send(
        new CreateSecretCommand({ Name: names.secret(t, k), SecretString: value }),
      );
      await admin.ssm.send(
        new PutParameterCommand({
          Name: names.param(t, k),
          Value: crypto.randomBytes(24).toString('base64url'),
          Type: 'SecureString',
        }),
      );
    }
    for (let j = 0; j < APPS; j++) {
      const secrets = new Set<number>();
      const params = new Set<number>();
      for (const k of appClasses(j)) {
        classObjects(k).secrets.forEach((x) => secrets.add(x));
        classObjects(k).params.forEach((x) => params.add(x));
      }
      await createRole(admin.iam, `bench-scale-${suffix}-t${t}-app${j}`, [
        {
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
          Resource: [...secrets].map(
            (k) => `arn:aws:secretsmanager:${region}:${LAB_ACCOUNT}:secret:${names.secret(t, k)}-*`,
          ),
        },
        {
          Effect: 'Allow',
          Action: 'ssm:GetParameters',
          Resource: [...params].map(
            (k) => `arn:aws:ssm:${region}:${LAB_ACCOUNT}:parameter${names.param(t, k)}`,
          ),
        },
      ]);
    }
  }
}

/** One set of namespaces (one per team) with its ServiceAccounts and classes, no SecretSyncs yet. */
async function createTeams(
  kube: KubeClient,
  shape: Shape,
  names: AwsNames,
  prefix: string,
): Promise<string[]> {
  const namespaces: string[] = [];
  for (let t = 0; t < shape.teams; t++) {
    const ns = `${prefix}-t${t}`;
    namespaces.push(ns);
    await createNamespace(kube, ns);
    for (let j = 0; j < APPS; j++) await createServiceAccount(kube, ns, `app${j}`, names.role(t, j));
    for (let k = 0; k < APPS; k++) {
      const { secrets, params } = classObjects(k);
      const objects = [
        ...secrets.map(
          (s) =>
            `- {objectName: "${names.secret(t, s)}", objectType: secretsmanager, objectAlias: secret${s}}`,
        ),
        ...params.map(
          (p) => `- {objectName: "${names.param(t, p)}", objectType: ssmparameter, objectAlias: param${p}}`,
        ),
      ].join('\n');
      await createSecretProviderClass(kube, ns, `class${k}`, { provider: 'aws', parameters: { objects } });
    }
  }
  return namespaces;
}

interface SecretSyncObject extends KubeObject {
  status?: { syncHash?: string };
}

/** The SecretSyncs of a set, in creation order (teams interleaved, so that every team starts early). */
function secretSyncs(shape: Shape, namespaces: string[]): SecretSyncObject[] {
  const out: SecretSyncObject[] = [];
  for (let n = 0; n < shape.syncsPerClass; n++)
    for (let j = 0; j < APPS; j++)
      for (const k of appClasses(j))
        namespaces.forEach((ns) => {
          const { secrets, params } = classObjects(k);
          const files = [...secrets.map((s) => `secret${s}`), ...params.map((p) => `param${p}`)];
          out.push({
            apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
            kind: 'SecretSync',
            metadata: { name: `app${j}-class${k}-${n}`, namespace: ns },
            spec: {
              serviceAccountName: `app${j}`,
              secretProviderClassName: `class${k}`,
              secretObject: {
                type: 'Opaque',
                data: files.map((f) => ({ sourcePath: f, targetKey: f })),
              },
            },
          } as SecretSyncObject);
        });
  return out;
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

// --- processes ----------------------------------------------------------------------------------

/** User plus system CPU time of a process (all its threads), ms. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** The cached upstream sync controller; built by e2e/peer/build.sh when missing. */
function upstreamSyncController(): string {
  const build = path.join(REPO_ROOT, 'e2e', 'peer', 'build.sh');
  let file = execFileSync(build, ['path', 'sync-controller'], { encoding: 'utf8' }).trim();
  if (!fs.existsSync(file)) {
    say("building upstream's programs (e2e/peer/build.sh programs)");
    execFileSync(build, ['programs'], { stdio: ['ignore', 'inherit', 'inherit'] });
    file = execFileSync(build, ['path', 'sync-controller'], { encoding: 'utf8' }).trim();
  }
  return file;
}

const children = new Set<ReturnType<typeof spawn>>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

interface ControllerUnderTest {
  impl: Impl;
  proc: ManagedProcess;
  pid: number;
  metricsUrl: string;
  /** Reconciles so far (controller-runtime's counter, every result). */
  reconciles(): Promise<number>;
  /** API requests so far, as the controller counts them. */
  apiRequests(): Promise<number>;
}

async function startController(
  impl: Impl,
  lab: Lab,
  providerDir: string,
  pollInterval: string,
  sscProgram: string,
): Promise<ControllerUnderTest> {
  const metricsPort = await freePort();
  const probePort = await freePort();
  // What SSC's chart passes, but the leader election (one replica) and the addresses.
  const args = [
    `--kubeconfig=${lab.kubeconfig}`,
    `--provider-volume=${providerDir}`,
    '--token-request-audience=sts.amazonaws.com',
    `--rotation-poll-interval=${pollInterval}`,
    `--metrics-bind-address=127.0.0.1:${metricsPort}`,
    `--health-probe-bind-address=127.0.0.1:${probePort}`,
  ];
  const env = {
    ...process.env,
    SYNC_CONTROLLER_POD_NAME: `bench-${impl}`,
    SYNC_CONTROLLER_POD_UID: crypto.randomUUID(),
  };
  let proc: ManagedProcess;
  if (impl === 'ours') {
    proc = startNodeProgram('sync-controller', SYNC_CONTROLLER_MAIN, args, env);
  } else {
    const logFile = path.join(logDir(), `upstream-sync-controller-${Date.now()}.log`);
    const out = fs.openSync(logFile, 'a');
    const child = spawn(sscProgram, args, { stdio: ['ignore', out, out], env });
    fs.closeSync(out);
    children.add(child);
    child.once('exit', () => children.delete(child));
    proc = new ManagedProcess('upstream-sync-controller', child, logFile);
  }
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${probePort}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (
      ready &&
      (await fetch(metricsUrl).then(
        (r) => r.ok,
        () => false,
      ))
    )
      break;
    if (!proc.running) throw new Error(`${proc.name} exited:\n${proc.logs().slice(-3000)}`);
    if (Date.now() > deadline)
      throw new Error(`${proc.name} did not get ready:\n${proc.logs().slice(-3000)}`);
    await sleep(200);
  }
  return {
    impl,
    proc,
    pid: proc.child.pid ?? 0,
    metricsUrl,
    reconciles: () =>
      metricValue(metricsUrl, 'controller_runtime_reconcile_total', { controller: 'secretsync' }),
    apiRequests: () =>
      metricValue(
        metricsUrl,
        impl === 'ours' ? 'kubernetes_api_requests_total' : 'rest_client_requests_total',
      ),
  };
}

interface ProviderUnderTest {
  proc: ManagedProcess;
  pid: number;
  dir: string;
  mounts(): Promise<number>;
}

async function startProvider(lab: Lab, root: string): Promise<ProviderUnderTest> {
  const dir = fs.mkdtempSync(path.join(root, 'providers-'));
  const proc = await startAwsProvider({
    providerDir: dir,
    kubeconfig: lab.kubeconfig,
    awsEndpoint: lab.awsEndpoint,
    region: lab.awsRegion,
  });
  return {
    proc,
    pid: proc.child.pid ?? 0,
    dir,
    mounts: () => metricValue(proc.metricsUrl, 'aws_provider_mount_duration_seconds_count'),
  };
}

// --- what the bench watches -------------------------------------------------------------------

/** The Secrets and SecretSyncs of the namespaces with a prefix: when each appeared and changed. */
class Watcher {
  readonly secretAddedAt = new Map<string, number>();
  secretWrites = 0;
  private readonly prefix: string;
  private readonly secrets: Informer<Secret>;
  private readonly syncs: Informer<SecretSyncObject>;

  // Plain fields: Node runs this file by stripping types, which parameter properties are not.
  constructor(kube: KubeClient, prefix: string) {
    this.prefix = prefix;
    const mine = (o: KubeObject) => (o.metadata.namespace ?? '').startsWith(prefix);
    const key = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
    this.secrets = new Informer<Secret>(kube, Resources.secrets, { labelSelector: SYNCED_LABEL });
    this.secrets.addHandlers({
      added: (s) => {
        if (!mine(s)) return;
        if (!this.secretAddedAt.has(key(s))) this.secretAddedAt.set(key(s), performance.now());
        this.secretWrites += 1;
      },
      updated: (s, old) => {
        if (mine(s) && s.metadata.resourceVersion !== old.metadata.resourceVersion) this.secretWrites += 1;
      },
    });
    this.syncs = new Informer<SecretSyncObject>(kube, SECRET_SYNCS);
  }

  async start(): Promise<void> {
    this.secrets.start();
    this.syncs.start();
    await this.secrets.waitForSync();
    await this.syncs.waitForSync();
  }

  async stop(): Promise<void> {
    await this.secrets.stop();
    await this.syncs.stop();
  }

  private mine<T extends KubeObject>(list: T[]): T[] {
    return list.filter((o) => (o.metadata.namespace ?? '').startsWith(this.prefix));
  }

  syncedCount(): number {
    return this.mine(this.syncs.list()).filter((s) => s.status?.syncHash).length;
  }

  syncCount(): number {
    return this.mine(this.syncs.list()).length;
  }

  /** resourceVersions of the set's Secrets and SecretSyncs, by kind and key. */
  versions(): Map<string, string> {
    const out = new Map<string, string>();
    for (const s of this.mine(this.secrets.list()))
      out.set(`Secret ${s.metadata.namespace}/${s.metadata.name}`, s.metadata.resourceVersion ?? '');
    for (const s of this.mine(this.syncs.list()))
      out.set(`SecretSync ${s.metadata.namespace}/${s.metadata.name}`, s.metadata.resourceVersion ?? '');
    return out;
  }

  hashes(): Map<string, string> {
    return new Map(
      this.mine(this.syncs.list()).map((s) => [
        `${s.metadata.namespace}/${s.metadata.name}`,
        s.status?.syncHash ?? '',
      ]),
    );
  }
}

interface Sample {
  t: number;
  controllerCpuMs: number;
  providerCpuMs: number;
  reconciles: number;
  mounts: number;
}

async function sample(ctl: ControllerUnderTest, provider: ProviderUnderTest): Promise<Sample> {
  const [reconciles, mounts] = await Promise.all([ctl.reconciles(), provider.mounts()]);
  return {
    t: performance.now(),
    controllerCpuMs: cpuMs(ctl.pid),
    providerCpuMs: cpuMs(provider.pid),
    reconciles,
    mounts,
  };
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(after))
    if (n - (before[key] ?? 0) > 0) out[key] = n - (before[key] ?? 0);
  return out;
}

// --- phases -------------------------------------------------------------------------------------

interface PollFigures {
  kind: 'idle' | 'rotated';
  /** First sample with work under way to the one with every SecretSync reconciled. */
  durationMs: number;
  reconciles: number;
  providerCalls: number;
  controllerCpuMs: number;
  providerCpuMs: number;
  aws: Record<string, number>;
  apiRequests: number;
  secretWrites: number;
  /** CPU of the controller between the previous poll and this one, ms per second. */
  idleCpuMsPerS: number;
}

interface FreshRun {
  impl: Impl;
  syncs: number;
  createToSecretMs: { p50: number; p90: number; p99: number; max: number };
  /** First create to last Secret. */
  allSyncedMs: number;
  createMs: number;
  firstSync: {
    /** More than the SecretSyncs when a poll tick fell into the first sync (its calls are counted too). */
    reconciles: number;
    aws: Record<string, number>;
    providerCalls: number;
    controllerCpuMs: number;
    providerCpuMs: number;
    apiRequests: number;
  };
  polls: PollFigures[];
  memoryAfterSync: ProcessMemory;
  memoryAfterPolls: ProcessMemory;
  providerMemoryAfterPolls: ProcessMemory;
}

interface Migration {
  from: Impl;
  to: Impl;
  syncs: number;
  reconciles: number;
  /** Secrets and SecretSyncs whose resourceVersion changed during the new controller's first pass. */
  secretsRewritten: number;
  statusesRewritten: number;
  hashesEqual: boolean;
  passMs: number;
  controllerCpuMs: number;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  proc?: ManagedProcess,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (proc && !proc.running)
      throw new Error(`${proc.name} exited while waiting for ${what}:\n${proc.logs().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(SAMPLE_MS);
  }
}

/**
 * Until no reconcile ended for 3 s: a poll tick that fell into the first sync (or into the previous
 * poll) is over, so that the next one measured is a whole one.
 */
async function waitQuiet(ctl: ControllerUnderTest): Promise<void> {
  let last = await ctl.reconciles();
  let quietSince = performance.now();
  while (performance.now() - quietSince < 3000) {
    await sleep(SAMPLE_MS);
    const now = await ctl.reconciles();
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    }
  }
}

/** One poll: from the last quiet sample before work starts to the sample where all are reconciled. */
async function measurePoll(
  kind: PollFigures['kind'],
  ctl: ControllerUnderTest,
  provider: ProviderUnderTest,
  gate: AwsGate,
  watcher: Watcher,
  n: number,
  shape: Shape,
): Promise<PollFigures> {
  await waitQuiet(ctl);
  const gate0 = await gate.snapshot();
  const api0 = await ctl.apiRequests();
  const writes0 = watcher.secretWrites;
  const quiet = await sample(ctl, provider);
  let before = quiet;
  const deadline = Date.now() + 2 * shape.pollMs + 60_000;
  for (;;) {
    await sleep(SAMPLE_MS);
    const s = await sample(ctl, provider);
    if (s.reconciles > quiet.reconciles || s.mounts > quiet.mounts) break;
    before = s;
    if (Date.now() > deadline) throw new Error(`${ctl.impl}: no poll within ${2 * shape.pollMs} ms`);
  }
  let after: Sample;
  for (;;) {
    await sleep(SAMPLE_MS);
    after = await sample(ctl, provider);
    if (after.reconciles >= quiet.reconciles + n) break;
    if (!ctl.proc.running) throw new Error(`${ctl.proc.name} exited:\n${ctl.proc.logs().slice(-3000)}`);
    if (Date.now() > deadline + 10 * shape.pollMs) throw new Error(`${ctl.impl}: the poll did not end`);
  }
  // The last writes' watch events.
  await sleep(1500);
  const idleMs = before.t - quiet.t;
  const figures: PollFigures = {
    kind,
    durationMs: after.t - before.t,
    reconciles: after.reconciles - quiet.reconciles,
    providerCalls: after.mounts - quiet.mounts,
    controllerCpuMs: after.controllerCpuMs - before.controllerCpuMs,
    providerCpuMs: after.providerCpuMs - before.providerCpuMs,
    aws: delta(gate0, await gate.snapshot()),
    apiRequests: (await ctl.apiRequests()) - api0,
    secretWrites: watcher.secretWrites - writes0,
    idleCpuMsPerS: idleMs > 0 ? ((before.controllerCpuMs - quiet.controllerCpuMs) * 1000) / idleMs : 0,
  };
  say(
    `${ctl.impl}: ${kind} poll, ${figures.reconciles} reconciles in ${Math.round(figures.durationMs)} ms, ` +
      `controller CPU ${figures.controllerCpuMs} ms, AWS ${JSON.stringify(figures.aws)}, ${figures.secretWrites} Secret writes`,
  );
  return figures;
}

async function freshRun(impl: Impl, ctx: Context, prefix: string): Promise<FreshRun> {
  const { lab, kube, gate, admin, shape, names } = ctx;
  const provider = await startProvider(lab, ctx.root);
  const ctl = await startController(impl, lab, provider.dir, shape.pollInterval, ctx.sscProgram);
  const watcher = new Watcher(kube, prefix);
  try {
    await watcher.start();
    const namespaces = await createTeams(kube, shape, names, prefix);
    const syncs = secretSyncs(shape, namespaces);
    const n = syncs.length;
    await sleep(2000);
    const gate0 = await gate.snapshot();
    const api0 = await ctl.apiRequests();
    const s0 = await sample(ctl, provider);
    const createdAt = new Map<string, number>();
    const firstCreate = performance.now();
    await pool(syncs, CREATE_WIDTH, async (s) => {
      await kube.create(resourcePath(SECRET_SYNCS, s.metadata.namespace), s);
      createdAt.set(`${s.metadata.namespace}/${s.metadata.name}`, performance.now());
    });
    const createMs = performance.now() - firstCreate;
    say(`${impl}: ${n} SecretSyncs created in ${Math.round(createMs)} ms`);
    await waitFor(
      `${n} Secrets and hashes`,
      () => watcher.secretAddedAt.size >= n && watcher.syncedCount() >= n,
      30 * 60_000,
      ctl.proc,
    );
    const latencies = [...createdAt].map(([key, t]) => (watcher.secretAddedAt.get(key) ?? NaN) - t);
    const allSyncedMs = Math.max(...watcher.secretAddedAt.values()) - firstCreate;
    say(`${impl}: all synced ${Math.round(allSyncedMs)} ms after the first create`);
    await waitFor(
      'the first reconciles to end',
      async () => (await ctl.reconciles()) >= s0.reconciles + n,
      120_000,
    );
    await sleep(3000);
    const s1 = await sample(ctl, provider);
    const firstSync = {
      reconciles: s1.reconciles - s0.reconciles,
      aws: delta(gate0, await gate.snapshot()),
      providerCalls: s1.mounts - s0.mounts,
      controllerCpuMs: s1.controllerCpuMs - s0.controllerCpuMs,
      providerCpuMs: s1.providerCpuMs - s0.providerCpuMs,
      apiRequests: (await ctl.apiRequests()) - api0,
    };
    const memoryAfterSync = processMemory(ctl.pid);
    const polls: PollFigures[] = [];
    for (let i = 0; i < shape.idlePolls; i++)
      polls.push(await measurePoll('idle', ctl, provider, gate, watcher, n, shape));
    // One object changed between two polls: secret0 of team 0 (in class0 and class4).
    await admin.secretsManager.send(
      new PutSecretValueCommand({
        SecretId: names.secret(0, 0),
        SecretString: JSON.stringify({ rotated: crypto.randomBytes(48).toString('base64url') }),
      }),
    );
    polls.push(await measurePoll('rotated', ctl, provider, gate, watcher, n, shape));
    await sleep(2000);
    const result: FreshRun = {
      impl,
      syncs: n,
      createToSecretMs: {
        p50: Number(percentile(latencies, 50)),
        p90: Number(percentile(latencies, 90)),
        p99: Number(percentile(latencies, 99)),
        max: Math.max(...latencies),
      },
      allSyncedMs,
      createMs,
      firstSync,
      polls,
      memoryAfterSync,
      memoryAfterPolls: processMemory(ctl.pid),
      providerMemoryAfterPolls: processMemory(provider.pid),
    };
    return result;
  } finally {
    await watcher.stop();
    await ctl.proc.stop();
    await provider.proc.stop();
  }
}

/** A controller started against SecretSyncs another one synced: what its first pass rewrites. */
async function migration(from: Impl, to: Impl, ctx: Context, prefix: string, n: number): Promise<Migration> {
  const { lab, kube } = ctx;
  const watcher = new Watcher(kube, prefix);
  await watcher.start();
  const versions = watcher.versions();
  const hashes = watcher.hashes();
  const provider = await startProvider(lab, ctx.root);
  const started = performance.now();
  const ctl = await startController(to, lab, provider.dir, '1h', ctx.sscProgram);
  try {
    const cpu0 = cpuMs(ctl.pid);
    await waitFor(`${to}'s first pass`, async () => (await ctl.reconciles()) >= n, 30 * 60_000, ctl.proc);
    const passMs = performance.now() - started;
    const controllerCpuMs = cpuMs(ctl.pid) - cpu0;
    await sleep(3000);
    const now = watcher.versions();
    let secretsRewritten = 0;
    let statusesRewritten = 0;
    for (const [key, rv] of versions)
      if (now.get(key) !== rv) {
        if (key.startsWith('Secret ')) secretsRewritten += 1;
        else statusesRewritten += 1;
      }
    const after = watcher.hashes();
    const hashesEqual = [...hashes].every(([key, h]) => h !== '' && after.get(key) === h);
    say(
      `migration ${from} -> ${to}: ${secretsRewritten} Secrets and ${statusesRewritten} statuses rewritten, hashes ${hashesEqual ? 'equal' : 'DIFFERENT'}`,
    );
    return {
      from,
      to,
      syncs: versions.size / 2,
      reconciles: await ctl.reconciles(),
      secretsRewritten,
      statusesRewritten,
      hashesEqual,
      passMs,
      controllerCpuMs,
    };
  } finally {
    await watcher.stop();
    await ctl.proc.stop();
    await provider.proc.stop();
  }
}

async function deleteSet(kube: KubeClient, namespaces: string[], prefix: string): Promise<void> {
  for (const ns of namespaces)
    await kube.delete(resourcePath(Resources.namespaces, undefined, ns)).catch(() => undefined);
  const watcher = new Watcher(kube, prefix);
  await watcher.start();
  try {
    await waitFor(
      `the SecretSyncs of ${prefix}-* to be deleted`,
      () => watcher.syncCount() === 0,
      15 * 60_000,
    );
  } finally {
    await watcher.stop();
  }
}

// --- report -------------------------------------------------------------------------------------

interface Results {
  date: string;
  machine: string;
  node: string;
  loadBefore: number[];
  loadAfter: number[];
  busiest: string[];
  shape: Shape;
  syncs: number;
  distinct: { serviceAccountClasses: number; secrets: number; params: number };
  runs: FreshRun[];
  migrations: Migration[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (x: number, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '-';

function awsLine(calls: Record<string, number>): string {
  const short = (k: string) => k.replace(/^[^.]*\./, '');
  return (
    Object.entries(calls)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${short(k)} ${fmt(n)}`)
      .join(', ') || '0'
  );
}

function report(results: Results): void {
  const runs = IMPLS.map((impl) => results.runs.find((r) => r.impl === impl));
  const idle = (r: FreshRun | undefined) => r?.polls.filter((p) => p.kind === 'idle') ?? [];
  const rotated = (r: FreshRun | undefined) => r?.polls.find((p) => p.kind === 'rotated');
  const medianOf = (r: FreshRun | undefined, f: (p: PollFigures) => number) => median(idle(r).map(f));
  const medianCalls = (r: FreshRun | undefined) => {
    const ops = new Set(idle(r).flatMap((p) => Object.keys(p.aws)));
    return Object.fromEntries([...ops].map((op) => [op, median(idle(r).map((p) => p.aws[op] ?? 0))]));
  };
  const row = (label: string, f: (r: FreshRun) => string) => [label, ...runs.map((r) => (r ? f(r) : '-'))];
  const d = results.distinct;
  process.stdout.write(
    `\nSync controller at scale, ${results.date}, ${results.machine}, ${results.node}; ` +
      `load average ${results.loadBefore.map((x) => x.toFixed(1)).join(' ')} before, ${results.loadAfter.map((x) => x.toFixed(1)).join(' ')} after\n` +
      `${results.syncs} SecretSyncs, ${results.shape.teams * APPS} ServiceAccounts, ${results.shape.teams * 10} objects; ` +
      `${d.serviceAccountClasses} distinct (ServiceAccount, class), goal per poll: ${d.secrets} GetSecretValue (distinct identity x secret), ` +
      `at most ${d.params} parameters read (distinct identity x parameter); poll interval ${results.shape.pollInterval}, ${results.shape.idlePolls} idle polls\n`,
  );
  printTable('Ours and SSC, same run', [
    ['figure', ...IMPLS.map((impl) => NAMES[impl])],
    row(
      'create to Secret p50 / p99, s',
      (r) => `${fmt(r.createToSecretMs.p50 / 1000, 1)} / ${fmt(r.createToSecretMs.p99 / 1000, 1)}`,
    ),
    row('all synced after the first create, s', (r) => fmt(r.allSyncedMs / 1000, 1)),
    row('first sync: AWS calls', (r) => awsLine(r.firstSync.aws)),
    row(
      'first sync: reconciles, provider calls',
      (r) => `${fmt(r.firstSync.reconciles)}, ${fmt(r.firstSync.providerCalls)}`,
    ),
    row('first sync: controller CPU, s', (r) => fmt(r.firstSync.controllerCpuMs / 1000, 1)),
    row('idle poll: AWS calls (median)', (r) => awsLine(medianCalls(r))),
    row('idle poll: provider calls', (r) => fmt(medianOf(r, (p) => p.providerCalls))),
    row('idle poll: controller CPU, ms', (r) => fmt(medianOf(r, (p) => p.controllerCpuMs))),
    row('idle poll: provider CPU, ms', (r) => fmt(medianOf(r, (p) => p.providerCpuMs))),
    row('idle poll: duration, s', (r) => fmt(medianOf(r, (p) => p.durationMs) / 1000, 1)),
    row('idle poll: API requests', (r) => fmt(medianOf(r, (p) => p.apiRequests))),
    row('idle poll: Secret writes', (r) => fmt(medianOf(r, (p) => p.secretWrites))),
    row('between polls: controller CPU, ms/s', (r) =>
      fmt(
        medianOf(r, (p) => p.idleCpuMsPerS),
        1,
      ),
    ),
    row('rotated poll: AWS calls', (r) => awsLine(rotated(r)?.aws ?? {})),
    row('rotated poll: controller CPU, ms', (r) => fmt(rotated(r)?.controllerCpuMs ?? NaN)),
    row(
      'rotated poll: Secret writes, API requests',
      (r) => `${fmt(rotated(r)?.secretWrites ?? NaN)}, ${fmt(rotated(r)?.apiRequests ?? NaN)}`,
    ),
    row(
      'controller RSS after sync / after the polls, MiB',
      (r) => `${fmt(r.memoryAfterSync.rss, 1)} / ${fmt(r.memoryAfterPolls.rss, 1)}`,
    ),
    row('controller RssAnon after the polls, MiB', (r) => fmt(r.memoryAfterPolls.anon, 1)),
    row('provider RSS after the polls, MiB', (r) => fmt(r.providerMemoryAfterPolls.rss, 1)),
  ]);
  for (const m of results.migrations)
    process.stdout.write(
      `migration ${NAMES[m.from]} -> ${NAMES[m.to]}: ${m.syncs} SecretSyncs, ${m.secretsRewritten} Secrets and ${m.statusesRewritten} statuses rewritten, ` +
        `hashes ${m.hashesEqual ? 'equal' : 'DIFFERENT'}; first pass ${fmt(m.passMs / 1000, 1)} s, controller CPU ${fmt(m.controllerCpuMs / 1000, 1)} s\n`,
    );
  for (const r of results.runs)
    for (const p of r.polls)
      process.stdout.write(
        `${r.impl} ${p.kind} poll: ${p.reconciles} reconciles, ${Math.round(p.durationMs)} ms, controller CPU ${p.controllerCpuMs} ms, provider CPU ${p.providerCpuMs} ms, ` +
          `AWS ${awsLine(p.aws)}, API ${p.apiRequests}, Secret writes ${p.secretWrites}\n`,
      );
  process.stdout.write(`busiest processes at the start: ${results.busiest.join('; ')}\n`);
}

// --- main ---------------------------------------------------------------------------------------

const IMPLS: readonly Impl[] = ['ssc', 'ours'];

interface Context {
  lab: Lab;
  kube: KubeClient;
  gate: AwsGate;
  admin: ReturnType<typeof awsAdmin>;
  shape: Shape;
  names: AwsNames;
  root: string;
  sscProgram: string;
}

function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(text);
  if (!m) throw new Error(`--poll-interval: ${text} is not a duration like 90s or 2m`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

/** The busiest processes as `%CPU program [script]`, file names only (no paths of this machine). */
function busiestProcesses(): string[] {
  try {
    return execFileSync('ps', ['-eo', 'pcpu,args', '--sort=-pcpu', '--no-headers'], { encoding: 'utf8' })
      .split('\n')
      .slice(0, 6)
      .map((line) => {
        const [cpu, program, ...rest] = line.trim().split(/\s+/);
        const script = rest.find((a) => !a.startsWith('-'));
        const name = path.basename(program ?? '');
        return `${cpu} ${name}${script && /^(node|python3?)$/.test(name) ? ` ${path.basename(script)}` : ''}`;
      })
      .filter((l) => l.trim() !== '');
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: env.BENCH_QUICK === '1' },
      teams: { type: 'string', default: env.BENCH_TEAMS },
      'syncs-per-class': { type: 'string', default: env.BENCH_SYNCS_PER_CLASS },
      'poll-interval': { type: 'string', default: env.BENCH_POLL_INTERVAL },
      'idle-polls': { type: 'string', default: env.BENCH_IDLE_POLLS },
      impls: { type: 'string', default: env.BENCH_IMPLS ?? 'ssc,ours' },
      results: { type: 'string' },
      report: { type: 'boolean', default: false },
    },
  });
  const defaultResults = path.join(REPO_ROOT, 'bench', 'results', 'sync-controller-scale.json');
  if (values.report) {
    const file = path.resolve(values.results ?? defaultResults);
    report(JSON.parse(fs.readFileSync(file, 'utf8')) as Results);
    return;
  }
  const quick = values.quick;
  const pollInterval = values['poll-interval'] ?? (quick ? '20s' : '120s');
  const shape: Shape = {
    teams: Number(values.teams ?? (quick ? 2 : 10)),
    syncsPerClass: Number(values['syncs-per-class'] ?? (quick ? 2 : 10)),
    pollInterval,
    pollMs: durationMs(pollInterval),
    idlePolls: Number(values['idle-polls'] ?? 2),
  };
  for (const [name, v] of Object.entries({
    teams: shape.teams,
    'syncs-per-class': shape.syncsPerClass,
    'idle-polls': shape.idlePolls,
  }))
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number >= 1`);
  const impls = values.impls.split(',').map((i) => i.trim());
  if (impls.length === 0 || impls.some((i) => i !== 'ssc' && i !== 'ours'))
    throw new Error('--impls: ssc, ours or both (ssc,ours)');
  // Quick runs print only, unless asked: the committed results are a full run's.
  const resultsFile = values.results ? path.resolve(values.results) : quick ? undefined : defaultResults;

  const sscProgram = impls.includes('ssc') ? upstreamSyncController() : '';
  const lab = requireLab();
  const kube = adminClient(lab);
  const gate = AwsGate.of(lab);
  const admin = awsAdmin(lab);
  const suffix = uniqueSuffix();
  const root = fs.mkdtempSync(path.join(lab.stateDir, `bench-scale-${suffix}-`));
  const names = awsNames(suffix);
  const ctx: Context = { lab, kube, gate, admin, shape, names, root, sscProgram };
  const pairs = distinctPairs(shape);
  const results: Results = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, shared`,
    node: `Node.js ${process.versions.node}`,
    loadBefore: os.loadavg(),
    loadAfter: [],
    busiest: busiestProcesses(),
    shape,
    syncs: syncCount(shape),
    distinct: { serviceAccountClasses: shape.teams * APPS * 2, ...pairs },
    runs: [],
    migrations: [],
  };
  const setA = `bss-a-${suffix}`;
  const setB = `bss-b-${suffix}`;
  const teamNamespaces = (prefix: string) => Array.from({ length: shape.teams }, (_, t) => `${prefix}-t${t}`);
  /** Sets whose namespaces may exist: deleted before the next fresh run starts, and at the end. */
  const leftovers = new Set<string>();
  try {
    await ensureCrds(lab, kube);
    kubectl(lab, ['apply', '--server-side', '--force-conflicts', '-f', SECRETSYNC_CRD]);
    kubectl(lab, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/secretsyncs.secret-sync.x-k8s.io',
    ]);
    say(`creating ${shape.teams * 10} objects and ${shape.teams * APPS} roles in the lab's AWS`);
    await createAwsObjects(lab, admin, shape, names, suffix);
    const both = impls.includes('ssc') && impls.includes('ours');
    const [first, second] = both ? (['ssc', 'ours'] as const) : [impls[0] as Impl, undefined];

    say(`${NAMES[first]} on fresh namespaces (${results.syncs} SecretSyncs)`);
    leftovers.add(setA);
    results.runs.push(await freshRun(first, ctx, setA));
    if (second) {
      say(`${NAMES[second]} against what ${NAMES[first]} synced`);
      results.migrations.push(await migration(first, second, ctx, setA, results.syncs));
      await deleteSet(kube, teamNamespaces(setA), setA);
      leftovers.delete(setA);
      say(`${NAMES[second]} on fresh namespaces (${results.syncs} SecretSyncs)`);
      leftovers.add(setB);
      results.runs.push(await freshRun(second, ctx, setB));
      say(`${NAMES[first]} against what ${NAMES[second]} synced`);
      results.migrations.push(await migration(second, first, ctx, setB, results.syncs));
    }
    results.loadAfter = os.loadavg();
    if (resultsFile) {
      const prettier = await import('prettier');
      const options = (await prettier.resolveConfig(resultsFile)) ?? {};
      fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
      fs.writeFileSync(
        resultsFile,
        await prettier.format(JSON.stringify(results), { ...options, parser: 'json' }),
      );
    }
  } finally {
    for (const prefix of leftovers)
      await deleteSet(kube, teamNamespaces(prefix), prefix).catch((err: unknown) =>
        say(`deleting ${prefix}-*: ${(err as Error).message}`),
      );
    admin.destroy();
    kube.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  report(results);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
