// The sync controller on the lab's real node (make lab-up NODE=1; make test starts it): its chart
// installed with helm as a user installs it, with the AWS provider as its sidecar
// (examples/aws-provider-sidecar.yaml), two replicas of this checkout's images, an IRSA role in the
// lab's AWS, SecretSyncs whose Secrets appear. Then issue 23's leader election: one replica active,
// the standby takes over within 15 s of the leader being killed (its process killed outright, and
// its pod force-deleted), no Secret written twice for one change, even across a takeover, and a
// graceful stop that hands the Lease over at once. The measured times are logged (and written to
// sync-controller-node-times.txt in the test logs). Without the real node these tests fail and say
// why; they never pass by skipping. Cost: about 95 s, of which 32 s watch two polls for one change.
//
// What kills what, as measured on the node: `ctr tasks kill -s SIGKILL` ends the manager's process
// with no handler run (the kubelet restarts the container); `kubectl delete --grace-period=0 --force`
// removes the pod object at once, but the kubelet still stops its containers with a SIGTERM, and a
// SIGKILL 2 s later (containerd: "StopContainer ... with timeout 2 (s)"), so the leader releases
// the Lease within those 2 s, as in a graceful stop.
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { DeleteRoleCommand, DeleteRolePolicyCommand } from '@aws-sdk/client-iam';
import type { KubeList, KubeObject, Secret } from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';

import {
  adminClient,
  awsAdmin,
  createRole,
  createServiceAccount,
  eventually,
  irsaTrustPolicy,
  labTool,
  logDir,
  metricValue,
  mustRun,
  requireLab,
  SYNC_CONTROLLER_CHART,
  SYNC_CONTROLLER_NAMESPACE,
  SYNC_CONTROLLER_RELEASE,
  uniqueSuffix,
  testSequence,
} from '../src';
import { ContainerLogKeeper, keptName, POD_LOGS_DIR } from '../src/container-logs';

const lab = requireLab();
const kube = adminClient(lab);
const containerLogs = new ContainerLogKeeper();

const suffix = uniqueSuffix();
const SYSTEM = SYNC_CONTROLLER_NAMESPACE;
const APP = `ssc-takeover-${suffix}`;
const SERVICE_ACCOUNT = 'app';
const CLASS = 'takeover';
const ROLE = `ssc-takeover-${suffix}`;
const LEASE = '29f1d54e.secret-sync.x-k8s.io';
const MANAGER = 'secrets-store-sync-controller';
const SYNCED_LABEL = 'secrets-store.sync.x-k8s.io';
const CRDS = ['secretsyncs.secret-sync.x-k8s.io', 'secretproviderclasses.secrets-store.csi.x-k8s.io'];

/** The chart's rotationPollInterval here: every SecretSync is fetched again this often. */
const POLL_MS = 15_000;
/** The controller's defaults, which the chart keeps (leaderElection values empty). */
const RETRY_PERIOD_MS = 2_000;
/** Issue 23: the standby takes over within 15 s of the leader being killed. No slack on top. */
const TAKEOVER_LIMIT_MS = 15_000;

/** Two objects in Secrets Manager; the log audit (log-audit.test.ts) looks for these values. */
const OBJECT_A = `ssc-takeover-a-${suffix}`;
const OBJECT_B = `ssc-takeover-b-${suffix}`;
const VALUES = {
  a1: 'leader-takeover-a1',
  a2: 'leader-takeover-a2',
  b1: 'leader-takeover-b1',
  b2: 'leader-takeover-b2',
};

/** What each SecretSync maps: target key → object. */
type Mapping = Record<string, string>;
const SYNCS: Record<string, Mapping> = {
  'only-a': { password: OBJECT_A },
  'a-again': { token: OBJECT_A },
  'only-b': { password: OBJECT_B },
  both: { first: OBJECT_A, second: OBJECT_B },
};
/** Current value of each object in AWS, as the test set it. */
const current: Record<string, string> = { [OBJECT_A]: VALUES.a1, [OBJECT_B]: VALUES.b1 };
/** Every SecretSync created so far, with its mapping. */
const created: Record<string, Mapping> = {};

interface ControllerPod {
  name: string;
  uid: string;
  ip: string;
  ready: boolean;
  terminating: boolean;
  containerId: string;
  restarts: number;
}

interface LeaseObject extends KubeObject {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}

interface SecretSyncObject extends KubeObject {
  status?: { syncHash?: string; conditions?: Array<{ type: string; status: string; reason: string }> };
}

interface ManagedFieldsEntry {
  manager: string;
  operation: string;
  time?: string;
  fieldsV1?: unknown;
}

/** What a write to a Secret changes: its resourceVersion and the controller's managedFields entry. */
interface SecretMark {
  resourceVersion: string;
  managed: string;
}

const awsRegion = process.env.LAB_NODE_REGION ?? 'ap-northeast-1';
let aws: ReturnType<typeof awsAdmin> | undefined;
let work: string | undefined;
let crdsBefore: string[] = [];

function log(line: string): void {
  // The measured times, in the run's output and in the test logs folder.
  process.stdout.write(`[sync-controller-node] ${line}\n`);
  fs.appendFileSync(path.join(logDir(), 'sync-controller-node-times.txt'), `${line}\n`);
}

/** A step of the sequence: each needs the ones before it. */
const step = testSequence();

// --- the cluster, read with the admin client -------------------------------------------------

async function controllerPods(): Promise<ControllerPod[]> {
  const list = await kube.get<KubeList<KubeObject & { status?: Record<string, unknown> }>>(
    resourcePath(Resources.pods, SYSTEM),
    { query: { labelSelector: 'control-plane=controller-manager' } },
  );
  return list.items.map((p) => {
    const status = (p.status ?? {}) as {
      podIP?: string;
      conditions?: Array<{ type: string; status: string }>;
      containerStatuses?: Array<{ name: string; containerID?: string; restartCount?: number }>;
    };
    const manager = status.containerStatuses?.find((c) => c.name === 'manager');
    return {
      name: p.metadata.name ?? '',
      uid: p.metadata.uid ?? '',
      ip: status.podIP ?? '',
      ready: status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      terminating: Boolean(p.metadata.deletionTimestamp),
      containerId: (manager?.containerID ?? '').replace(/^containerd:\/\//, ''),
      restarts: manager?.restartCount ?? 0,
    };
  });
}

async function lease(): Promise<LeaseObject | undefined> {
  try {
    return await kube.get<LeaseObject>(`/apis/coordination.k8s.io/v1/namespaces/${SYSTEM}/leases/${LEASE}`, {
      timeoutMs: 5_000,
    });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The pod of a leader identity `<pod>_<uuid>`. */
function podOf(identity: string): string {
  return identity.slice(0, Math.max(0, identity.lastIndexOf('_')));
}

async function secret(name: string): Promise<Secret | undefined> {
  try {
    return await kube.get<Secret>(resourcePath(Resources.secrets, APP, name), { timeoutMs: 5_000 });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The data a SecretSync's Secret must hold now. */
function expectedData(mapping: Mapping): Record<string, string> {
  return Object.fromEntries(
    Object.entries(mapping).map(([key, object]) => [
      key,
      Buffer.from(current[object] ?? '').toString('base64'),
    ]),
  );
}

function holds(s: Secret | undefined, mapping: Mapping): boolean {
  return JSON.stringify(s?.data ?? {}) === JSON.stringify(expectedData(mapping));
}

async function syncedSecrets(): Promise<
  KubeList<Secret & { metadata: { managedFields?: ManagedFieldsEntry[] } }>
> {
  return kube.get(resourcePath(Resources.secrets, APP), { query: { labelSelector: SYNCED_LABEL } });
}

/** Every synced Secret's resourceVersion and the controller's managedFields entry; the list's version. */
async function marks(): Promise<{ listVersion: string; secrets: Record<string, SecretMark> }> {
  const list = await syncedSecrets();
  const secrets: Record<string, SecretMark> = {};
  for (const s of list.items) {
    const entry = s.metadata.managedFields?.find((m) => m.manager === MANAGER);
    secrets[s.metadata.name ?? ''] = {
      resourceVersion: s.metadata.resourceVersion ?? '',
      managed: JSON.stringify(entry ?? null),
    };
  }
  return { listVersion: list.metadata.resourceVersion ?? '', secrets };
}

async function secretSyncVersions(): Promise<Record<string, string>> {
  const list = await kube.get<KubeList<SecretSyncObject>>(
    `/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/${APP}/secretsyncs`,
  );
  return Object.fromEntries(list.items.map((s) => [s.metadata.name ?? '', s.metadata.resourceVersion ?? '']));
}

async function createSecretSync(name: string, mapping: Mapping): Promise<void> {
  await kube.create(`/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/${APP}/secretsyncs`, {
    apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
    kind: 'SecretSync',
    metadata: { name },
    spec: {
      serviceAccountName: SERVICE_ACCOUNT,
      secretProviderClassName: CLASS,
      secretObject: {
        type: 'Opaque',
        data: Object.entries(mapping).map(([targetKey, sourcePath]) => ({ sourcePath, targetKey })),
      },
    },
  });
  created[name] = mapping;
}

function metricsUrl(pod: ControllerPod): string {
  return `http://${pod.ip}:8085/metrics`;
}

/**
 * Two Ready replicas, not terminating; one holds the Lease and says so in its metrics, the other
 * says it stands by. Returns the leader, its identity, and the standby.
 */
async function twoReplicasOneLeader(
  timeoutMs = 120_000,
): Promise<{ leader: ControllerPod; identity: string; standby: ControllerPod }> {
  return eventually(
    'two Ready replicas, one holding the Lease',
    async () => {
      const pods = (await controllerPods()).filter((p) => !p.terminating);
      if (pods.length !== 2 || !pods.every((p) => p.ready)) return undefined;
      const identity = (await lease())?.spec.holderIdentity ?? '';
      const leader = pods.find((p) => p.name === podOf(identity));
      const standby = pods.find((p) => p !== leader);
      if (!leader || !standby) return undefined;
      const status = async (p: ControllerPod) =>
        metricValue(metricsUrl(p), 'leader_election_master_status', { name: LEASE });
      if ((await status(leader)) !== 1 || (await status(standby)) !== 0) return undefined;
      return { leader, identity, standby };
    },
    timeoutMs,
    500,
  );
}

/** Counts each synced Secret's MODIFIED events from a resourceVersion on. */
class SecretWrites {
  private readonly abort = new AbortController();
  private readonly modified = new Map<string, number>();
  private running?: Promise<void>;

  start(fromVersion: string): void {
    let version = fromVersion;
    const loop = async () => {
      while (!this.abort.signal.aborted) {
        await kube
          .watch<Secret>(
            resourcePath(Resources.secrets, APP),
            { labelSelector: SYNCED_LABEL, resourceVersion: version },
            (event) => {
              if (event.type === 'ERROR') return;
              version = event.object.metadata.resourceVersion ?? version;
              if (event.type === 'MODIFIED') {
                const name = event.object.metadata.name ?? '';
                this.modified.set(name, (this.modified.get(name) ?? 0) + 1);
              }
            },
            this.abort.signal,
          )
          .catch(() => sleep(200));
      }
    };
    this.running = loop();
  }

  count(name: string): number {
    return this.modified.get(name) ?? 0;
  }

  /** Each SecretSync's writes, in order of name. */
  counts(names: string[]): Record<string, number> {
    return Object.fromEntries(names.map((n) => [n, this.count(n)]));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}

/** The new leader's first pass: every SecretSync reconciled, nothing queued or under way. */
async function startUpPassDone(leader: ControllerPod, secretSyncs: number): Promise<void> {
  await eventually(
    `the new leader ${leader.name} to reconcile all ${secretSyncs} SecretSyncs`,
    async () => {
      const url = metricsUrl(leader);
      const done = await metricValue(url, 'controller_runtime_reconcile_total', { controller: 'secretsync' });
      const queued = await metricValue(url, 'workqueue_depth', { name: 'secretsync' });
      const active = await metricValue(url, 'controller_runtime_active_workers', {
        controller: 'secretsync',
      });
      return done >= secretSyncs && queued === 0 && active === 0 ? true : undefined;
    },
    60_000,
    250,
  );
}

interface Takeover {
  /** When the Lease was first seen with no holder (a release), if it was. */
  releasedMs?: number;
  /** When another identity held it. */
  acquiredMs: number;
  holder: string;
  /** When the SecretSync created right after the kill had its Secret with its data. */
  secretMs: number;
}

/** Watches the Lease and the new SecretSync's Secret from `t0` (the kill) on, every 100 ms. */
async function measureTakeover(t0: number, killed: string, newSync: string): Promise<Takeover> {
  let releasedMs: number | undefined;
  let acquired: { ms: number; holder: string } | undefined;
  let secretMs: number | undefined;
  const deadline = t0 + 60_000;
  while ((acquired === undefined || secretMs === undefined) && Date.now() < deadline) {
    const [l, s] = await Promise.all([
      lease().catch(() => undefined),
      secretMs === undefined ? secret(newSync).catch(() => undefined) : Promise.resolve(undefined),
    ]);
    const ms = Date.now() - t0;
    const holder = l?.spec.holderIdentity ?? (l ? '' : killed);
    if (holder === '' && releasedMs === undefined) releasedMs = ms;
    if (holder !== '' && holder !== killed && acquired === undefined) acquired = { ms, holder };
    if (secretMs === undefined && holds(s, created[newSync] ?? {})) secretMs = ms;
    await sleep(100);
  }
  if (!acquired) throw new Error(`no replica took the Lease over within 60 s of the kill (it was ${killed})`);
  if (secretMs === undefined)
    throw new Error(
      `the SecretSync ${newSync} created after the kill had no Secret with its data within 60 s`,
    );
  return { releasedMs, acquiredMs: acquired.ms, holder: acquired.holder, secretMs };
}

/** A container's log, as containerd wrote it and the keeper kept it. */
function containerLog(pod: ControllerPod, container: string, restart: number): string {
  containerLogs.sweep();
  const file = path.join(POD_LOGS_DIR, `${SYSTEM}_${pod.name}_${pod.uid}`, container, `${restart}.log`);
  const kept = path.join(logDir(), keptName(file));
  for (const f of [kept, file]) if (fs.existsSync(f)) return fs.readFileSync(f, 'utf8');
  return '';
}

function ms(value: number | undefined): string {
  return value === undefined ? 'not seen' : `${(value / 1000).toFixed(2)} s`;
}

async function putValue(object: string, value: string): Promise<void> {
  await aws?.secretsManager.send(new PutSecretValueCommand({ SecretId: object, SecretString: value }));
  current[object] = value;
}

/** The SecretSyncs whose Secret depends on `object`. */
function dependingOn(object: string): string[] {
  return Object.keys(created).filter((n) => Object.values(created[n] ?? {}).includes(object));
}

// --- set-up and clean-up -----------------------------------------------------------------------

async function removeEverything(): Promise<void> {
  labTool(lab, 'helm', [
    'uninstall',
    SYNC_CONTROLLER_RELEASE,
    '--namespace',
    SYSTEM,
    '--wait',
    '--timeout',
    '60s',
  ]);
  labTool(lab, 'kubectl', [
    'delete',
    'namespace',
    APP,
    SYSTEM,
    '--ignore-not-found',
    '--wait=true',
    '--timeout=90s',
  ]);
  for (const crd of CRDS.filter((c) => !crdsBefore.includes(c)))
    labTool(lab, 'kubectl', ['delete', 'crd', crd, '--ignore-not-found', '--wait=true', '--timeout=60s']);
  const quiet = (p: Promise<unknown> | undefined) => p?.catch(() => undefined);
  await quiet(aws?.iam.send(new DeleteRolePolicyCommand({ RoleName: ROLE, PolicyName: 'read' })));
  await quiet(aws?.iam.send(new DeleteRoleCommand({ RoleName: ROLE })));
  for (const object of [OBJECT_A, OBJECT_B])
    await quiet(
      aws?.secretsManager.send(
        new DeleteSecretCommand({ SecretId: object, ForceDeleteWithoutRecovery: true }),
      ),
    );
}

beforeAll(() => {
  if (
    process.env.LAB_MODE !== 'node' ||
    !process.env.LAB_NODE_AWS_ENDPOINT_URL ||
    !process.env.LAB_CONTAINERD_SOCKET
  ) {
    throw new Error(
      'the lab runs without its real node (LAB_MODE is not "node"): the sync controller on the node needs `make lab-up NODE=1` and `make lab-images` (make test starts both)',
    );
  }
  containerLogs.start();
  aws = awsAdmin(lab, awsRegion);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ssc-node-'));
  // A CRD an earlier test file deleted without waiting may still be going: helm would skip it as
  // present, and then it would be gone.
  for (const crd of CRDS) {
    const going = labTool(lab, 'kubectl', [
      'get',
      'crd',
      crd,
      '-o',
      'jsonpath={.metadata.deletionTimestamp}',
    ]);
    if (going.status === 0 && going.stdout.trim())
      mustRun(lab, 'kubectl', ['wait', '--for=delete', `crd/${crd}`, '--timeout=60s']);
  }
  crdsBefore = CRDS.filter((c) => labTool(lab, 'kubectl', ['get', 'crd', c]).status === 0);
});

afterAll(async () => {
  if (aws) await removeEverything();
  aws?.destroy();
  kube.close();
  containerLogs.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the sync controller on the real node: two replicas, one leader (issue 23)', () => {
  step(
    'installs with helm and the AWS sidecar example: both replicas Ready, one holds the Lease, the SecretSyncs get their Secrets',
    async () => {
      // A release left by an earlier run that stopped half-way.
      labTool(lab, 'helm', [
        'uninstall',
        SYNC_CONTROLLER_RELEASE,
        '--namespace',
        SYSTEM,
        '--wait',
        '--timeout',
        '60s',
      ]);
      labTool(lab, 'kubectl', [
        'delete',
        'namespace',
        SYSTEM,
        '--ignore-not-found',
        '--wait=true',
        '--timeout=90s',
      ]);

      // AWS: two secrets, and an IRSA role that the app's ServiceAccount alone may assume.
      if (!aws) throw new Error('no AWS clients');
      for (const [object, value] of [
        [OBJECT_A, VALUES.a1],
        [OBJECT_B, VALUES.b1],
      ] as const)
        await aws.secretsManager.send(new CreateSecretCommand({ Name: object, SecretString: value }));
      const roleArn = await createRole(
        aws.iam,
        ROLE,
        [
          {
            Effect: 'Allow',
            Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
            Resource: [OBJECT_A, OBJECT_B].map((o) => `arn:aws:secretsmanager:${awsRegion}:*:secret:${o}-*`),
          },
        ],
        irsaTrustPolicy(lab.serviceAccountIssuer, `system:serviceaccount:${APP}:${SERVICE_ACCOUNT}`),
      );

      // The example's values, with what the lab needs: its AWS endpoint as pods reach it, the
      // node's region, images imported into the node (never pulled), and a short poll.
      const values = parse(
        fs.readFileSync(path.join(SYNC_CONTROLLER_CHART, 'examples', 'aws-provider-sidecar.yaml'), 'utf8'),
      ) as {
        providerContainer: Array<{ imagePullPolicy?: string; env?: Array<{ name: string; value: string }> }>;
      };
      const sidecar = values.providerContainer[0];
      if (!sidecar) throw new Error('the example has no provider sidecar');
      sidecar.imagePullPolicy = 'Never';
      sidecar.env = [
        ...(sidecar.env ?? []).filter((e) => e.name !== 'AWS_REGION'),
        { name: 'AWS_REGION', value: awsRegion },
        { name: 'AWS_ENDPOINT_URL', value: process.env.LAB_NODE_AWS_ENDPOINT_URL ?? '' },
      ];
      const valuesFile = path.join(work ?? os.tmpdir(), 'values.json');
      fs.writeFileSync(
        valuesFile,
        JSON.stringify({
          ...values,
          image: { pullPolicy: 'Never' },
          rotationPollInterval: `${POLL_MS / 1000}s`,
        }),
      );
      const installed = mustRun(lab, 'helm', [
        'upgrade',
        '--install',
        SYNC_CONTROLLER_RELEASE,
        SYNC_CONTROLLER_CHART,
        '--namespace',
        SYSTEM,
        '--create-namespace',
        '-f',
        valuesFile,
        '--wait',
        '--timeout',
        '180s',
      ]);
      expect(installed).toMatch(/STATUS: deployed/);

      const { leader, identity, standby } = await twoReplicasOneLeader();
      log(`installed: leader ${identity}, standby ${standby.name}`);
      expect(identity).toMatch(new RegExp(`^${leader.name}_[0-9a-f-]{36}$`));

      mustRun(lab, 'kubectl', ['create', 'namespace', APP]);
      await createServiceAccount(kube, APP, SERVICE_ACCOUNT, roleArn);
      await kube.create(resourcePath(Resources.secretProviderClasses, APP), {
        apiVersion: 'secrets-store.csi.x-k8s.io/v1',
        kind: 'SecretProviderClass',
        metadata: { name: CLASS },
        spec: {
          provider: 'aws',
          parameters: {
            objects: [OBJECT_A, OBJECT_B]
              .map((o) => `- {objectName: ${o}, objectType: secretsmanager}`)
              .join('\n'),
          },
        },
      });
      for (const [name, mapping] of Object.entries(SYNCS)) await createSecretSync(name, mapping);

      for (const name of Object.keys(SYNCS)) {
        const s = await eventually(
          `the Secret of SecretSync ${name}`,
          async () => {
            const found = await secret(name);
            return holds(found, created[name] ?? {}) ? found : undefined;
          },
          60_000,
          250,
        );
        expect(s.type).toBe('Opaque');
        expect(s.metadata.labels).toEqual({ [SYNCED_LABEL]: '' });
        expect(s.metadata.ownerReferences).toEqual([
          expect.objectContaining({ apiVersion: 'secret-sync.x-k8s.io/v1alpha1', kind: 'SecretSync', name }),
        ]);
      }
      // One active: the leader synced them, the standby reconciled nothing.
      const reconciles = async (p: ControllerPod) =>
        metricValue(metricsUrl(p), 'controller_runtime_reconcile_total', { controller: 'secretsync' });
      expect(await reconciles(standby)).toBe(0);
      expect(await reconciles(leader)).toBeGreaterThanOrEqual(Object.keys(SYNCS).length);
    },
    420_000,
  );

  /**
   * Kills the leader with `kill`, creates a SecretSync right after, and checks the takeover: the
   * Lease held by another identity and the new Secret within 15 s; the new leader's first pass
   * writes no Secret again, but for those of `changedBefore`, whose object was changed in AWS just
   * before the kill: those exactly once, whoever of the two leaders wrote it.
   */
  async function takeover(
    what: string,
    kill: (leader: ControllerPod) => void,
    changedBefore?: { object: string; value: string },
  ): Promise<{ took: Takeover; leader: ControllerPod; identity: string }> {
    const { leader, identity } = await twoReplicasOneLeader();
    const before = await marks();
    const syncsBefore = await secretSyncVersions();
    const writes = new SecretWrites();
    writes.start(before.listVersion);
    try {
      if (changedBefore) await putValue(changedBefore.object, changedBefore.value);
      const newSync = `after-${what.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
      const t0 = Date.now();
      kill(leader);
      await createSecretSync(newSync, { password: OBJECT_A });
      const took = await measureTakeover(t0, identity, newSync);
      log(
        `${what}: Lease released ${ms(took.releasedMs)}, taken over ${ms(took.acquiredMs)} by ${took.holder} ` +
          `(${podOf(took.holder) === leader.name ? "the killed pod's restarted container" : 'the other pod'}), ` +
          `new SecretSync's Secret ${ms(took.secretMs)} after the kill`,
      );
      // The requirement, with no slack, for any identity but the killed one: after a SIGKILL
      // the kubelet restarts the container at once, and its new process is a candidate too (it wins
      // when it first sees the Lease before the standby last saw it renewed). The new SecretSync's
      // Secret is measured and logged, not bounded: it comes after the takeover plus the new
      // leader's first Mount, which a sidecar that has not served one yet answers in 2-3 s under the
      // example's 50m CPU limit (9 s + 3 s here), so a takeover at the end of its range (12-13 s)
      // would put it past 15 s.
      expect(took.acquiredMs).toBeLessThanOrEqual(TAKEOVER_LIMIT_MS);

      // The new leader's first pass over every SecretSync, then: nothing written again.
      const pods = await controllerPods();
      const newLeader = pods.find((p) => p.name === podOf(took.holder) && !p.terminating);
      if (!newLeader) throw new Error(`the new holder ${took.holder} has no running pod`);
      await startUpPassDone(newLeader, Object.keys(created).length);
      const after = await marks();
      const syncsAfter = await secretSyncVersions();
      const changed = changedBefore ? dependingOn(changedBefore.object) : [];
      const untouched = Object.keys(before.secrets).filter((n) => !changed.includes(n));
      // The new SecretSync's Secret was created once (ADDED) and never written again.
      expect(writes.count(newSync)).toBe(0);
      const pick = <T>(m: Record<string, T>, names: string[]) =>
        Object.fromEntries(names.map((n) => [n, m[n]]));
      // Their resourceVersions and the controller's managedFields entries are the same.
      expect(pick(after.secrets, untouched)).toEqual(pick(before.secrets, untouched));
      // Nor was any status written again (no new syncHash or lastSuccessfulSyncTime).
      expect(pick(syncsAfter, untouched)).toEqual(pick(syncsBefore, untouched));
      expect(writes.counts(untouched)).toEqual(Object.fromEntries(untouched.map((n) => [n, 0])));
      for (const name of changed) expect(holds(await secret(name), created[name] ?? {})).toBe(true);
      expect(writes.counts(changed)).toEqual(Object.fromEntries(changed.map((n) => [n, 1])));
      return { took, leader, identity };
    } finally {
      await writes.stop();
    }
  }

  step(
    'the leader killed outright (SIGKILL, no SIGTERM handler runs): another replica holds the Lease within 15 s, a new SecretSync gets its Secret, no Secret written twice',
    async () => {
      const { leader } = await takeover(
        'SIGKILL',
        (p) => {
          // containerd's own kill of the manager's process: the kubelet is not asked, nothing is
          // sent first, so nothing of the controller runs after it.
          const killed = spawnSync(
            'ctr',
            [
              '--address',
              process.env.LAB_CONTAINERD_SOCKET ?? '',
              '-n',
              'k8s.io',
              'tasks',
              'kill',
              '-s',
              'SIGKILL',
              p.containerId,
            ],
            { encoding: 'utf8' },
          );
          if (killed.status !== 0) throw new Error(`ctr tasks kill: ${killed.stderr}`);
        },
        // Changed in AWS just before the kill: written once, by the old leader or the new one.
        { object: OBJECT_B, value: VALUES.b2 },
      );
      // The killed process had no chance to release the Lease.
      const killedLog = containerLog(leader, 'manager', leader.restarts);
      expect(killedLog).toContain('successfully acquired lease');
      expect(killedLog).not.toContain('shutting down');
      expect(killedLog).not.toContain('released the leader lease');
    },
    240_000,
  );

  step(
    'one change in AWS after the takeover: each Secret that depends on it is written exactly once over two polls, the others not at all',
    async () => {
      await twoReplicasOneLeader();
      const { listVersion, secrets } = await marks();
      const writes = new SecretWrites();
      writes.start(listVersion);
      try {
        await putValue(OBJECT_A, VALUES.a2);
        const changed = dependingOn(OBJECT_A);
        const others = Object.keys(secrets).filter((n) => !changed.includes(n));
        await sleep(2 * POLL_MS + 2_000);
        log(
          `one change in AWS: writes per Secret over two polls ${JSON.stringify(writes.counts(Object.keys(secrets)))}`,
        );
        expect(writes.counts(changed)).toEqual(Object.fromEntries(changed.map((n) => [n, 1])));
        expect(writes.counts(others)).toEqual(Object.fromEntries(others.map((n) => [n, 0])));
        for (const name of changed) expect(holds(await secret(name), created[name] ?? {})).toBe(true);
      } finally {
        await writes.stop();
      }
    },
    120_000,
  );

  step(
    'the leader pod force-deleted (--grace-period=0 --force): another replica holds the Lease within 15 s, a new SecretSync gets its Secret, no Secret written twice',
    async () => {
      const { leader, took } = await takeover('force-delete', (p) => {
        mustRun(lab, 'kubectl', [
          'delete',
          'pod',
          p.name,
          '-n',
          SYSTEM,
          '--grace-period=0',
          '--force',
          '--wait=false',
        ]);
      });
      // The kubelet still sends a SIGTERM, 2 s before the SIGKILL: the leader cancels what it was
      // doing (the SecretSync created right after the kill, often) and releases the Lease in time.
      await sleep(3_000);
      const released = containerLog(leader, 'manager', leader.restarts).includes('released the leader lease');
      log(
        `force-delete: the old leader ${released ? 'released' : 'did not release'} the Lease (taken over ${ms(took.acquiredMs)})`,
      );
      expect(released).toBe(true);
    },
    240_000,
  );

  step(
    'a graceful stop (kubectl delete pod): the Lease is released and the standby takes it within a couple of retry periods',
    async () => {
      const { leader, identity, standby } = await twoReplicasOneLeader();
      const t0 = Date.now();
      mustRun(lab, 'kubectl', ['delete', 'pod', leader.name, '-n', SYSTEM, '--wait=false']);
      let releasedMs: number | undefined;
      const acquired = await eventually(
        'the standby to take the Lease',
        async () => {
          const holder = (await lease())?.spec.holderIdentity ?? '';
          if (holder === '' && releasedMs === undefined) releasedMs = Date.now() - t0;
          return holder !== '' && holder !== identity ? { holder, ms: Date.now() - t0 } : undefined;
        },
        30_000,
        100,
      );
      await eventually(
        'the stopped leader to log its release',
        () =>
          containerLog(leader, 'manager', leader.restarts).includes('released the leader lease')
            ? true
            : undefined,
        15_000,
        250,
      );
      log(
        `graceful stop: Lease released ${ms(releasedMs)}, taken over ${ms(acquired.ms)} by ${acquired.holder} after the delete`,
      );
      expect(podOf(acquired.holder)).toBe(standby.name);
      // Released, the Lease is free at the standby's next try: within two retry periods of the
      // release, and long before it would have expired (10 s after its last renewal).
      if (releasedMs !== undefined) expect(acquired.ms - releasedMs).toBeLessThanOrEqual(2 * RETRY_PERIOD_MS);
      expect(acquired.ms).toBeLessThan(10_000 - RETRY_PERIOD_MS);
    },
    120_000,
  );

  step(
    'cleans up: helm uninstall, the namespaces, the IRSA role and the AWS secrets; the containers logs are kept',
    async () => {
      await removeEverything();
      expect(
        labTool(lab, 'helm', ['status', SYNC_CONTROLLER_RELEASE, '--namespace', SYSTEM]).status,
      ).not.toBe(0);
      for (const ns of [APP, SYSTEM])
        expect(labTool(lab, 'kubectl', ['get', 'namespace', ns]).status).not.toBe(0);
      containerLogs.sweep();
      expect(
        fs.readdirSync(logDir()).some((f) => f.startsWith(`node-${SYSTEM}_`) && f.includes('-manager-')),
      ).toBe(true);
    },
    240_000,
  );
});
