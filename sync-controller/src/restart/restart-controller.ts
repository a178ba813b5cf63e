// Restart on rotation (--restart-on-rotation): a Deployment, StatefulSet or DaemonSet that opts in
// (annotations.ts) gets a rolling restart when the object versions its current pods mount change
// (their SecretProviderClassPodStatuses), or the data of a synced Secret its pod template reads
// (written by the driver's secretObjects sync or by a SecretSync). Run by this controller, once
// per cluster and by the leader only: no node patches workloads.
//
// Shape of the SecretSync controller: watches only enqueue the workloads they may concern; a
// change enqueues its workload after a short delay (--restart-on-rotation-delay), so that the pods
// of one workload whose statuses change within it give one evaluation; the work queue holds each
// workload once, never evaluates one twice at once, and retries failures with backoff. An
// evaluation reads the workload's current pods (one list of pods, and of ReplicaSets for a
// Deployment), decides (decision.ts), and writes the record, with the pod template's restartedAt
// when it restarts, in one merge patch that carries the resourceVersion it decided on: the record
// and the restart are written together or not at all, and a decision made on a stale copy (this
// controller's own write not yet seen, a second replica) is refused (409) and made again later on
// the fresh one, so one change never restarts a workload twice.
import type {
  EventRecorder,
  InformerHandlers,
  KubeApi,
  KubeList,
  KubeObject,
  Logger,
  Pod,
  SecretProviderClassPodStatus,
} from '@sscsi/common';
import {
  KubeApiError,
  parseOptIn,
  RESTART_ON_ROTATION_ANNOTATION,
  Resources,
  resourcePath,
  WorkQueue,
} from '@sscsi/common';

import type { Mounted } from './annotations';
import { formatRecord, parseRecord, RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION } from './annotations';
import { decide, decideWithoutPods, describeChange, objectKey, secretKey } from './decision';
import type { SecretMarks, SyncedSecret } from './secret-marks';
import type { Workload, WorkloadKind } from './workloads';
import {
  currentPods,
  observedLatest,
  parseWorkloadKey,
  referencedSecrets,
  restartRollingOut,
  selectorQuery,
  WORKLOAD_KINDS,
  workloadKey,
  workloadReference,
  workloadResource,
  WorkloadResources,
} from './workloads';

export const FIELD_MANAGER = 'secrets-store-sync-controller';
export const RESTARTED_REASON = 'RestartedOnRotation';
export const INVALID_REASON = 'InvalidRestartOnRotation';
const RETRY_BASE_DELAY_MS = 1000;
/** The longest generateName the API server keeps: a name is at most 63, 5 of them random. */
const GENERATED_NAME_BASE_MAX = 58;
const RETRY_MAX_DELAY_MS = 5 * 60_000;

/** A pod's status with its generation (one more at each change of its status). */
export type PodStatus = SecretProviderClassPodStatus & {
  metadata: SecretProviderClassPodStatus['metadata'] & { generation?: number };
};

/** `conflict`: the write was refused (409) on a copy changed since (its status, our own write): retried. */
export type RestartOutcome = 'restarted' | 'recorded' | 'unchanged' | 'conflict' | 'failed' | 'invalid';

/** What the controller reads of an informer. */
export interface Cache<T> {
  get(namespace: string, name: string): T | undefined;
  list(): T[];
  addHandlers(handlers: InformerHandlers<T>): void;
}

export interface RestartControllerOptions {
  workloads: Record<WorkloadKind, Cache<Workload>>;
  podStatuses: Cache<PodStatus>;
  /** The synced Secrets, one cache per label (the driver's, the SecretSyncs'). */
  secrets: ReadonlyArray<Cache<SyncedSecret>>;
  kube: Pick<KubeApi, 'get' | 'patch'>;
  marks: SecretMarks;
  events: EventRecorder;
  logger: Logger;
  /** How long after a change its workload is evaluated. */
  delayMs: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  now?: () => number;
  /** Counted outcomes, for the metrics. */
  counted?: (outcome: RestartOutcome) => void;
}

const podKey = (namespace: string | undefined, pod: string | undefined) => `${namespace ?? ''}/${pod ?? ''}`;

/**
 * kubectl's restartedAt, in milliseconds (kubectl writes whole seconds) and always after the one the
 * template holds: a value equal to it would change no template, and roll nothing.
 */
function restartedAt(ms: number, previous: string | undefined): string {
  const before = previous === undefined ? NaN : Date.parse(previous);
  return new Date(Number.isNaN(before) || ms > before ? ms : before + 1).toISOString();
}

const statusKey = (s: PodStatus) => `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
const ownerPodUid = (s: PodStatus) =>
  s.metadata.ownerReferences?.find((o) => o.kind === 'Pod')?.uid ??
  s.metadata.ownerReferences?.[0]?.uid ??
  '';

function versionsOf(status: SecretProviderClassPodStatus): string {
  return JSON.stringify(status.status?.objects ?? []);
}

export class RestartController {
  private readonly queue: WorkQueue;
  private readonly abort = new AbortController();
  /** SecretProviderClassPodStatuses by `namespace/pod`. */
  private readonly statusesByPod = new Map<string, Map<string, PodStatus>>();
  /**
   * What each status (by `namespace/name`) held when first written for its pod: seen at its first
   * generation, or when it changed owner (the driver replaced it for a new pod of the same name).
   */
  private readonly firstMount = new Map<string, { podUid: string; versions: string }>();
  /** Workloads with the opt-in annotation (any value; `on`: "true"), by namespace. */
  private readonly optedIn = new Map<
    string,
    Map<string, { kind: WorkloadKind; name: string; on: boolean }>
  >();
  /** Workloads whose evaluation is due after the delay. */
  private readonly due = new Map<string, NodeJS.Timeout>();
  private started = false;
  private stopped = false;

  constructor(private readonly o: RestartControllerOptions) {
    this.queue = new WorkQueue((key) => this.evaluate(key), {
      concurrency: 2,
      baseDelayMs: o.retryBaseDelayMs ?? RETRY_BASE_DELAY_MS,
      maxDelayMs: o.retryMaxDelayMs ?? RETRY_MAX_DELAY_MS,
    });
    for (const kind of WORKLOAD_KINDS) {
      o.workloads[kind].addHandlers({
        added: (w) => this.workloadSeen(kind, w, undefined),
        updated: (w, old) => this.workloadSeen(kind, w, old),
        deleted: (w) => this.workloadGone(kind, w),
      });
    }
    o.podStatuses.addHandlers({
      added: (s) => this.statusSeen(s, undefined),
      updated: (s, old) => this.statusSeen(s, old),
      deleted: (s) => this.statusGone(s),
    });
    for (const secrets of o.secrets) {
      secrets.addHandlers({
        added: (s) => this.secretChanged(s),
        updated: (s, old) => {
          if (s.dataDigest !== old.dataDigest) this.secretChanged(s);
        },
        deleted: (s) => o.marks.forget(s),
      });
    }
  }

  /** Starts evaluating (on becoming leader): every opted-in workload once, then on changes. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const byName of this.optedIn.values()) for (const key of byName.keys()) this.queue.add(key);
    this.queue.start();
  }

  /** Stops at once: evaluations under way are cancelled (a lost Lease, a shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.due.values()) clearTimeout(timer);
    this.due.clear();
    this.queue.stop();
    this.abort.abort();
    await this.queue.idle();
  }

  /** Resolves when nothing is due, waiting or running (tests). */
  async idle(): Promise<void> {
    while (this.due.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.queue.idle();
  }

  /** Evaluates a workload after the delay; a workload already due is not delayed further. */
  private schedule(key: string): void {
    if (!this.started || this.stopped || this.due.has(key)) return;
    const timer = setTimeout(() => {
      this.due.delete(key);
      this.queue.add(key);
    }, this.o.delayMs);
    timer.unref();
    this.due.set(key, timer);
  }

  private workloadSeen(kind: WorkloadKind, w: Workload, old: Workload | undefined): void {
    const namespace = w.metadata.namespace ?? '';
    const name = w.metadata.name ?? '';
    const key = workloadKey(kind, namespace, name);
    const value = w.metadata.annotations?.[RESTART_ON_ROTATION_ANNOTATION];
    if (value === undefined) {
      this.optedIn.get(namespace)?.delete(key);
      return;
    }
    let byName = this.optedIn.get(namespace);
    if (!byName) this.optedIn.set(namespace, (byName = new Map()));
    byName.set(key, { kind, name, on: value === 'true' });
    const before = old?.metadata.annotations?.[RESTART_ON_ROTATION_ANNOTATION];
    // Its opt-in, its spec (a template's Secrets), or its rollout's progress changed.
    if (
      !old ||
      before !== value ||
      old.metadata.generation !== w.metadata.generation ||
      old.spec?.paused !== w.spec?.paused ||
      old.status?.observedGeneration !== w.status?.observedGeneration
    )
      this.schedule(key);
  }

  private workloadGone(kind: WorkloadKind, w: Workload): void {
    this.optedIn
      .get(w.metadata.namespace ?? '')
      ?.delete(workloadKey(kind, w.metadata.namespace ?? '', w.metadata.name ?? ''));
  }

  private statusSeen(s: PodStatus, old: PodStatus | undefined): void {
    const pod = podKey(s.metadata.namespace, s.status?.podName);
    if (old) this.forgetStatus(old);
    let byName = this.statusesByPod.get(pod);
    if (!byName) this.statusesByPod.set(pod, (byName = new Map()));
    byName.set(s.metadata.name ?? '', s);
    const podUid = ownerPodUid(s);
    if ((!old && (s.metadata.generation ?? 1) === 1) || (old && ownerPodUid(old) !== podUid))
      this.firstMount.set(statusKey(s), { podUid, versions: versionsOf(s) });
    if (!old || versionsOf(old) !== versionsOf(s) || old.status?.mounted !== s.status?.mounted)
      this.podChanged(s.metadata.namespace ?? '', s.status?.podName ?? '');
  }

  private statusGone(s: PodStatus): void {
    this.forgetStatus(s);
    this.firstMount.delete(statusKey(s));
  }

  /**
   * Whether a status's versions changed under its pod. A status has no status subresource: each
   * change is a new generation. But the driver also rewrites it at once for a second volume of the
   * same class, or for a new pod of the same name (a StatefulSet's) while it still exists: when
   * its first mount for this pod was seen, only versions other than those count.
   */
  private rotated(s: PodStatus): boolean {
    const first = this.firstMount.get(statusKey(s));
    if (first?.podUid === ownerPodUid(s)) return versionsOf(s) !== first.versions;
    return (s.metadata.generation ?? 1) > 1;
  }

  private forgetStatus(s: PodStatus): void {
    const pod = podKey(s.metadata.namespace, s.status?.podName);
    const byName = this.statusesByPod.get(pod);
    byName?.delete(s.metadata.name ?? '');
    if (byName?.size === 0) this.statusesByPod.delete(pod);
  }

  /**
   * A pod's mount changed: the opted-in workloads of its namespace that may own it (the pods of a
   * Deployment, StatefulSet or DaemonSet are named after it) are evaluated; the evaluation finds out
   * (by owner). The API server cuts a generateName to 58 characters (63 with its 5 random ones), so
   * the pods of a workload with a long name start with only the first 58 of `name-`.
   */
  private podChanged(namespace: string, podName: string): void {
    for (const [key, { name, on }] of this.optedIn.get(namespace) ?? [])
      if (on && podName.startsWith(`${name}-`.slice(0, GENERATED_NAME_BASE_MAX))) this.schedule(key);
  }

  private secretChanged(s: SyncedSecret): void {
    const namespace = s.metadata.namespace ?? '';
    for (const [key, { kind, name, on }] of this.optedIn.get(namespace) ?? []) {
      if (!on) continue;
      const w = this.o.workloads[kind].get(namespace, name);
      if (w && referencedSecrets(w.spec?.template).includes(s.metadata.name ?? '')) this.schedule(key);
    }
  }

  private syncedSecret(namespace: string, name: string): SyncedSecret | undefined {
    for (const secrets of this.o.secrets) {
      const s = secrets.get(namespace, name);
      if (s) return s;
    }
    return undefined;
  }

  /** One workload: decide from its current pods and its record, then write (and restart) or not. */
  private async evaluate(key: string): Promise<void> {
    const { kind, namespace, name } = parseWorkloadKey(key);
    const w = this.o.workloads[kind].get(namespace, name);
    if (!w) return;
    const ref = workloadReference(kind, w);
    const optIn = parseOptIn(w.metadata.annotations);
    if (optIn.kind === 'invalid') {
      this.o.events.record(ref, 'Warning', INVALID_REASON, optIn.message);
      this.o.counted?.('invalid');
      return;
    }
    if (optIn.kind === 'off') return;
    const labelSelector = selectorQuery(w.spec?.selector);
    // Until its controller has seen its latest spec, the workload's update that says so brings it back.
    if (!labelSelector || !observedLatest(w)) return;
    const signal = this.abort.signal;
    try {
      const pods = await this.o.kube.get<KubeList<Pod>>(resourcePath(Resources.pods, namespace), {
        query: { labelSelector },
        signal,
      });
      const replicaSets =
        kind === 'Deployment'
          ? await this.o.kube.get<KubeList<KubeObject>>(
              resourcePath(WorkloadResources.replicaSets, namespace),
              {
                query: { labelSelector },
                signal,
              },
            )
          : undefined;
      const current = currentPods(kind, w, pods.items, replicaSets?.items);
      if (!current) return;
      // A restart still rolling out: its new pods, once mounted, bring the workload back.
      if (restartRollingOut(w, current, RESTARTED_AT_ANNOTATION)) return;
      const { mounted, changedUnder } = await this.mountedBy(namespace, current, w);
      const record = parseRecord(w.metadata.annotations);
      // No current pod (scaled to zero): a Secret's new data restarts nothing, no pod read the old.
      const decision =
        current.length > 0 ? decide(record, mounted, changedUnder) : decideWithoutPods(record, mounted);
      // A paused Deployment rolls out no restart: its pods stay current, and asking again at each
      // evaluation would only pile up template changes and Events. What it records is kept; resumed
      // (a new generation), it is evaluated again and restarted then.
      const paused = kind === 'Deployment' && w.spec?.paused === true && decision.kind === 'restart';
      if (decision.kind === 'unchanged' || paused) {
        this.o.counted?.('unchanged');
        return;
      }
      const patch: Record<string, unknown> = {
        metadata: {
          resourceVersion: w.metadata.resourceVersion,
          annotations: { [RESTARTED_FOR_ANNOTATION]: formatRecord(decision.record) },
        },
      };
      if (decision.kind === 'restart')
        patch.spec = {
          template: {
            metadata: {
              annotations: {
                [RESTARTED_AT_ANNOTATION]: restartedAt(
                  this.o.now?.() ?? Date.now(),
                  w.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION],
                ),
              },
            },
          },
        };
      await this.o.kube.patch(resourcePath(workloadResource(kind), namespace, name), patch, 'merge', {
        query: { fieldManager: FIELD_MANAGER },
        signal,
      });
      if (decision.kind === 'restart') {
        const message = describeChange(decision.changed);
        this.o.events.record(ref, 'Normal', RESTARTED_REASON, message);
        this.o.logger.info({ workload: key, changed: decision.changed }, 'restarted on rotation');
        this.o.counted?.('restarted');
      } else {
        this.o.logger.debug({ workload: key }, 'recorded what the pods mount');
        this.o.counted?.('recorded');
      }
    } catch (err) {
      if (signal.aborted) return;
      // The workload changed since the copy decided on (its controller's status update, our own
      // write not yet seen): usual, decided again on the fresh copy.
      if (err instanceof KubeApiError && err.status === 409) {
        this.o.logger.debug(
          { workload: key },
          'restart on rotation: workload changed meanwhile; evaluating again',
        );
        this.o.counted?.('conflict');
        throw err;
      }
      this.o.logger.warn(
        { workload: key, err: (err as Error).message },
        'restart on rotation failed; retrying',
      );
      this.o.counted?.('failed');
      throw err;
    }
  }

  /**
   * What the pods mount, and what of it changed under them: the versions in statuses updated since
   * the pod's mount (a custom resource without a status subresource gets a new generation at each
   * change of its status), and the Secrets' marks (read at start, rewritten in place).
   */
  private async mountedBy(
    namespace: string,
    pods: readonly Pod[],
    w: Workload,
  ): Promise<{ mounted: Mounted; changedUnder: Mounted }> {
    const mounted = new Map<string, Set<string>>();
    const changedUnder = new Map<string, Set<string>>();
    const add = (key: string, version: string, under: boolean) => {
      for (const [map, yes] of [
        [mounted, true],
        [changedUnder, under],
      ] as const) {
        if (!yes) continue;
        let versions = map.get(key);
        if (!versions) map.set(key, (versions = new Set()));
        versions.add(version);
      }
    };
    for (const pod of pods) {
      for (const s of this.statusesByPod.get(podKey(namespace, pod.metadata.name))?.values() ?? []) {
        // A status of an earlier pod of that name (a StatefulSet's) is not this pod's.
        const owners = s.metadata.ownerReferences ?? [];
        if (owners.length > 0 && !owners.some((o) => o.uid === pod.metadata.uid)) continue;
        if (s.status?.mounted === false) continue;
        const rotated = this.rotated(s);
        for (const object of s.status?.objects ?? [])
          add(objectKey(s.status?.secretProviderClassName ?? '', object.id), object.version, rotated);
      }
    }
    for (const name of referencedSecrets(w.spec?.template)) {
      const secret = this.syncedSecret(namespace, name);
      if (secret) add(secretKey(name), await this.o.marks.mark(secret), true);
    }
    return { mounted, changedUnder };
  }
}
