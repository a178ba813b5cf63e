// The Helm charts as an operator meets them: rendered with the lab's helm, parsed into typed objects,
// and the command-line tools run the way a shell would, keeping stdout, stderr and the exit status.
import type { KubeClient, TokenRequest } from '@sscsi/common';
import { connectionFromKubeconfig, Resources, resourcePath } from '@sscsi/common';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parseDocument } from 'yaml';

import { DRIVER_NAME } from './kubelet-standin';
import type { Lab } from './lab';
import { REPO_ROOT } from './lab';

export const DRIVER_CHART = path.join(REPO_ROOT, 'charts', 'secrets-store-csi-driver');
export const PROVIDER_CHART = path.join(REPO_ROOT, 'charts', 'secrets-store-csi-driver-provider-aws');
export const SYNC_CONTROLLER_CHART = path.join(REPO_ROOT, 'charts', 'secrets-store-sync-controller');
export const AWS_PROVIDER_INSTALLER = path.join(REPO_ROOT, 'deploy', 'aws-provider-installer.yaml');
export const RENDER_INSTALLER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'render-aws-provider-installer.sh');
/** The name of the installer's DaemonSet and ServiceAccount, upstream installer's. */
export const INSTALLER_NAME = 'csi-secrets-store-provider-aws';

/** The releases as the article installs them: upstream's release names, in kube-system. */
export const DRIVER_RELEASE = 'secrets-store-csi-driver';
export const PROVIDER_RELEASE = 'csi-secrets-store-provider-aws';
export const SYSTEM_NAMESPACE = 'kube-system';
/** The sync controller as upstream's end-to-end suite installs it: release name and namespace. */
export const SYNC_CONTROLLER_RELEASE = 'secrets-store-sync-controller';
export const SYNC_CONTROLLER_NAMESPACE = 'secrets-store-sync-controller-system';
/** The article's `--set` flags for the driver chart. */
export const ARTICLE_FLAGS = { 'syncSecret.enabled': 'true', enableSecretRotation: 'true' };
/** The token audiences the driver chart's CSIDriver asks the kubelet for by default: IRSA's, Pod Identity's. */
export const AWS_AUDIENCES = ['sts.amazonaws.com', 'pods.eks.amazonaws.com'];

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: Array<{ manager: string }>;
  };
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

export interface ClusterRoleManifest extends Manifest {
  rules?: PolicyRule[];
}

export interface ClusterRoleBindingManifest extends Manifest {
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects: Array<{ kind: string; name: string; namespace?: string }>;
}

export interface CSIDriverManifest extends Manifest {
  spec: {
    podInfoOnMount?: boolean;
    attachRequired?: boolean;
    volumeLifecycleModes?: string[];
    requiresRepublish?: boolean;
    tokenRequests?: Array<{ audience: string; expirationSeconds?: number }>;
    serviceAccountTokenInSecrets?: boolean;
  };
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { apiVersion?: string; fieldPath: string } };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  mountPropagation?: string;
  readOnly?: boolean;
}

export interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  capabilities?: { add?: string[]; drop?: string[] };
}

export interface HttpProbe {
  httpGet: { path: string; port: number | string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
}

export interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: VolumeMount[];
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
}

export interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: Record<string, unknown>;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface DaemonSetManifest extends Manifest {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        serviceAccountName?: string;
        terminationGracePeriodSeconds?: number;
        securityContext?: { seccompProfile?: { type: string }; runAsNonRoot?: boolean; runAsUser?: number };
        hostNetwork?: boolean;
        initContainers?: Container[];
        containers: Container[];
        volumes?: Volume[];
        nodeSelector?: Record<string, string>;
        tolerations?: Array<Record<string, string>>;
        affinity?: {
          nodeAffinity?: {
            requiredDuringSchedulingIgnoredDuringExecution?: {
              nodeSelectorTerms: Array<{ matchExpressions?: NodeSelectorRequirement[] }>;
            };
          };
        };
      };
    };
  };
}

/** A Deployment: a DaemonSet's pod template with a replica count. */
export interface DeploymentManifest extends Manifest {
  spec: DaemonSetManifest['spec'] & { replicas?: number };
}

export interface ValidatingAdmissionPolicyManifest extends Manifest {
  spec: {
    failurePolicy?: string;
    matchConditions?: Array<{ name: string; expression: string }>;
    matchConstraints?: {
      resourceRules?: Array<{
        apiGroups?: string[];
        apiVersions?: string[];
        operations?: string[];
        resources?: string[];
      }>;
    };
    variables?: Array<{ name: string; expression: string }>;
    validations: Array<{ expression: string; message?: string; messageExpression?: string; reason?: string }>;
  };
}

export interface ValidatingAdmissionPolicyBindingManifest extends Manifest {
  spec: { policyName: string; validationActions: string[] };
}

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a program and returns what it printed, whatever its exit status. */
export function run(
  program: string,
  args: string[],
  o: { input?: string; env?: NodeJS.ProcessEnv } = {},
): CommandResult {
  const result = spawnSync(program, args, {
    input: o.input,
    env: o.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The lab's environment for its tools: its kubeconfig, and this node first on PATH (for scripts). */
export function labEnv(lab: Lab): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KUBECONFIG: lab.kubeconfig,
    PATH: [lab.binDir, path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter),
  };
}

/** Runs one of the lab's tools (kubectl, helm) against the lab, whatever its exit status. */
export function labTool(lab: Lab, tool: 'kubectl' | 'helm', args: string[], input?: string): CommandResult {
  return run(path.join(lab.binDir, tool), args, { input, env: labEnv(lab) });
}

/** Like labTool, but a failure throws with the command and its stderr. */
export function mustRun(lab: Lab, tool: 'kubectl' | 'helm', args: string[], input?: string): string {
  const result = labTool(lab, tool, args, input);
  if (result.status !== 0) {
    throw new Error(
      `${tool} ${args.join(' ')} exited with ${result.status}:\n${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout;
}

/** Every object of a multi-document YAML text; empty documents are skipped, syntax errors throw. */
export function parseManifests(text: string): Manifest[] {
  const objects: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]?.message ?? ''}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || !('kind' in value) || !('metadata' in value)) {
      throw new Error(`not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    }
    objects.push(value as Manifest);
  }
  return objects;
}

export interface RenderOptions {
  release: string;
  namespace: string;
  /** --set values; values are written as given (helm parses true/false and numbers). */
  set?: Record<string, string>;
  /** --set-json values. */
  setJson?: Record<string, unknown>;
  kubeVersion?: string;
  includeCrds?: boolean;
  /** -f values files, before the --set values. */
  valuesFiles?: string[];
}

export function helmArgs(o: RenderOptions): string[] {
  const args = ['--namespace', o.namespace];
  for (const file of o.valuesFiles ?? []) args.push('-f', file);
  for (const [key, value] of Object.entries(o.set ?? {})) args.push('--set', `${key}=${value}`);
  for (const [key, value] of Object.entries(o.setJson ?? {})) {
    args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  }
  return args;
}

/** `helm template` of a chart: the text and its objects. */
export function renderChart(
  lab: Lab,
  chart: string,
  o: RenderOptions,
): { text: string; objects: Manifest[] } {
  const args = ['template', o.release, chart, ...helmArgs(o), '--kube-version', o.kubeVersion ?? '1.34.4'];
  if (o.includeCrds) args.push('--include-crds');
  const text = mustRun(lab, 'helm', args);
  return { text, objects: parseManifests(text) };
}

/** `helm template` of the driver chart as the article's release, with `set` (and other options) on top. */
export function renderDriver(
  lab: Lab,
  set: Record<string, string> = {},
  o: Partial<RenderOptions> = {},
): Manifest[] {
  return renderChart(lab, DRIVER_CHART, { release: DRIVER_RELEASE, namespace: SYSTEM_NAMESPACE, set, ...o })
    .objects;
}

/** `helm template` of the AWS provider chart as the article's release, with `set` on top. */
export function renderProvider(
  lab: Lab,
  set: Record<string, string> = {},
  o: Partial<RenderOptions> = {},
): Manifest[] {
  return renderChart(lab, PROVIDER_CHART, {
    release: PROVIDER_RELEASE,
    namespace: SYSTEM_NAMESPACE,
    set,
    ...o,
  }).objects;
}

/** `helm template` of the sync controller chart as upstream's suite installs it, with `set` on top. */
export function renderSyncController(
  lab: Lab,
  set: Record<string, string> = {},
  o: Partial<RenderOptions> = {},
): Manifest[] {
  return renderChart(lab, SYNC_CONTROLLER_CHART, {
    release: SYNC_CONTROLLER_RELEASE,
    namespace: SYNC_CONTROLLER_NAMESPACE,
    set,
    ...o,
  }).objects;
}

/** The driver's CSIDriver object of a rendering. */
export function csiDriverOf(objects: Manifest[]): CSIDriverManifest {
  return objectOf<CSIDriverManifest>(objects, 'CSIDriver', DRIVER_NAME);
}

export function objectsOfKind<T extends Manifest>(objects: Manifest[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function objectOf<T extends Manifest>(objects: Manifest[], kind: string, name?: string): T {
  const matches = objectsOfKind<T>(objects, kind).filter(
    (o) => name === undefined || o.metadata.name === name,
  );
  if (matches.length !== 1) {
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(
      `expected one ${kind}${name ? ` named ${name}` : ''}, found ${matches.length} among ${names}`,
    );
  }
  return matches[0] as T;
}

export function containerOf(workload: DaemonSetManifest | DeploymentManifest, name: string): Container {
  const pod = workload.spec.template.spec;
  const all = [...(pod.initContainers ?? []), ...pod.containers];
  const container = all.find((c) => c.name === name);
  if (!container) throw new Error(`no container ${name} in ${workload.kind} ${workload.metadata.name}`);
  return container;
}

/** The container's args with $(VAR) references replaced by the container's literal env values, as the kubelet does. */
export function expandedArgs(container: Container, fieldValues: Record<string, string> = {}): string[] {
  const env = new Map<string, string>();
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env.set(e.name, e.value);
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field !== undefined && fieldValues[field] !== undefined) env.set(e.name, fieldValues[field]);
  }
  return (container.args ?? []).map((arg) =>
    arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env.get(name) ?? ref),
  );
}

/** Replaces the value of `--name=` flags (or the bare boolean `--name`), or appends them. */
export function withFlags(args: string[], flags: Record<string, string>): string[] {
  const names = Object.keys(flags);
  const out = args.filter((a) => !names.some((name) => a === `--${name}` || a.startsWith(`--${name}=`)));
  for (const [name, value] of Object.entries(flags)) out.push(`--${name}=${value}`);
  return out;
}

/** True when the rule lets its subject mint service-account tokens (serviceaccounts/token create). */
export function grantsTokenCreation(rule: PolicyRule): boolean {
  const core = (rule.apiGroups ?? []).some((g) => g === '' || g === '*');
  const resource = (rule.resources ?? []).some((r) =>
    ['serviceaccounts/token', 'serviceaccounts/*', '*', '*/token'].includes(r),
  );
  const verb = rule.verbs.some((v) => v === 'create' || v === '*');
  return core && resource && verb;
}

/**
 * A chart's values.yaml text parsed strictly: a key given twice in one map, or any other YAML error,
 * throws (Helm itself keeps the last of two equal keys without a word).
 */
export function parseValuesStrictly(text: string): Record<string, unknown> {
  const doc = parseDocument(text, { uniqueKeys: true });
  const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
  if (problems.length > 0) throw new Error(`values.yaml: ${problems.join('; ')}`);
  const value: unknown = doc.toJS();
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('values.yaml is not a map of values');
  }
  return value as Record<string, unknown>;
}

/** The value names of the first column of a README's "## Values" table, such as `linux.image.tag`. */
export function documentedValues(readme: string): string[] {
  const section = /^## Values\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1];
  if (section === undefined) throw new Error('the README has no "## Values" section');
  const names: string[] = [];
  for (const line of section.split('\n')) {
    const name = /^\|\s*`([^`]+)`\s*\|/.exec(line)?.[1];
    if (name !== undefined) names.push(name);
  }
  return names;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * How a README's documented value names and a chart's values disagree: documented names that are
 * no key of the values, and keys of the values that no documented name covers. A documented name
 * covers its key and everything below it; a map whose own name is not documented must have each of
 * its keys covered.
 */
export function undocumentedOrMissingValues(
  values: Record<string, unknown>,
  documented: string[],
): { missing: string[]; undocumented: string[] } {
  const missing = documented.filter((name) => {
    let node: unknown = values;
    for (const key of name.split('.')) {
      if (!isMap(node) || !Object.hasOwn(node, key)) return true;
      node = node[key];
    }
    return false;
  });
  const undocumented: string[] = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const name = prefix + key;
      if (documented.includes(name)) continue;
      const below = documented.some((d) => d.startsWith(`${name}.`));
      if (below && isMap(value)) walk(value, `${name}.`);
      else undocumented.push(name);
    }
  };
  walk(values, '');
  return { missing, undocumented };
}

/** Kinds that make up a chart's RBAC: who the programs are and what they may do. */
const RBAC_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

/** The ServiceAccounts, roles and bindings of a rendering, without its workloads. */
export function rbacObjectsOf(objects: Manifest[]): Manifest[] {
  return objects.filter((o) => RBAC_KINDS.includes(o.kind));
}

/** A token of a ServiceAccount from the TokenRequest API, valid two hours, as its pod would hold. */
export async function serviceAccountToken(
  admin: KubeClient,
  serviceAccount: { namespace: string; name: string },
): Promise<string> {
  const request = await admin.create<TokenRequest>(
    resourcePath(Resources.serviceAccounts, serviceAccount.namespace, serviceAccount.name, 'token'),
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } },
  );
  const token = request.status?.token;
  if (!token)
    throw new Error(`no token for ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`);
  return token;
}

/**
 * Writes a kubeconfig that authenticates as a ServiceAccount, with a token from the TokenRequest
 * API (as the ServiceAccount's pod would hold), for the lab's API server. The file is readable by
 * its owner only; the token is in no log.
 */
export async function serviceAccountKubeconfig(
  lab: Lab,
  admin: KubeClient,
  serviceAccount: { namespace: string; name: string },
  file: string,
): Promise<string> {
  const token = await serviceAccountToken(admin, serviceAccount);
  const server = connectionFromKubeconfig(lab.kubeconfig);
  const user = `${serviceAccount.namespace}-${serviceAccount.name}`;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'lab',
        cluster: {
          server: server.server,
          'certificate-authority-data': server.ca?.toString('base64'),
        },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'lab', user } }],
    'current-context': user,
  };
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}
