// For unit tests of restart on rotation: the fake API server with Deployments, their ReplicaSets and
// pods, the pods' SecretProviderClassPodStatuses as the driver writes them, synced Secrets; the
// restart parts (informers and controller) built over it as the program builds them; and the
// deployment controller's part played on request (rollout): a new ReplicaSet for a changed template,
// the old pods gone, new pods mounting what the provider serves now.
import type { EventType, KubeApi, KubeObject, ObjectReference, Pod, Secret, WatchEvent } from '@sscsi/common';
import { RESTART_ON_ROTATION_ANNOTATION } from '@sscsi/common';
import { FakeKube, silentLogger } from '@sscsi/common/testing';

import { RESTARTED_AT_ANNOTATION } from '../restart/annotations';
import type { PodStatus, RestartOutcome } from '../restart/restart-controller';
import { restartOnRotation } from '../restart/restart-on-rotation';
import type { Workload } from '../restart/workloads';
import { REVISION_ANNOTATION } from '../restart/workloads';

export const NS = 'shop';

export interface RecordedEvent {
  object: ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

export interface DeploymentSpec {
  replicas?: number;
  /** The opt-in annotation's value; undefined: none. */
  optIn?: string;
  /** The class its pods mount, and the object ids in it; none: no CSI volume. */
  spc?: string;
  objects?: string[];
  /** A Secret its containers read through envFrom. */
  envFrom?: string;
  /** spec.paused: the deployment controller rolls out no new template. */
  paused?: boolean;
}

interface Rollout {
  spec: Required<Pick<DeploymentSpec, 'replicas'>> & DeploymentSpec;
  revision: number;
  restartedAt: string | undefined;
  pods: number;
}

export class RestartHarness {
  readonly api = new FakeKube();
  readonly events: RecordedEvent[] = [];
  /** The evaluations' outcomes, as the metric counts them. */
  readonly outcomes: RestartOutcome[] = [];
  /** The bodies of the patches of workloads, in order. */
  readonly patches: Array<{ path: string; body: Record<string, unknown> }> = [];
  /** What the provider serves now: object id → version. */
  readonly served = new Map<string, string>();
  private readonly rollouts = new Map<string, Rollout>();
  /** Watch events held back by plural: a cache that lags behind the API server. */
  private readonly heldEvents = new Map<string, Array<() => void>>();
  private clock = Date.parse('2026-12-07T06:00:00Z');
  readonly parts: ReturnType<typeof restartOnRotation>;

  /** `clockStepMs`: how far the clock moves at each reading (1 s unless told). */
  constructor(o: { delayMs?: number; clockStepMs?: number } = {}) {
    const api = this.api;
    // The API server's part the fake leaves out: a patched spec is a new generation.
    const kube: Pick<KubeApi, 'get' | 'watch' | 'patch'> = {
      get: (path, opts) => api.get(path, opts),
      watch: <T>(
        path: string,
        query: Parameters<KubeApi['watch']>[1],
        onEvent: (event: WatchEvent<T>) => void,
        signal?: AbortSignal,
      ) =>
        api.watch<T>(
          path,
          query,
          (event) => {
            const plural = path.split('/').at(-1) ?? '';
            const held = this.heldEvents.get(plural);
            if (held) held.push(() => onEvent(event));
            else onEvent(event);
          },
          signal,
        ),
      patch: async <T>(path: string, body: unknown, type: Parameters<KubeApi['patch']>[2], opts?: object) => {
        const patched = await api.patch<Workload>(path, body, type, opts);
        this.patches.push({ path, body: body as Record<string, unknown> });
        if ((body as { spec?: unknown }).spec === undefined) return patched as T;
        const next = {
          ...patched,
          metadata: { ...patched.metadata, generation: (patched.metadata.generation ?? 1) + 1 },
        };
        return api.put('deployments', next) as T;
      },
    };
    this.parts = restartOnRotation({
      kube,
      logger: silentLogger(),
      events: {
        record: (object, type, reason, message) => this.events.push({ object, type, reason, message }),
      },
      delayMs: o.delayMs ?? 20,
      retryBaseDelayMs: 20,
      markRounds: 10,
      now: () => (this.clock += o.clockStepMs ?? 1000),
      counted: (outcome) => this.outcomes.push(outcome),
    });
  }

  async start(): Promise<void> {
    for (const i of this.parts.informers) i.start();
    await this.parts.start();
  }

  async stop(): Promise<void> {
    await this.parts.controller.stop();
    await Promise.all(this.parts.informers.map((i) => i.stop()));
  }

  /** Waits until the informers saw what the fake holds and every evaluation due has run. */
  async settle(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      await this.parts.controller.idle();
    }
  }

  /** The informers of `plural` see nothing new until the returned function is called. */
  lagging(plural: string): () => void {
    const held: Array<() => void> = [];
    this.heldEvents.set(plural, held);
    return () => {
      this.heldEvents.delete(plural);
      for (const deliver of held.splice(0)) deliver();
    };
  }

  deployment(name: string, spec: DeploymentSpec): void {
    const full = { replicas: 2, ...spec };
    const annotations: Record<string, string> =
      spec.optIn === undefined ? {} : { [RESTART_ON_ROTATION_ANNOTATION]: spec.optIn };
    const container: Record<string, unknown> = { name: 'app', image: 'app' };
    if (spec.envFrom) container.envFrom = [{ secretRef: { name: spec.envFrom } }];
    this.api.put<Workload>('deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: NS, uid: `uid-${name}`, generation: 1, annotations },
      spec: {
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [container] } },
        paused: spec.paused,
      },
      status: { observedGeneration: 1 },
    });
    this.rollouts.set(name, { spec: full, revision: 0, restartedAt: undefined, pods: 0 });
    this.newReplicaSet(name);
  }

  /**
   * The deployment controller: a changed template gets a new ReplicaSet and new pods (unless the
   * Deployment is paused: then it only observes the new generation).
   */
  rollout(name: string): void {
    const d = this.deploymentObject(name);
    const r = this.rollouts.get(name);
    if (!d || !r) throw new Error(`no deployment ${name}`);
    const restartedAt = d.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
    if (restartedAt !== r.restartedAt && !d.spec?.paused) {
      for (const pod of this.podsOf(name)) this.deletePod(pod.metadata.name ?? '');
      r.restartedAt = restartedAt;
      this.newReplicaSet(name);
    }
    this.api.put<Workload>('deployments', {
      ...d,
      status: { ...d.status, observedGeneration: d.metadata.generation },
    });
  }

  /** The driver's rotation: the pods' statuses record the versions served now (all pods, or these). */
  rotate(id: string, version: string, pods?: string[]): void {
    this.served.set(id, version);
    for (const s of this.api.objects<PodStatus>('secretproviderclasspodstatuses', NS)) {
      if (pods && !pods.includes(s.status?.podName ?? '')) continue;
      const objects = (s.status?.objects ?? []).map((o) => (o.id === id ? { id, version } : o));
      // The API server's part the fake leaves out: a changed status is a new generation.
      const generation = (s.metadata.generation ?? 1) + 1;
      this.api.put('secretproviderclasspodstatuses', {
        ...s,
        metadata: { ...s.metadata, generation },
        status: { ...s.status, objects },
      });
    }
  }

  /** A synced Secret written (or rewritten) with this data; `labels` say by which sync. */
  secret(
    name: string,
    data: Record<string, string>,
    labels: Record<string, string> = { 'secrets-store.csi.k8s.io/managed': 'true' },
  ): Secret {
    const existing = this.api.object<Secret>('secrets', NS, name);
    const b64 = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    );
    return this.api.put<Secret>('secrets', {
      ...existing,
      metadata: { ...existing?.metadata, name, namespace: NS, labels },
      type: 'Opaque',
      data: b64,
    });
  }

  deploymentObject(name: string): Workload | undefined {
    return this.api.object<Workload>('deployments', NS, name);
  }

  podsOf(name: string): Pod[] {
    return this.api.objects<Pod>('pods', NS).filter((p) => p.metadata.labels?.app === name);
  }

  /** The restarts written: patches that set restartedAt. */
  restartsOf(name: string): number {
    return this.patches.filter(
      (p) => p.path.endsWith(`/deployments/${name}`) && (p.body as { spec?: unknown }).spec !== undefined,
    ).length;
  }

  eventsOf(name: string, reason?: string): RecordedEvent[] {
    return this.events.filter((e) => e.object.name === name && (reason === undefined || e.reason === reason));
  }

  private newReplicaSet(name: string): void {
    const r = this.rollouts.get(name);
    if (!r) return;
    r.revision += 1;
    const rsName = `${name}-rev${r.revision}`;
    const rs = this.api.put<KubeObject>('replicasets', {
      metadata: {
        name: rsName,
        namespace: NS,
        uid: `uid-${rsName}`,
        labels: { app: name },
        annotations: { [REVISION_ANNOTATION]: String(r.revision) },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `uid-${name}`, controller: true },
        ],
      },
    });
    for (let i = 0; i < r.spec.replicas; i++) {
      // As the API server makes a name from a generateName: cut to 58 characters, then (here) a count.
      const podName = `${`${rsName}-`.slice(0, 58)}p${++r.pods}`;
      const pod = this.api.put<Pod>('pods', {
        metadata: {
          name: podName,
          namespace: NS,
          uid: `uid-${podName}`,
          labels: { app: name },
          annotations: r.restartedAt === undefined ? {} : { [RESTARTED_AT_ANNOTATION]: r.restartedAt },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: rsName,
              uid: rs.metadata.uid ?? '',
              controller: true,
            },
          ],
        },
        status: { phase: 'Running' },
      });
      if (r.spec.spc) this.mount(pod, r.spec.spc, r.spec.objects ?? []);
    }
  }

  /** The driver's first mount of a pod: its status with the versions served now. */
  private mount(pod: Pod, spc: string, ids: string[]): void {
    const podName = pod.metadata.name ?? '';
    this.api.put<PodStatus>('secretproviderclasspodstatuses', {
      metadata: {
        name: `${podName}-${NS}-${spc}`,
        namespace: NS,
        generation: 1,
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod.metadata.uid ?? '' }],
      },
      status: {
        podName,
        secretProviderClassName: spc,
        mounted: true,
        targetPath: `/var/lib/kubelet/pods/${pod.metadata.uid}/volumes/kubernetes.io~csi/secrets/mount`,
        objects: ids.map((id) => ({ id, version: this.served.get(id) ?? 'v1' })),
      },
    });
  }

  private deletePod(podName: string): void {
    this.api.remove('pods', NS, podName);
    for (const s of this.api.objects<PodStatus>('secretproviderclasspodstatuses', NS))
      if (s.status?.podName === podName)
        this.api.remove('secretproviderclasspodstatuses', NS, s.metadata.name ?? '');
  }
}
