// Switching in place, both ways (issue 24 item 6), on the lab's real node (make lab-up NODE=1; make
// test starts it): a cluster that runs upstream's driver (its own chart, v1.6.0, as release
// secrets-store-csi-driver in kube-system) and upstream's AWS provider (its installer), with rotation
// and sync on and pods mounted, is switched to ours the way README "Migrating from upstream (and
// back)" says: `helm upgrade` of the same release with our chart, `kubectl apply` of our installer.
// The pods are not touched. Their volumes keep rotating; their SecretProviderClassPodStatus objects
// and synced Secrets are taken over (the same objects, no write until a real change, none deleted);
// deleting a pod still cleans up (no mount left, its status and Secret gone). Then back to upstream's
// the same way, with the same checks, but for the writes upstream's driver makes on its own (its
// sync controller replaces each synced Secret when it starts, dropping and then restoring the owner
// references: two writes per Secret, which the guide lists under what differs).
//
// Upstream's programs and images are the peer runner's (e2e/peer/build.sh, imported by
// e2e/peer/node-setup.sh, which also starts the lab's AWS front that upstream's provider needs for
// STS). Without the real node these tests fail and say why; they never pass by skipping.
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { DeleteRoleCommand, DeleteRolePolicyCommand } from '@aws-sdk/client-iam';
import type { KubeList, KubeObject, Secret, SecretProviderClassPodStatus } from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  adminClient,
  AWS_PROVIDER_INSTALLER,
  awsAdmin,
  createNamespace,
  createRole,
  createServiceAccount,
  DRIVER_CHART,
  DRIVER_RELEASE,
  eventually,
  execInPod,
  irsaTrustPolicy,
  labEnv,
  labToolAsync,
  logDir,
  metricValue,
  podVolumeMounts,
  PROVIDER_RELEASE,
  REPO_ROOT,
  requireLab,
  requireRealNode,
  SECRETS_MOUNT,
  startSecretsPod,
  SYSTEM_NAMESPACE,
  testSequence,
  uniqueSuffix,
} from '../src';
import { ContainerLogKeeper } from '../src/container-logs';

const lab = requireLab();
const kube = adminClient(lab);
const containerLogs = new ContainerLogKeeper();

const PEER = path.join(REPO_ROOT, 'e2e', 'peer');
const PEER_DIR = process.env.PEER_DIR ?? path.join(REPO_ROOT, '..', 'shared', 'peer');
const UPSTREAM_INSTALLER = path.join(
  PEER_DIR,
  'secrets-store-csi-driver-provider-aws',
  'deployment',
  'aws-provider-installer.yaml',
);
/** Where node-setup.sh keeps the AWS front's key, certificate and process ID for this file. */
const FRONT_STATE = path.join(lab.stateDir, 'switch-in-place');

const suffix = uniqueSuffix();
const APP = `switch-${suffix}`;
const OBJECT = `switch-${suffix}`;
const ROLE = `switch-${suffix}`;
const FILE = 'password';
const DRIVER_DS = 'secrets-store-csi-driver';
const PROVIDER_DS = 'csi-secrets-store-provider-aws';
const MANAGED_LABEL = 'secrets-store.csi.k8s.io/managed=true';
/** The driver's rotation poll interval here (the lab's kubelet republishes every 10 s). */
const POLL = '10s';
/** The values put in AWS, in order; the log audit (log-audit.test.ts) looks for them. */
const VALUES = ['switch-value-0', 'switch-value-1', 'switch-value-2', 'switch-value-3', 'switch-value-4'];
let valueIndex = 0;
const value = () => VALUES[valueIndex] ?? '';

/** Each pod mounts its own class, which syncs its own Secret: one pod's deletion leaves the other's. */
const PODS = { a: { spc: 'class-a', secret: 'synced-a' }, b: { spc: 'class-b', secret: 'synced-b' } };
type PodKey = keyof typeof PODS;
const spcpsName = (p: PodKey) => `${p}-${APP}-${PODS[p].spc}`;

type Side = 'ours' | 'upstream';
const IMAGES: Record<Side, { driver: RegExp; provider: RegExp }> = {
  ours: {
    driver: /^ghcr\.io\/sscsi-ts\/secrets-store-csi-driver:/,
    provider: /^ghcr\.io\/sscsi-ts\/secrets-store-csi-driver-provider-aws:/,
  },
  upstream: {
    driver: /^registry\.k8s\.io\/csi-secrets-store\/driver:v1\.6\.0$/,
    provider: /^public\.ecr\.aws\/aws-secrets-manager\/secrets-store-csi-driver-provider-aws:3\.1\.1$/,
  },
};

let node: ReturnType<typeof requireRealNode>;
let aws: ReturnType<typeof awsAdmin> | undefined;
let upstreamChart = '';
let frontUp = false;
/** Every write counter started, stopped after a failure too (a running watch keeps jest alive). */
const writeCounters: WriteCounter[] = [];

function log(line: string): void {
  process.stdout.write(`[switch-in-place] ${line}\n`);
  fs.appendFileSync(path.join(logDir(), 'switch-in-place.txt'), `${line}\n`);
}

/** A step of the sequence, timed in this file's log: each needs the ones before it. */
const sequenceStep = testSequence();
function step(title: string, run: () => Promise<void>, timeoutMs: number): void {
  sequenceStep(
    title,
    async () => {
      const t0 = Date.now();
      try {
        await run();
      } finally {
        log(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${title}`);
      }
    },
    timeoutMs,
  );
}

// --- the tools, without blocking this process (the write counters watch meanwhile) ------------

const kubectl = (...args: string[]) => labToolAsync(lab, 'kubectl', args);
const helm = (...args: string[]) => labToolAsync(lab, 'helm', args);

/** e2e/peer/node-setup.sh with the lab's environment; stdin given, stdout returned. */
function nodeSetup(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      path.join(PEER, 'node-setup.sh'),
      args,
      { env: { ...labEnv(lab), PEER_STATE: FRONT_STATE }, maxBuffer: 16 * 1024 * 1024, timeout: 1_500_000 },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`node-setup.sh ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout));
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/** An AWS provider installer pointed at the lab's AWS (node-setup.sh render), applied or deleted. */
async function installer(verb: 'apply' | 'delete', file: string): Promise<string> {
  const rendered = await nodeSetup(['render'], fs.readFileSync(file, 'utf8'));
  const extra = verb === 'delete' ? ['--ignore-not-found', '--wait=true'] : [];
  return labToolAsync(lab, 'kubectl', [verb, '-f', '-', ...extra], rendered);
}

// --- the cluster, read with the admin client -------------------------------------------------

interface PodView {
  uid: string;
  containerId: string;
  restarts: number;
}

async function podView(p: PodKey): Promise<PodView> {
  const pod = await kube.get<
    KubeObject & { status?: { containerStatuses?: Array<{ containerID?: string; restartCount?: number }> } }
  >(resourcePath(Resources.pods, APP, p));
  const c = pod.status?.containerStatuses?.[0];
  return { uid: pod.metadata.uid ?? '', containerId: c?.containerID ?? '', restarts: c?.restartCount ?? -1 };
}

async function getOrUndefined<T>(p: string): Promise<T | undefined> {
  try {
    return await kube.get<T>(p);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const spcps = (p: PodKey) =>
  getOrUndefined<SecretProviderClassPodStatus>(
    resourcePath(Resources.secretProviderClassPodStatuses, APP, spcpsName(p)),
  );
const syncedSecret = (p: PodKey) =>
  getOrUndefined<Secret>(resourcePath(Resources.secrets, APP, PODS[p].secret));

/** What a takeover must keep: the objects' identities, versions and owners, the pods' containers. */
interface Snapshot {
  pods: Record<string, PodView>;
  objects: Record<string, { uid: string; resourceVersion: string; owners: string[] }>;
}

async function snapshot(): Promise<Snapshot> {
  const pods: Snapshot['pods'] = {};
  const objects: Snapshot['objects'] = {};
  for (const p of Object.keys(PODS) as PodKey[]) {
    pods[p] = await podView(p);
    const status = await spcps(p);
    const secret = await syncedSecret(p);
    if (!status || !secret) throw new Error(`pod ${p} has no status or no synced Secret`);
    for (const [name, o] of [
      [spcpsName(p), status],
      [PODS[p].secret, secret],
    ] as const)
      objects[name] = {
        uid: o.metadata.uid ?? '',
        resourceVersion: o.metadata.resourceVersion ?? '',
        owners: (o.metadata.ownerReferences ?? []).map((r) => `${r.kind}/${r.name}/${r.uid}`).sort(),
      };
  }
  return { pods, objects };
}

const statusOwner = (p: PodKey) => `SecretProviderClassPodStatus/${spcpsName(p)}/`;

/**
 * Waits (up to a minute) until each synced Secret names its pod's status among its owners, the state
 * both drivers' sync converges to, and returns the pods whose Secret still does not: the takeover
 * may add that owner, a write the side switched from would have made too (one write, the owner).
 */
async function secretsLackingStatusOwner(side: Side): Promise<PodKey[]> {
  const lacking = async () => {
    const out: PodKey[] = [];
    for (const p of Object.keys(PODS) as PodKey[]) {
      const owners = (await syncedSecret(p))?.metadata.ownerReferences ?? [];
      if (!owners.some((r) => `${r.kind}/${r.name}/`.startsWith(statusOwner(p)))) out.push(p);
    }
    return out;
  };
  const settled = await eventually(
    `every synced Secret owned by its pod's status under ${side}'s driver`,
    async () => ((await lacking()).length === 0 ? true : undefined),
    60_000,
    1_000,
  ).catch(() => false);
  const still = settled ? [] : await lacking();
  if (still.length > 0)
    log(`under ${side}'s driver, after a minute, no status owner on: ${still.join(', ')}`);
  return still;
}

/** Counts the write events of a collection's objects from a resourceVersion on, with who wrote. */
class WriteCounter {
  private readonly abort = new AbortController();
  readonly events: Array<{ name: string; type: string; manager: string }> = [];
  private running?: Promise<void>;

  constructor(
    private readonly collection: string,
    private readonly labelSelector?: string,
  ) {}

  async start(): Promise<void> {
    const list = await kube.get<KubeList<KubeObject>>(this.collection, {
      query: { labelSelector: this.labelSelector },
    });
    let version = list.metadata.resourceVersion ?? '';
    const loop = async () => {
      while (!this.abort.signal.aborted) {
        await kube
          .watch<KubeObject & { metadata: { managedFields?: Array<{ manager: string; time?: string }> } }>(
            this.collection,
            { labelSelector: this.labelSelector, resourceVersion: version },
            (event) => {
              if (event.type === 'ERROR' || event.type === 'BOOKMARK') return;
              version = event.object.metadata.resourceVersion ?? version;
              const fields = [...(event.object.metadata.managedFields ?? [])].sort((x, y) =>
                (x.time ?? '').localeCompare(y.time ?? ''),
              );
              this.events.push({
                name: event.object.metadata.name ?? '',
                type: event.type,
                manager: fields.at(-1)?.manager ?? '',
              });
            },
            this.abort.signal,
          )
          .catch(() => sleep(200));
      }
    };
    this.running = loop();
    writeCounters.push(this);
  }

  count(name: string, type = 'MODIFIED'): number {
    return this.events.filter((e) => e.name === name && e.type === type).length;
  }

  describe(): string {
    return JSON.stringify(this.events);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}

function counters(): { statuses: WriteCounter; secrets: WriteCounter } {
  return {
    statuses: new WriteCounter(resourcePath(Resources.secretProviderClassPodStatuses, APP)),
    secrets: new WriteCounter(resourcePath(Resources.secrets, APP), MANAGED_LABEL),
  };
}

// --- what a user sees ----------------------------------------------------------------------

const read = async (p: PodKey) => (await execInPod(lab, APP, p, ['cat', `${SECRETS_MOUNT}/${FILE}`])).out;

/** Both containers show the current value, and both synced Secrets hold it. */
async function everywhere(what: string, timeoutMs = 120_000): Promise<void> {
  const want = Buffer.from(value()).toString('base64');
  await eventually(
    what,
    async () => {
      for (const p of Object.keys(PODS) as PodKey[]) {
        if ((await read(p)) !== value()) return undefined;
        if ((await syncedSecret(p))?.data?.[FILE] !== want) return undefined;
      }
      return true;
    },
    timeoutMs,
    1_000,
  );
}

async function rotate(): Promise<void> {
  valueIndex += 1;
  await aws?.secretsManager.send(new PutSecretValueCommand({ SecretId: OBJECT, SecretString: value() }));
}

/** The running DaemonSet pod's images and address, once the DaemonSet has rolled out. */
async function rolledOut(ds: string): Promise<{ images: Record<string, string>; ip: string }> {
  await kubectl('rollout', 'status', '-n', SYSTEM_NAMESPACE, `daemonset/${ds}`, '--timeout=180s');
  const selector = ds === DRIVER_DS ? `app=${DRIVER_DS}` : `app=${PROVIDER_DS}`;
  return eventually(
    `one Ready pod of ${ds}`,
    async () => {
      const list = await kube.get<
        KubeList<
          KubeObject & {
            spec: { containers: Array<{ name: string; image: string }> };
            status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
          }
        >
      >(resourcePath(Resources.pods, SYSTEM_NAMESPACE), { query: { labelSelector: selector } });
      const live = list.items.filter((p) => !p.metadata.deletionTimestamp);
      const pod = live[0];
      const ready = pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (live.length !== 1 || !pod || !ready) return undefined;
      return {
        images: Object.fromEntries(pod.spec.containers.map((c) => [c.name, c.image])),
        ip: pod.status?.podIP ?? '',
      };
    },
    120_000,
    500,
  );
}

/** The driver's rotation rounds so far (upstream's metric, which ours keeps), 0 if unreadable. */
async function rotationRounds(driverIp: string): Promise<number> {
  return metricValue(`http://${driverIp}:8095/metrics`, 'rotation_reconcile_total').catch(() => 0);
}

// --- installing each side ------------------------------------------------------------------

/** The user's own values for the driver chart, the same names in upstream's chart and ours. */
const USER_VALUES = [
  '--set',
  'syncSecret.enabled=true',
  '--set',
  'enableSecretRotation=true',
  '--set',
  `rotationPollInterval=${POLL}`,
  // As upstream's AWS provider asks of a driver installed on its own (its README).
  '--set',
  'tokenRequests[0].audience=sts.amazonaws.com',
  '--set',
  'tokenRequests[1].audience=pods.eks.amazonaws.com',
];

const chartOf = (side: Side) => (side === 'ours' ? DRIVER_CHART : upstreamChart);
const installerOf = (side: Side) => (side === 'ours' ? AWS_PROVIDER_INSTALLER : UPSTREAM_INSTALLER);

/** The secrets-store container's image that `helm upgrade --dry-run` with these flags would run. */
async function dryRunImage(side: Side, flag: string): Promise<string> {
  const out = await helm('upgrade', DRIVER_RELEASE, chartOf(side), '-n', SYSTEM_NAMESPACE, flag, '--dry-run');
  const image = /name: secrets-store\n\s+image: "?([^"\s]+)"?/.exec(out)?.[1];
  if (!image) throw new Error(`no secrets-store container in the dry run:\n${out.slice(0, 2000)}`);
  return image;
}

async function removeEverything(): Promise<void> {
  const quiet = (p: Promise<unknown> | undefined) => p?.catch(() => undefined);
  await quiet(kubectl('delete', 'namespace', APP, '--ignore-not-found', '--wait=true', '--timeout=120s'));
  await quiet(helm('uninstall', DRIVER_RELEASE, '-n', SYSTEM_NAMESPACE, '--wait', '--timeout', '120s'));
  await quiet(helm('uninstall', PROVIDER_RELEASE, '-n', SYSTEM_NAMESPACE, '--wait', '--timeout', '120s'));
  for (const file of [AWS_PROVIDER_INSTALLER, UPSTREAM_INSTALLER])
    if (fs.existsSync(file)) await quiet(installer('delete', file));
  // A CSIDriver made without helm (by other files) would stop helm from installing a chart.
  await quiet(kubectl('delete', 'csidriver', 'secrets-store.csi.k8s.io', '--ignore-not-found'));
  await quiet(aws?.iam.send(new DeleteRolePolicyCommand({ RoleName: ROLE, PolicyName: 'read' })));
  await quiet(aws?.iam.send(new DeleteRoleCommand({ RoleName: ROLE })));
  await quiet(
    aws?.secretsManager.send(new DeleteSecretCommand({ SecretId: OBJECT, ForceDeleteWithoutRecovery: true })),
  );
}

beforeAll(async () => {
  node = requireRealNode('switching in place between upstream and ours');
  if (!fs.existsSync(UPSTREAM_INSTALLER))
    throw new Error(`upstream's AWS provider installer is missing: ${UPSTREAM_INSTALLER} (set PEER_DIR)`);
  containerLogs.start();
  aws = awsAdmin(lab, node.region);
  fs.mkdirSync(FRONT_STATE, { recursive: true });
  // Upstream's programs as the peer runner builds and imports them (minutes once, then cached),
  // and upstream's driver chart from the driver's module.
  await nodeSetup(['images']);
  upstreamChart = (await nodeSetup(['driver-chart'])).trim();
  await nodeSetup(['front-up']);
  frontUp = true;
  await removeEverything();
}, 1_800_000);

afterAll(async () => {
  await Promise.all(writeCounters.map((c) => c.stop()));
  await removeEverything();
  if (frontUp) await nodeSetup(['front-down']).catch(() => undefined);
  aws?.destroy();
  kube.close();
  containerLogs.stop();
}, 600_000);

/**
 * Replaces `from` with `to` in place: the driver by `helm upgrade` of the same release with the
 * other chart (the user's values kept, the new chart's defaults taken), the provider by `kubectl
 * apply` of the other installer. Checks that the pods were not touched and that the takeover
 * rewrote nothing: then a rotation (one write of each object for ours), then a pod's deletion.
 */
function switchSteps(to: Side): void {
  const from: Side = to === 'ours' ? 'upstream' : 'ours';
  let before: Snapshot;
  let lackingOwner: PodKey[] = [];
  let writes: ReturnType<typeof counters>;
  let driverIp = '';

  step(
    `${to === 'ours' ? 'ours replaces upstream' : "upstream's replaces ours"} in place: helm upgrade --reset-then-reuse-values with ${to === 'ours' ? 'our' : "upstream's"} chart, kubectl apply of ${to === 'ours' ? 'our' : "upstream's"} installer; the pods are not touched`,
    async () => {
      lackingOwner = await secretsLackingStatusOwner(from);
      before = await snapshot();
      writes = counters();
      await writes.statuses.start();
      await writes.secrets.start();
      // --reuse-values renders the new chart with the old chart's defaults: the old images, or a
      // failure where the new templates read values the old chart does not have.
      const reused = await dryRunImage(to, '--reuse-values').catch((err: Error) => err);
      log(`helm upgrade --reuse-values to ${to}'s chart would run: ${String(reused)}`);
      if (typeof reused === 'string') expect(reused).toMatch(IMAGES[from].driver);
      expect(await dryRunImage(to, '--reset-then-reuse-values')).toMatch(IMAGES[to].driver);
      const upgraded = await helm(
        'upgrade',
        DRIVER_RELEASE,
        chartOf(to),
        '-n',
        SYSTEM_NAMESPACE,
        '--reset-then-reuse-values',
        '--wait',
        '--timeout',
        '300s',
      );
      expect(upgraded).toMatch(/STATUS: deployed/);
      await installer('apply', installerOf(to));
      const driver = await rolledOut(DRIVER_DS);
      const provider = await rolledOut(PROVIDER_DS);
      expect(driver.images['secrets-store']).toMatch(IMAGES[to].driver);
      expect(provider.images['provider-aws-installer']).toMatch(IMAGES[to].provider);
      driverIp = driver.ip;
      const values = JSON.parse(
        await helm('get', 'values', DRIVER_RELEASE, '-n', SYSTEM_NAMESPACE, '-o', 'json'),
      ) as Record<string, unknown>;
      expect(values).toMatchObject({ syncSecret: { enabled: true }, rotationPollInterval: POLL });
      // The same pods, containers never restarted.
      const after = await snapshot();
      expect(after.pods).toEqual(before.pods);
    },
    600_000,
  );

  step(
    `${to}'s driver takes the volumes, statuses and synced Secrets over${to === 'ours' ? ' without writing them' : ''}: the same objects and owners over two rotation rounds, one mount per volume`,
    async () => {
      const rounds = await eventually(
        `two rotation rounds of ${to}'s driver over both pods`,
        async () => ((await rotationRounds(driverIp)) >= 4 ? rotationRounds(driverIp) : undefined),
        120_000,
        1_000,
      );
      // A republish that would rewrite anything has had its chance; the last one settles.
      await sleep(2_000);
      const after = await snapshot();
      log(
        `${to} took over after ${rounds} rotation reconciles; writes: ${writes.statuses.describe()} ${writes.secrets.describe()}`,
      );
      // A Secret the side switched from had left without its status owner gets it (one write).
      const ownerAdded = new Map(lackingOwner.map((p) => [PODS[p].secret, p]));
      for (const [name, o] of Object.entries(before.objects)) {
        const added = ownerAdded.get(name);
        const owners = added
          ? (after.objects[name]?.owners ?? []).filter((r) => !r.startsWith(statusOwner(added)))
          : after.objects[name]?.owners;
        expect({ name, uid: after.objects[name]?.uid, owners }).toEqual({
          name,
          uid: o.uid,
          owners: o.owners,
        });
        if (added)
          expect(after.objects[name]?.owners.some((r) => r.startsWith(statusOwner(added)))).toBe(true);
      }
      expect(
        writes.secrets.count(PODS.a.secret, 'DELETED') + writes.secrets.count(PODS.b.secret, 'DELETED'),
      ).toBe(0);
      if (to === 'ours') {
        // Nothing written but a missing owner: the same resourceVersions otherwise, no other event.
        for (const [name, o] of Object.entries(before.objects))
          if (!ownerAdded.has(name)) expect(after.objects[name]).toEqual(o);
        expect(writes.statuses.events).toEqual([]);
        expect(writes.secrets.events.map((e) => `${e.name} ${e.type}`)).toEqual(
          [...ownerAdded.keys()].map((name) => `${name} MODIFIED`),
        );
      } else {
        // Upstream's driver writes no status again; its sync controller replaces each synced Secret
        // when it starts (dropping the owner references, which its patcher then restores).
        for (const p of Object.keys(PODS) as PodKey[])
          expect(after.objects[spcpsName(p)]).toEqual(before.objects[spcpsName(p)]);
        expect(writes.statuses.events).toEqual([]);
      }
      for (const p of Object.keys(PODS) as PodKey[]) {
        expect(podVolumeMounts(before.pods[p]?.uid ?? '').map((m) => m.fsType)).toEqual(['tmpfs']);
        expect(await read(p)).toBe(value());
      }
    },
    240_000,
  );

  step(
    `${to}'s driver keeps the adopted volumes rotating: a new value reaches both containers and both Secrets${to === 'ours' ? ', each status and Secret written once' : ''}`,
    async () => {
      const rounds = await rotationRounds(driverIp);
      const secretWritesBefore = writes.secrets.events.length;
      await rotate();
      await everywhere(`the rotated value under ${to}'s driver`);
      // One more round after the change, for any second write to show.
      await eventually(
        'one more rotation round',
        async () => ((await rotationRounds(driverIp)) >= rounds + 4 ? true : undefined),
        120_000,
        1_000,
      );
      await sleep(2_000);
      log(`${to} rotated; writes: ${writes.statuses.describe()} ${writes.secrets.describe()}`);
      for (const p of Object.keys(PODS) as PodKey[]) {
        expect(writes.statuses.count(spcpsName(p))).toBe(1);
        const secretWrites = writes.secrets.events
          .slice(secretWritesBefore)
          .filter((e) => e.name === PODS[p].secret);
        if (to === 'ours') expect(secretWrites.map((e) => e.type)).toEqual(['MODIFIED']);
        else expect(secretWrites.every((e) => e.type === 'MODIFIED')).toBe(true);
        expect((await syncedSecret(p))?.metadata.ownerReferences?.length ?? 0).toBeGreaterThan(0);
      }
      await writes.statuses.stop();
      await writes.secrets.stop();
    },
    300_000,
  );

  step(
    `deleting a pod under ${to}'s driver cleans up: no mount left, its status and its Secret gone; the other pod keeps its own; a new pod mounts`,
    async () => {
      const { uid } = await podView('a');
      await kubectl('delete', 'pod', 'a', '-n', APP, '--wait=true', '--timeout=60s');
      await eventually(
        'the volume unmounted',
        () => (podVolumeMounts(uid).length === 0 ? true : undefined),
        60_000,
      );
      await eventually(
        "the garbage collector to delete pod a's status and Secret",
        async () =>
          (await spcps('a')) === undefined && (await syncedSecret('a')) === undefined ? true : undefined,
        120_000,
        1_000,
      );
      expect(await spcps('b')).toBeDefined();
      expect(await syncedSecret('b')).toBeDefined();
      expect(await read('b')).toBe(value());
      // Pod a again, mounted by this side from the start: the next switch adopts one of each.
      await startSecretsPod(lab, {
        name: 'a',
        namespace: APP,
        serviceAccountName: 'app',
        secretProviderClass: PODS.a.spc,
      });
      await everywhere(`pod a mounted again under ${to}'s driver`);
      // Its synced Secret owned, so that it goes with its pods: our driver sets the owner when it
      // creates the Secret, upstream's adds it a moment later (a pod deleted before that leaves the
      // Secret with no owner, never collected: the last step failed so under upstream's driver).
      await eventually(
        `pod a's synced Secret owned under ${to}'s driver`,
        async () => ((await syncedSecret('a'))?.metadata.ownerReferences?.length ? true : undefined),
        60_000,
        500,
      );
    },
    300_000,
  );
}

describe('switching in place between upstream and ours, both ways (issue 24 item 6)', () => {
  step(
    "upstream's driver chart and AWS provider installer, as a user has them: two pods mounted, rotation and sync on",
    async () => {
      const installed = await helm(
        'install',
        DRIVER_RELEASE,
        upstreamChart,
        '-n',
        SYSTEM_NAMESPACE,
        ...USER_VALUES,
        '--wait',
        '--timeout',
        '300s',
      );
      expect(installed).toMatch(/STATUS: deployed/);
      await installer('apply', UPSTREAM_INSTALLER);
      const driver = await rolledOut(DRIVER_DS);
      const provider = await rolledOut(PROVIDER_DS);
      expect(driver.images['secrets-store']).toMatch(IMAGES.upstream.driver);
      expect(provider.images['provider-aws-installer']).toMatch(IMAGES.upstream.provider);

      if (!aws) throw new Error('no AWS clients');
      await aws.secretsManager.send(new CreateSecretCommand({ Name: OBJECT, SecretString: value() }));
      const roleArn = await createRole(
        aws.iam,
        ROLE,
        [
          {
            Effect: 'Allow',
            Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
            Resource: `arn:aws:secretsmanager:${node.region}:*:secret:${OBJECT}-*`,
          },
        ],
        irsaTrustPolicy(lab.serviceAccountIssuer, `system:serviceaccount:${APP}:app`),
      );
      await createNamespace(kube, APP);
      await createServiceAccount(kube, APP, 'app', roleArn);
      for (const { spc, secret } of Object.values(PODS))
        await kube.create(resourcePath(Resources.secretProviderClasses, APP), {
          apiVersion: 'secrets-store.csi.x-k8s.io/v1',
          kind: 'SecretProviderClass',
          metadata: { name: spc },
          spec: {
            provider: 'aws',
            parameters: {
              region: node.region,
              objects: `- {objectName: ${OBJECT}, objectType: secretsmanager, objectAlias: ${FILE}}`,
            },
            secretObjects: [{ secretName: secret, type: 'Opaque', data: [{ objectName: FILE, key: FILE }] }],
          },
        });
      for (const [name, { spc }] of Object.entries(PODS))
        await startSecretsPod(lab, {
          name,
          namespace: APP,
          serviceAccountName: 'app',
          secretProviderClass: spc,
        });
      await everywhere("the value under upstream's driver");
      // Upstream rotates here too (the lab's baseline).
      await rotate();
      await everywhere("the rotated value under upstream's driver");
    },
    900_000,
  );

  switchSteps('ours');
  switchSteps('upstream');

  step(
    'the last pods deleted: no mount, status or synced Secret is left',
    async () => {
      const uids = [(await podView('a')).uid, (await podView('b')).uid];
      await kubectl('delete', 'pods', '--all', '-n', APP, '--wait=true', '--timeout=60s');
      await eventually(
        'every volume unmounted, every status and Secret gone',
        async () => {
          // What is left, named, so that a timeout says which (the last error of the wait).
          const left: string[] = uids
            .filter((u) => podVolumeMounts(u).length > 0)
            .map((u) => `a mount of pod ${u}`);
          for (const p of Object.keys(PODS) as PodKey[]) {
            const status = await spcps(p);
            if (status !== undefined)
              left.push(
                `status ${spcpsName(p)} (owners ${JSON.stringify(status.metadata.ownerReferences ?? [])})`,
              );
            const secret = await syncedSecret(p);
            if (secret !== undefined)
              left.push(
                `Secret ${PODS[p].secret} (owners ${JSON.stringify(secret.metadata.ownerReferences ?? [])})`,
              );
          }
          if (left.length > 0) throw new Error(`left: ${left.join('; ')}`);
          return true;
        },
        120_000,
        1_000,
      );
    },
    240_000,
  );
});
