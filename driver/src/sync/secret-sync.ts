// Sync as Kubernetes Secret: where a Secret is written. For each SecretProviderClassPodStatus of this
// node, every `secretObjects` entry of the pod's class becomes a Secret in the pod's namespace,
// built from the files mounted in that pod's volume, owned by the pod's owners (or by the status
// when the pod has none) so that the garbage collector removes it with the last of them.
//
// When it runs: on a status added or changed, a rotation of the volume, a class changed, a pod
// added or finished, and every five minutes for every status (upstream's resync), which also brings
// back what was missed while the driver was down and a synced Secret someone else deleted or edited.
// Nothing runs before the caches of statuses, pods and classes are filled. A pod not in the cache
// yet, or a class not found, is looked at again after five seconds, as upstream does.
//
// Memory and API use: informers over this node's statuses and pods. Secrets are neither listed nor
// watched: each is read by name while a status of this node names it (named-secrets.ts), once per
// resync round, so a node's cost does not grow with other nodes' Secrets, and a cluster without sync
// reads none. A Secret is written only when what it should hold changes (secret-plan.ts decides
// between pods that disagree).
import type {
  EventRecorder,
  KubeApi,
  Logger,
  ObjectReference,
  OwnerReference,
  Pod,
  Secret,
  SecretObject,
  SecretProviderClassPodStatus,
} from '@sscsi/common';
import {
  apiVersionOf,
  Informer,
  isAlreadyExists,
  isConflict,
  isForbidden,
  isNotFound,
  podReference,
  Resources,
  resourcePath,
  WorkQueue,
} from '@sscsi/common';

import { NODE_LABEL, podStatusName } from '../kube/pod-status';
import type { SecretProviderClassCache } from '../kube/secret-provider-classes';
import type { DriverMetrics } from '../metrics';
import type { Mounter } from '../mount/mounter';
import { MountedFiles } from './mounted-files';
import { NamedSecrets } from './named-secrets';
import { volumeOfClass } from './pod-volume';
import { buildSecretContent, SyncError } from './secret-data';
import type { ContentSource, WantedSecret } from './secret-plan';
import { planSecret } from './secret-plan';

const FORBIDDEN_HINT =
  'the driver may not write Secrets: its ServiceAccount lacks the sync RBAC (install the chart with syncSecret.enabled=true)';

export interface SecretSyncOptions {
  kube: KubeApi;
  nodeId: string;
  /** The CSI driver name: a status's volume must be one of this driver. */
  driverName: string;
  classes: Pick<SecretProviderClassCache, 'get' | 'onChange' | 'waitForSync'>;
  mounter: Pick<Mounter, 'isMountPoint'>;
  events: EventRecorder;
  metrics: Pick<DriverMetrics, 'secretSynced'>;
  logger: Logger;
  /** Every status is looked at again this often (upstream: 5 minutes). */
  resyncIntervalMs?: number;
  /** A status whose pod or class is not known yet is looked at again after this (upstream: 5 s). */
  requeueAfterMs?: number;
  /** First retry delay of a failed sync (doubling up to a minute). */
  retryBaseDelayMs?: number;
}

/** `rotated`: the data changed; `updated`: only labels, annotations or owners did. */
type SyncOutcome = 'created' | 'rotated' | 'updated' | 'unchanged';

const keyOf = (namespace: string | undefined, name: string | undefined) => `${namespace ?? ''}/${name ?? ''}`;

const finished = (pod: Pod) =>
  pod.metadata.deletionTimestamp !== undefined ||
  pod.status?.phase === 'Succeeded' ||
  pod.status?.phase === 'Failed';

export class SecretSync {
  private readonly podStatuses: Informer<SecretProviderClassPodStatus>;
  private readonly pods: Informer<Pod>;
  /** The Secrets this node's statuses name, read by name. */
  private readonly secrets: NamedSecrets;
  private readonly queue: WorkQueue;
  /** One write at a time per Secret on this node. */
  private readonly secretLocks = new Map<string, Promise<unknown>>();
  private readonly requeueAfterMs: number;
  private resyncTimer?: NodeJS.Timeout;
  private forbiddenLogged = 0;
  private stopped = false;

  constructor(private readonly o: SecretSyncOptions) {
    this.requeueAfterMs = o.requeueAfterMs ?? 5_000;
    this.secrets = new NamedSecrets(o.kube);
    this.podStatuses = new Informer(o.kube, Resources.secretProviderClassPodStatuses, {
      labelSelector: `${NODE_LABEL}=${o.nodeId}`,
      onError: this.watchFailed('SecretProviderClassPodStatus'),
    });
    this.pods = new Informer(o.kube, Resources.pods, {
      fieldSelector: `spec.nodeName=${o.nodeId}`,
      onError: this.watchFailed('Pod'),
    });
    this.queue = new WorkQueue((key) => this.reconcile(key), { baseDelayMs: o.retryBaseDelayMs });

    const enqueue = (s: SecretProviderClassPodStatus) =>
      this.queue.add(keyOf(s.metadata.namespace, s.metadata.name));
    this.podStatuses.addHandlers({
      added: enqueue,
      updated: enqueue,
      deleted: (s) => this.secrets.forget(keyOf(s.metadata.namespace, s.metadata.name)),
    });
    this.pods.addHandlers({
      added: (pod) => this.enqueuePod(pod),
      updated: (pod, old) => {
        if (finished(pod) !== finished(old)) this.enqueuePod(pod);
      },
    });
    o.classes.onChange((spc) =>
      this.enqueueStatuses(
        spc.metadata.namespace,
        (s) => s.status?.secretProviderClassName === spc.metadata.name,
      ),
    );
  }

  start(): void {
    this.podStatuses.start();
    this.pods.start();
    const resyncMs = this.o.resyncIntervalMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => {
      this.secrets.startRound();
      this.enqueueStatuses(undefined, () => true);
    }, resyncMs);
    this.resyncTimer.unref();
    void Promise.all([
      this.podStatuses.waitForSync(),
      this.pods.waitForSync(),
      this.o.classes.waitForSync(),
    ]).then(() => {
      if (!this.stopped) this.queue.start();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.queue.stop();
    await Promise.all([this.podStatuses.stop(), this.pods.stop()]);
  }

  /** Resolves once the caches are filled and the queue is empty (tests, benchmarks). */
  async idle(): Promise<void> {
    await Promise.all([
      this.podStatuses.waitForSync(),
      this.pods.waitForSync(),
      this.o.classes.waitForSync(),
    ]);
    await this.queue.idle();
  }

  /** Sync the Secrets of a pod's volume now (after a rotation changed its files). */
  volumeChanged(namespace: string, podName: string, spcName: string): void {
    this.queue.add(keyOf(namespace, podStatusName(podName, namespace, spcName)));
  }

  private enqueueStatuses(
    namespace: string | undefined,
    matches: (s: SecretProviderClassPodStatus) => boolean,
  ): void {
    for (const s of this.podStatuses.list()) {
      if (namespace !== undefined && s.metadata.namespace !== namespace) continue;
      if (matches(s)) this.queue.add(keyOf(s.metadata.namespace, s.metadata.name));
    }
  }

  private enqueuePod(pod: Pod): void {
    this.enqueueStatuses(pod.metadata.namespace, (s) => s.status?.podName === pod.metadata.name);
  }

  private watchFailed(what: string) {
    return (err: unknown) =>
      this.o.logger.warn({ err: (err as Error).message }, `${what} watch failed; retrying`);
  }

  private logForbidden(err: unknown): void {
    const now = Date.now();
    if (now - this.forbiddenLogged < 60_000) return;
    this.forbiddenLogged = now;
    this.o.logger.warn({ err: (err as Error).message }, FORBIDDEN_HINT);
  }

  /** Whether the pod a Secret's content came from still runs; when in doubt, yes. */
  private async isLive(namespace: string, source: ContentSource): Promise<boolean> {
    let pod = this.pods.get(namespace, source.podName);
    if (!pod) {
      try {
        pod = await this.o.kube.get<Pod>(resourcePath(Resources.pods, namespace, source.podName));
      } catch (err) {
        if (isNotFound(err)) return false;
        return true;
      }
    }
    return pod.metadata.uid === source.podUid && !finished(pod);
  }

  private async reconcile(key: string): Promise<number | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    const status = this.podStatuses.get(namespace, name);
    const s = status?.status;
    if (!status || !s?.mounted || !s.podName || !s.secretProviderClassName || !s.targetPath) {
      this.secrets.forget(key);
      return undefined;
    }
    const pod = this.pods.get(namespace, s.podName);
    if (!pod) {
      this.o.logger.debug({ spcps: key }, 'the pod is not in the cache yet: looking again shortly');
      return this.requeueAfterMs;
    }
    // A pod being deleted, or whose containers all ended (a Job's), needs no Secret any more.
    if (finished(pod)) {
      this.o.logger.debug({ spcps: key, phase: pod.status?.phase }, 'the pod has finished: nothing to sync');
      return undefined;
    }
    // A status left by an earlier pod of that name: the new pod's publish replaces it.
    if (!status.metadata.ownerReferences?.some((o) => o.uid === pod.metadata.uid)) return undefined;
    const spcName = s.secretProviderClassName;
    const spc = await this.o.classes.get(namespace, spcName);
    if (!spc) {
      this.o.logger.debug({ spcps: key, spc: spcName }, 'the class is not found: looking again shortly');
      return this.requeueAfterMs;
    }
    const secretObjects = spc.spec.secretObjects ?? [];
    if (secretObjects.length === 0) {
      this.secrets.forget(key);
      this.o.logger.debug({ spcps: key }, 'the class has no secretObjects: nothing to sync');
      return undefined;
    }
    // The status may have gone while its class was read: naming its Secrets now would keep them
    // for good, as no deletion would come to forget them.
    if (!this.podStatuses.get(namespace, name)) return undefined;
    this.secrets.name(
      key,
      secretObjects.map((o) => NamedSecrets.keyOf(namespace, o.secretName)),
    );

    const podRef = podReference({ name: s.podName, namespace, uid: pod.metadata.uid });
    const started = performance.now();
    let files: MountedFiles;
    try {
      volumeOfClass(pod, s.targetPath, this.o.driverName, spcName);
      if (!(await this.o.mounter.isMountPoint(s.targetPath)))
        throw new SyncError(`the volume at ${s.targetPath} is not mounted`);
      files = new MountedFiles(s.targetPath);
    } catch (err) {
      this.o.events.record(podRef, 'Warning', 'FailedToCreateSecret', (err as Error).message);
      throw err;
    }
    const owners = this.ownersFor(pod, status);
    let failures = 0;
    let written = 0;
    for (const secretObject of secretObjects) {
      try {
        const content = buildSecretContent(secretObject, files.read);
        const want: WantedSecret = {
          namespace,
          name: secretObject.secretName,
          type: content.type,
          data: Object.fromEntries(Object.entries(content.data).map(([k, v]) => [k, v.toString('base64')])),
          labels: { ...secretObject.labels },
          annotations: { ...secretObject.annotations },
          owners,
          source: {
            podName: s.podName,
            podUid: pod.metadata.uid ?? '',
            changedAt: files.takeChangedAt(),
            volume: name,
          },
        };
        const outcome = await this.locked(keyOf(namespace, want.name), () => this.syncSecret(want));
        if (outcome !== 'unchanged') written++;
        if (outcome === 'rotated') {
          this.o.events.record(
            podRef,
            'Normal',
            'SecretRotationComplete',
            `synced Secret ${namespace}/${secretObject.secretName} updated with the mounted contents`,
          );
        }
      } catch (err) {
        failures++;
        files.takeChangedAt();
        this.syncFailed(podRef, secretObject, err);
      }
    }
    if (written > 0)
      this.o.metrics.secretSynced(spc.spec.provider ?? '', written, (performance.now() - started) / 1000);
    if (failures > 0)
      throw new SyncError(`${failures} of ${secretObjects.length} Secrets failed to sync for ${key}`);
    this.o.logger.debug({ spcps: key, written }, 'reconcile complete');
    return undefined;
  }

  private syncFailed(podRef: ObjectReference, secretObject: SecretObject, err: unknown): void {
    const namespace = podRef.namespace;
    const forbidden = isForbidden(err);
    if (forbidden) this.logForbidden(err);
    const message = forbidden
      ? `failed to sync Secret ${namespace}/${secretObject.secretName}: ${FORBIDDEN_HINT}`
      : `failed to sync Secret ${namespace}/${secretObject.secretName}: ${(err as Error).message}`;
    this.o.events.record(podRef, 'Warning', 'FailedToCreateSecret', message);
    this.o.logger.warn(
      { pod: `${namespace}/${podRef.name}`, secret: secretObject.secretName, err: (err as Error).message },
      'secret sync failed',
    );
  }

  /** Runs `work` after every earlier work on the same key has ended. */
  private async locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.secretLocks.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(work);
    this.secretLocks.set(key, current);
    try {
      return await current;
    } finally {
      if (this.secretLocks.get(key) === current) this.secretLocks.delete(key);
    }
  }

  /** The pod's owners (a Deployment's ReplicaSet, ...), or the status when the pod has none. */
  private ownersFor(pod: Pod, status: SecretProviderClassPodStatus): OwnerReference[] {
    const podOwners = pod.metadata.ownerReferences ?? [];
    // Never `controller`: a Secret shared by two Deployments has two owners, and only one may control.
    if (podOwners.length > 0)
      return podOwners.map(({ apiVersion, kind, name, uid }) => ({ apiVersion, kind, name, uid }));
    return [
      {
        apiVersion: apiVersionOf(Resources.secretProviderClassPodStatuses),
        kind: 'SecretProviderClassPodStatus',
        name: status.metadata.name ?? '',
        uid: status.metadata.uid ?? '',
      },
    ];
  }

  private async syncSecret(want: WantedSecret): Promise<SyncOutcome> {
    const collection = resourcePath(Resources.secrets, want.namespace);
    const one = resourcePath(Resources.secrets, want.namespace, want.name);
    /** Keeps what the API server answered to a write, for the next read. */
    const written = (secret: Secret | undefined) => this.secrets.written(want.namespace, want.name, secret);
    for (let attempt = 1; ; attempt++) {
      // After a clash, read the API server itself: the copy predates the other write.
      const existing = await this.secrets.read(want.namespace, want.name, attempt > 1);
      const plan = await planSecret(existing, want, (source) => this.isLive(want.namespace, source));
      try {
        switch (plan.kind) {
          case 'unchanged':
            return 'unchanged';
          case 'create':
            written(await this.o.kube.create<Secret>(collection, plan.secret));
            return 'created';
          case 'update':
            written(await this.o.kube.replace<Secret>(one, plan.secret));
            return plan.dataChanged ? 'rotated' : 'updated';
          case 'replace':
            // The type of a Secret cannot change: delete it (as it was read) and create it again.
            await this.o.kube.delete(one, {
              body: { preconditions: { resourceVersion: plan.resourceVersion } },
            });
            written(undefined);
            written(await this.o.kube.create<Secret>(collection, plan.secret));
            return 'rotated';
        }
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err) && !isAlreadyExists(err)) throw err;
        if (attempt >= 5) throw err;
        // Someone else wrote it meanwhile: read it again and decide again, after a short pause.
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  }
}
