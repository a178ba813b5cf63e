// The sync controller as its chart runs it, on this machine: the chart rendered with the lab's helm
// and the values of its AWS example (examples/aws-provider-sidecar.yaml); its CRDs applied
// server-side; its ServiceAccount, roles, bindings and admission policies applied to the lab; the
// manager container and the provider sidecar as local processes with the containers' arguments
// (local paths and loopback addresses substituted) and the environment the kubelet would give them
// (SYNC_CONTROLLER_POD_* as from the downward API, the example's AWS_REGION). Both authenticate as
// the chart's ServiceAccount, as in its pod, so the chart's RBAC and policies are what they get.
// The sidecar is our AWS provider, or upstream's (upstream-programs.ts), or none.
import type { KubeClient, ResourceType } from '@sscsi/common';
import {
  connectionFromKubeconfig,
  isForbidden,
  KubeApiError,
  KubeClient as Client,
  Resources,
  resourcePath,
} from '@sscsi/common';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { awsProviderEnv } from './aws-provider';
import type { Container, DeploymentManifest, Manifest } from './charts';
import {
  containerOf,
  expandedArgs,
  objectOf,
  renderChart,
  serviceAccountKubeconfig,
  SYNC_CONTROLLER_CHART,
  SYNC_CONTROLLER_RELEASE,
  withFlags,
} from './charts';
import { createNamespace, deleteNamespace, kubectl, kubectlAsync } from './cluster';
import { startProgram } from './demo-system';
import type { Lab } from './lab';
import { adminClient, eventually, requireLab, uniqueSuffix } from './lab';
import type { ManagedProcess } from './processes';
import {
  loggedAddressOf,
  PROVIDER_AWS_MAIN,
  startExecutable,
  startNodeProgram,
  SYNC_CONTROLLER_MAIN,
} from './processes';
import { startUpstreamAwsProvider, UpstreamAwsProviderSandbox, upstreamProgram } from './upstream-programs';

export const SYNC_CONTROLLER_AWS_EXAMPLE = path.join(
  SYNC_CONTROLLER_CHART,
  'examples',
  'aws-provider-sidecar.yaml',
);
export const SYNC_CONTROLLER_CRD_DIR = path.join(SYNC_CONTROLLER_CHART, 'crds');
/** The chart's ServiceAccount (its default controllerName), the user its policies confine. */
export const SYNC_CONTROLLER_SERVICE_ACCOUNT = 'secrets-store-sync-controller-manager';
export const SECRET_SYNC_API = '/apis/secret-sync.x-k8s.io/v1alpha1';
/** SecretSyncs as a resource type, for informers (the API path as SECRET_SYNC_API). */
export const SECRET_SYNCS: ResourceType = {
  group: 'secret-sync.x-k8s.io',
  version: 'v1alpha1',
  plural: 'secretsyncs',
  kind: 'SecretSync',
  namespaced: true,
};

/** The API path of a namespace's SecretSyncs, or of one. */
export function secretSyncPath(namespace: string, name?: string): string {
  return `${SECRET_SYNC_API}/namespaces/${namespace}/secretsyncs${name ? `/${name}` : ''}`;
}

/** The admission policies and their bindings: cluster-wide objects that confine one ServiceAccount. */
const POLICY_KINDS = ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];
/** What of the chart is applied to the lab: everything but the Deployment (run here as processes). */
const APPLIED_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

export interface SyncControllerSystemOptions {
  /** The release namespace, created and deleted with the system; default `ssc-<random>`. */
  namespace?: string;
  /** Chart values on top of the example's, such as rotationPollInterval. */
  set?: Record<string, string>;
  setJson?: Record<string, unknown>;
  /** The sidecar's AWS_REGION, as a copy of the example sets it; default the example's own. */
  region?: string;
  /** The provider sidecar: this checkout's AWS provider (default), upstream's, or none. */
  sidecar?: 'ours' | 'upstream' | 'none';
  /** The manager to start with: this checkout's controller (default), or upstream's. */
  controller?: ControllerKind;
}

/**
 * This checkout's sync controller, or upstream's (SSC, e2e/peer/build.sh), which runs with the
 * chart's arguments but without leader election, probes or metrics.
 */
export type ControllerKind = 'ours' | 'upstream';

export interface RunningController extends ManagedProcess {
  kind: ControllerKind;
  /** Empty for upstream's controller, run without metrics. */
  metricsUrl: string;
  /** `/healthz` and `/readyz` are below this; empty for upstream's controller, run without probes. */
  probesUrl: string;
  /**
   * How many reconciles each SecretSync (`namespace/name`) has begun, from the log line both
   * controllers write first: `Reconciling SecretSync`. A SecretSync is never reconciled twice at
   * once, so n begun means n - 1 finished.
   */
  reconcilesBegun(): Map<string, number>;
}

export interface SyncControllerSystem {
  lab: Lab;
  /** An admin client of the lab. */
  kube: KubeClient;
  /** The release namespace: the controller's ServiceAccount, its Lease, its "pod". */
  namespace: string;
  root: string;
  /** The providers' socket folder (the pod's emptyDir `providervol`). */
  providerDir: string;
  /** The chart's rendering (with the example's values). */
  rendered: Manifest[];
  /** The downward API's values: the controller's "pod". */
  pod: { name: string; uid: string };
  controller: RunningController;
  sidecar?: ManagedProcess;
  /** The arguments as run here. */
  controllerArgs: string[];
  sidecarArgs: string[];
  /** The sidecar's AWS_REGION. */
  region: string;
  /** Restarts the manager, with `flags` (`--name=value`) replaced or added for this run. */
  restartController(flags?: Record<string, string>): Promise<RunningController>;
  /**
   * Stops the manager and starts `kind`'s in its place (a migration), with the chart's arguments;
   * `meanwhile` runs while neither runs (to record what the first left).
   */
  switchController(kind: ControllerKind, meanwhile?: () => Promise<void>): Promise<RunningController>;
  /** Installs (or removes) the chart's admission policies and waits until the API server enforces them (or no longer does). */
  admissionPolicies(enforced: boolean): Promise<void>;
  close(): Promise<void>;
}

/** The values of one environment variable of a container, literal ones only. */
function literalEnv(container: Container): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value] as const])),
  );
}

/** Applies objects with kubectl's server-side apply, as helm's install would create them. */
function applyObjects(lab: Lab, objects: Manifest[]): void {
  if (objects.length === 0) return;
  kubectl(
    lab,
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );
}

function deleteObjects(lab: Lab, objects: Manifest[]): void {
  for (const o of objects)
    kubectl(lab, [
      'delete',
      o.kind.toLowerCase(),
      o.metadata.name,
      '--ignore-not-found',
      ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []),
    ]);
}

/** Applies the chart's CRDs as its README says after an upgrade, and waits until SecretSyncs are served. */
export async function ensureSyncControllerCrds(lab: Lab, kube: KubeClient): Promise<void> {
  kubectl(lab, ['apply', '--server-side', '--force-conflicts', '-f', SYNC_CONTROLLER_CRD_DIR]);
  await eventually('the SecretSync CRD to be served', () => kube.get(secretSyncPath('default')));
}

export async function startSyncControllerSystem(
  o: SyncControllerSystemOptions = {},
): Promise<SyncControllerSystem> {
  const lab = requireLab();
  const kube = adminClient(lab);
  const namespace = o.namespace ?? `ssc-${uniqueSuffix()}`;
  const root = fs.mkdtempSync(path.join(lab.stateDir, `${namespace}-`));
  const providerDir = path.join(root, 'providers');
  fs.mkdirSync(providerDir, { recursive: true });

  const rendered = renderChart(lab, SYNC_CONTROLLER_CHART, {
    release: SYNC_CONTROLLER_RELEASE,
    namespace,
    valuesFiles: [SYNC_CONTROLLER_AWS_EXAMPLE],
    set: o.set,
    setJson: o.setJson,
  }).objects;
  const applied = rendered.filter((m) => APPLIED_KINDS.includes(m.kind));
  const policies = rendered.filter((m) => POLICY_KINDS.includes(m.kind));
  const deployment = objectOf<DeploymentManifest>(rendered, 'Deployment');
  const manager = containerOf(deployment, 'manager');
  const [sidecarContainer] = deployment.spec.template.spec.containers.filter((c) => c.name !== 'manager');
  if (!sidecarContainer) throw new Error('the AWS example renders no provider sidecar');
  const serviceAccount = { namespace, name: deployment.spec.template.spec.serviceAccountName ?? '' };

  await ensureSyncControllerCrds(lab, kube);
  await createNamespace(kube, namespace);
  applyObjects(lab, applied);
  // The pod's identity: its ServiceAccount's token, as the kubelet mounts it.
  const kubeconfig = await serviceAccountKubeconfig(
    lab,
    kube,
    serviceAccount,
    path.join(root, 'controller.kubeconfig'),
  );
  const asController = new Client(connectionFromKubeconfig(kubeconfig), { qps: 0, userAgent: 'e2e-tests' });

  const region = o.region ?? literalEnv(sidecarContainer).AWS_REGION ?? lab.awsRegion;
  const sidecarKind = o.sidecar ?? 'ours';
  let sandbox: UpstreamAwsProviderSandbox | undefined;
  let sidecar: ManagedProcess | undefined;
  let sidecarArgs: string[] = [];
  if (sidecarKind === 'ours') {
    sidecarArgs = withFlags(expandedArgs(sidecarContainer), {
      'provider-volume': providerDir,
      'metrics-addr': '127.0.0.1:0',
      kubeconfig,
    });
    sidecar = await startProgram(
      `${namespace}-provider-aws`,
      PROVIDER_AWS_MAIN,
      sidecarArgs,
      awsProviderEnv(lab.awsEndpoint, region),
      /secrets-store-csi-driver-provider-aws started/,
    );
  } else if (sidecarKind === 'upstream') {
    // Upstream's provider has the example's socket and write flags, and no --metrics-addr.
    sidecarArgs = withFlags(
      expandedArgs(sidecarContainer).filter((a) => !a.startsWith('--metrics-addr=')),
      { 'provider-volume': providerDir },
    );
    sandbox = await UpstreamAwsProviderSandbox.start(lab, kube, { serviceAccount, regions: [region] });
    sidecar = await startUpstreamAwsProvider(lab, sandbox, {
      providerDir,
      args: sidecarArgs,
      region,
      name: `${namespace}-upstream-provider-aws`,
    });
  }

  const pod = {
    name: `${deployment.metadata.name}-${crypto.randomBytes(5).toString('hex')}-${uniqueSuffix().slice(0, 5)}`,
    uid: crypto.randomUUID(),
  };
  // Upstream's controller runs alone, without the Lease, probes or metrics: nothing here reads them.
  const argsOf = (which: ControllerKind): string[] => {
    const listen = which === 'upstream' ? '0' : '127.0.0.1:0';
    return withFlags(
      expandedArgs(manager).filter((a) => !(which === 'upstream' && a === '--leader-elect')),
      {
        'provider-volume': providerDir,
        'health-probe-bind-address': listen,
        'metrics-bind-address': listen,
        kubeconfig,
      },
    );
  };
  let kind: ControllerKind = o.controller ?? 'ours';
  const controllerEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...literalEnv(manager),
    SYNC_CONTROLLER_POD_NAME: pod.name,
    SYNC_CONTROLLER_POD_UID: pod.uid,
    SYNC_CONTROLLER_POD_NAMESPACE: namespace,
  };
  delete controllerEnv.KUBECONFIG;
  const startController = async (args: string[]): Promise<RunningController> => {
    if (kind === 'upstream') {
      const proc = startExecutable(
        `${namespace}-upstream-sync-controller`,
        upstreamProgram('sync-controller'),
        args,
        controllerEnv,
      );
      await proc.waitForLog(/Starting workers/);
      return Object.assign(proc, {
        kind,
        metricsUrl: '',
        probesUrl: '',
        reconcilesBegun: () => reconcilesBegun(proc.logs()),
      });
    }
    const proc = startNodeProgram(`${namespace}-sync-controller`, SYNC_CONTROLLER_MAIN, args, controllerEnv);
    const line = await proc.waitForLog(/\bserving\b.*\bmetrics\b/);
    return Object.assign(proc, {
      kind,
      metricsUrl: `http://${loggedAddressOf(line, 'metrics')}/metrics`,
      probesUrl: `http://${loggedAddressOf(line, 'probes')}`,
      reconcilesBegun: () => reconcilesBegun(proc.logs()),
    });
  };

  /**
   * Whether the token policy is in force: a TokenRequest for an audience of no SecretSync, as the
   * controller, is refused by it (`true`) or granted (`false`); undefined while RBAC still refuses.
   */
  const tokenPolicyEnforced = async (): Promise<boolean | undefined> => {
    try {
      await asController.create(
        resourcePath(Resources.serviceAccounts, namespace, serviceAccount.name, 'token'),
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: ['policy-probe'], expirationSeconds: 600 },
        },
      );
      return false;
    } catch (err) {
      if (err instanceof KubeApiError && err.detail.includes('ValidatingAdmissionPolicy')) return true;
      if (isForbidden(err)) return undefined;
      throw err;
    }
  };

  const system: SyncControllerSystem = {
    lab,
    kube,
    namespace,
    root,
    providerDir,
    rendered,
    pod,
    sidecar,
    sidecarArgs,
    region,
    controllerArgs: argsOf(kind),
    controller: undefined as unknown as RunningController,
    async restartController(flags = {}) {
      await system.controller.stop();
      system.controllerArgs = withFlags(argsOf(kind), flags);
      system.controller = await startController(system.controllerArgs);
      return system.controller;
    },
    async switchController(next, meanwhile) {
      await system.controller.stop();
      await meanwhile?.();
      kind = next;
      system.controllerArgs = argsOf(kind);
      system.controller = await startController(system.controllerArgs);
      return system.controller;
    },
    async admissionPolicies(enforced) {
      if (enforced) applyObjects(lab, policies);
      else deleteObjects(lab, policies);
      await eventually(
        `the admission policies ${enforced ? 'enforced' : 'gone'}`,
        async () => ((await tokenPolicyEnforced()) === enforced ? true : undefined),
        30_000,
        500,
      );
    },
    async close() {
      await system.controller?.stop();
      await sidecar?.stop();
      await sandbox?.stop();
      asController.close();
      deleteObjects(lab, [...policies, ...applied.filter((m) => !m.metadata.namespace)]);
      await deleteNamespace(kube, namespace);
      kube.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    if (policies.length > 0) await system.admissionPolicies(true);
    system.controller = await startController(system.controllerArgs);
  } catch (err) {
    await system.close().catch(() => undefined);
    throw err;
  }
  return system;
}

/**
 * The `Reconciling SecretSync` lines of a controller's log, counted by SecretSync: ours name it
 * `secretSync=<namespace>/<name>` (text) or `"secretSync":"<namespace>/<name>"` (JSON); upstream's
 * (zap's console lines) carry it as the last `"namespace": "<namespace>/<name>"`.
 */
export function reconcilesBegun(log: string): Map<string, number> {
  const counts = new Map<string, number>();
  const key = /(?:secretSync=|"secretSync":"|"namespace": ")([a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*)/;
  for (const line of log.split('\n')) {
    if (!line.includes('Reconciling SecretSync')) continue;
    const found = key.exec(line)?.[1];
    if (found) counts.set(found, (counts.get(found) ?? 0) + 1);
  }
  return counts;
}

export interface SecretSyncCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

export interface SecretSyncView {
  metadata: { name: string; namespace: string; uid: string; generation: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: { syncHash?: string; lastSuccessfulSyncTime?: string; conditions?: SecretSyncCondition[] };
}

/** A SecretSync as `kubectl get secretsync <name> -o json` shows it; undefined when there is none. */
export async function getSecretSync(
  lab: Lab,
  namespace: string,
  name: string,
): Promise<SecretSyncView | undefined> {
  const out = await kubectlAsync(lab, [
    'get',
    'secretsync',
    name,
    '-n',
    namespace,
    '-o',
    'json',
    '--ignore-not-found',
  ]);
  return out.trim() ? (JSON.parse(out) as SecretSyncView) : undefined;
}

/** The conditions of a synced SecretSync, as conditionsOf gives them. */
export const SYNCED_CONDITIONS = {
  SecretCreated: { status: 'True', reason: 'CreateSuccessful', message: 'Secret created successfully.' },
  SecretUpdated: {
    status: 'True',
    reason: 'SecretUpToDate',
    message: 'Secret contains last observed values.',
  },
};

/** The conditions as upstream's suite reads them (jq `{type,status,reason,message}`), by type. */
export function conditionsOf(
  ss: SecretSyncView | undefined,
): Record<string, Omit<SecretSyncCondition, 'type'>> {
  return Object.fromEntries(
    (ss?.status?.conditions ?? []).map(({ type, status, reason, message }) => [
      type,
      { status, reason, message: message ?? '' },
    ]),
  );
}

/**
 * Waits until a condition of the SecretSync has left Unknown (a sync succeeded or failed), or
 * `until` holds of it, and returns the SecretSync.
 */
export async function waitForSync(
  lab: Lab,
  namespace: string,
  name: string,
  until: (ss: SecretSyncView) => boolean = (ss) =>
    (ss.status?.conditions ?? []).some((c) => c.status !== 'Unknown'),
  timeoutMs = 30_000,
): Promise<SecretSyncView> {
  return eventually(
    `SecretSync ${namespace}/${name} to sync`,
    async () => {
      const ss = await getSecretSync(lab, namespace, name);
      return ss && until(ss) ? ss : undefined;
    },
    timeoutMs,
    250,
  );
}
