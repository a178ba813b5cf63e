// The workloads a restart on rotation applies to (Deployments, StatefulSets, DaemonSets), the fields
// of them it reads, and which of their pods run the current pod template: only those count, so that
// the pods a rollout is replacing (which may rotate meanwhile) never ask for a second restart.
//   - Deployment: the pods of its ReplicaSet with the highest deployment.kubernetes.io/revision;
//   - StatefulSet: the pods whose controller-revision-hash is status.updateRevision;
//   - DaemonSet: the pods whose pod-template-generation is the DaemonSet's template generation.
import type { KubeObject, OwnerReference, Pod, ResourceType } from '@sscsi/common';
import { secretsReadBy } from '@sscsi/common';

const apps = (plural: string, kind: string): ResourceType => ({
  group: 'apps',
  version: 'v1',
  plural,
  kind,
  namespaced: true,
});

export const WorkloadResources = {
  deployments: apps('deployments', 'Deployment'),
  statefulSets: apps('statefulsets', 'StatefulSet'),
  daemonSets: apps('daemonsets', 'DaemonSet'),
  replicaSets: apps('replicasets', 'ReplicaSet'),
} satisfies Record<string, ResourceType>;

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

export function workloadResource(kind: WorkloadKind): ResourceType {
  return kind === 'Deployment'
    ? WorkloadResources.deployments
    : kind === 'StatefulSet'
      ? WorkloadResources.statefulSets
      : WorkloadResources.daemonSets;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

interface SecretKeyRef {
  secretKeyRef?: { name?: string };
}
interface Container {
  env?: Array<{ valueFrom?: SecretKeyRef }>;
  envFrom?: Array<{ secretRef?: { name?: string } }>;
}

export interface PodTemplate {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: {
    containers?: Container[];
    initContainers?: Container[];
    volumes?: Array<{
      secret?: { secretName?: string };
      projected?: { sources?: Array<{ secret?: { name?: string } }> };
    }>;
  };
}

/** A Deployment, StatefulSet or DaemonSet, as far as a restart reads it. */
export interface Workload extends KubeObject {
  metadata: KubeObject['metadata'] & { generation?: number };
  /** `paused`: a Deployment's; its controller rolls out no new template until resumed. */
  spec?: { selector?: LabelSelector; template?: PodTemplate; paused?: boolean };
  status?: { observedGeneration?: number; updateRevision?: string };
}

/** `Kind/namespace/name`: the work queue's key. */
export function workloadKey(kind: WorkloadKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseWorkloadKey(key: string): { kind: WorkloadKind; namespace: string; name: string } {
  const [kind, namespace, ...name] = key.split('/');
  return { kind: kind as WorkloadKind, namespace: namespace ?? '', name: name.join('/') };
}

/** The selector as a query's labelSelector (`a=b,c in (d,e)`); undefined when it selects nothing. */
export function selectorQuery(selector: LabelSelector | undefined): string | undefined {
  if (!selector) return undefined;
  const terms = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = `(${(e.values ?? []).join(',')})`;
    if (e.operator === 'In') terms.push(`${e.key} in ${values}`);
    else if (e.operator === 'NotIn') terms.push(`${e.key} notin ${values}`);
    else if (e.operator === 'Exists') terms.push(e.key);
    else if (e.operator === 'DoesNotExist') terms.push(`!${e.key}`);
  }
  // An empty selector would select every pod of the namespace: apps/v1 refuses one, so do we.
  return terms.length > 0 ? terms.join(',') : undefined;
}

/** The names of the Secrets a pod template reads: env, envFrom, secret and projected volumes. */
export function referencedSecrets(template: PodTemplate | undefined): string[] {
  return secretsReadBy(template?.spec);
}

function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((o) => o.controller) ?? obj.metadata.ownerReferences?.[0];
}

/** A pod that runs or will run: not being deleted, not finished. */
function live(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const DAEMONSET_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

/** Whether the workload's controller has seen its latest spec (until then, which pods are current is not known). */
export function observedLatest(workload: Workload): boolean {
  const generation = workload.metadata.generation;
  const observed = workload.status?.observedGeneration;
  return generation === undefined || (observed !== undefined && observed >= generation);
}

/**
 * The workload's pods of its current template, from the namespace's pods its selector matched
 * (and, for a Deployment, the ReplicaSets it matched). Undefined when the workload's controller has
 * not yet seen its latest spec: which pods are current is not known until it has.
 */
export function currentPods(
  kind: WorkloadKind,
  workload: Workload,
  pods: readonly Pod[],
  replicaSets: readonly KubeObject[] = [],
): Pod[] | undefined {
  if (!observedLatest(workload)) return undefined;
  const uid = workload.metadata.uid;
  const ownedBy = (owner: string | undefined) => (obj: KubeObject) =>
    owner !== undefined && controllerOf(obj)?.uid === owner;
  if (kind === 'Deployment') {
    let current: KubeObject | undefined;
    let newest = -1;
    for (const rs of replicaSets.filter(ownedBy(uid))) {
      const revision = Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0);
      if (revision > newest) [current, newest] = [rs, revision];
    }
    if (!current) return [];
    return pods.filter(ownedBy(current.metadata.uid)).filter(live);
  }
  const owned = pods.filter(ownedBy(uid)).filter(live);
  if (kind === 'StatefulSet') {
    const revision = workload.status?.updateRevision;
    return revision
      ? owned.filter((p) => p.metadata.labels?.['controller-revision-hash'] === revision)
      : owned;
  }
  const templateGeneration = workload.metadata.annotations?.[DAEMONSET_GENERATION_ANNOTATION];
  return templateGeneration
    ? owned.filter((p) => p.metadata.labels?.['pod-template-generation'] === templateGeneration)
    : owned;
}

/**
 * Whether a restart asked for (kubectl's restartedAt in the template) has not yet reached every
 * current pod: until it has, those pods are being replaced and what they mount asks for nothing.
 */
export function restartRollingOut(
  workload: Workload,
  current: readonly Pod[],
  restartedAtAnnotation: string,
): boolean {
  const wanted = workload.spec?.template?.metadata?.annotations?.[restartedAtAnnotation];
  return current.some((p) => p.metadata.annotations?.[restartedAtAnnotation] !== wanted);
}

/** The workload as an Event's involvedObject. */
export function workloadReference(kind: WorkloadKind, w: Workload) {
  return {
    apiVersion: 'apps/v1',
    kind,
    namespace: w.metadata.namespace ?? '',
    name: w.metadata.name ?? '',
    uid: w.metadata.uid,
  };
}

/**
 * The informer's transform: what a restart reads of a workload. The pod template is kept only on
 * workloads that carry the opt-in annotation (any value), so a cluster's many other workloads cost
 * little memory.
 */
export function workloadView(
  w: Workload,
  optInAnnotation: string,
  keptAnnotations: readonly string[],
): Workload {
  const { name, namespace, uid, resourceVersion, generation, ownerReferences } = w.metadata;
  const annotations = Object.fromEntries(
    Object.entries(w.metadata.annotations ?? {}).filter(([k]) => keptAnnotations.includes(k)),
  );
  const optedIn = w.metadata.annotations?.[optInAnnotation] !== undefined;
  return {
    metadata: { name, namespace, uid, resourceVersion, generation, ownerReferences, annotations },
    spec: {
      selector: w.spec?.selector,
      template: optedIn ? w.spec?.template : undefined,
      paused: w.spec?.paused,
    },
    status: { observedGeneration: w.status?.observedGeneration, updateRevision: w.status?.updateRevision },
  };
}
