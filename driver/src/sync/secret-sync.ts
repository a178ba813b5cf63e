// Sync as Kubernetes Secret: where a Secret is written. For each SecretProviderClassPodStatus of this
// node, every `secretObjects` entry of the pod's class becomes a Secret in the pod's namespace,
// built from the files mounted in that pod's volume, owned by the pod's owners (or by the status
// when the pod has none) so that the garbage collector removes it with the last of them.
//
// Memory and API use: informers over this node's statuses and pods and over managed Secrets only;
// a Secret is written only when its content, metadata or owners differ from what is wanted.
import type {
  KubeClient,
  Logger,
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
  Resources,
  resourcePath,
} from '@sscsi/common';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import type { EventRecorder } from '../kube/events';
import { NODE_LABEL, podStatusName } from '../kube/pod-status';
import type { SecretProviderClassCache } from '../kube/secret-provider-classes';
import type { DriverMetrics } from '../metrics';
import type { Mounter } from '../mount/mounter';
import type { SecretContent } from './secret-data';
import { buildSecretContent, SyncError } from './secret-data';
import { WorkQueue } from './work-queue';

export const MANAGED_LABEL = 'secrets-store.csi.k8s.io/managed';
const FORBIDDEN_HINT =
  'the driver may not write Secrets: its ServiceAccount lacks the sync RBAC (install the chart with syncSecret.enabled=true)';

export interface SecretSyncOptions {
  kube: KubeClient;
  nodeId: string;
  classes: SecretProviderClassCache;
  mounter: Mounter;
  events: EventRecorder;
  metrics: DriverMetrics;
  logger: Logger;
}

/** `rotated`: the data changed; `updated`: only labels, annotations or owners did. */
type SyncOutcome = 'created' | 'rotated' | 'updated' | 'unchanged';

const keyOf = (namespace: string | undefined, name: string | undefined) => `${namespace ?? ''}/${name ?? ''}`;

/** What decides whether a write is needed: type, data, our labels and annotations, owner uids. */
function fingerprint(
  type: string,
  data: Record<string, string>,
  labels: Record<string, string>,
  annotations: Record<string, string>,
  owners: readonly OwnerReference[],
): string {
  const sorted = (o: Record<string, string>) =>
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]);
  const canonical = JSON.stringify([
    type,
    sorted(data),
    sorted(labels),
    sorted(annotations),
    owners.map((o) => o.uid).sort(),
  ]);
  return crypto.createHash('sha256').update(canonical).digest('hex');
}

/** Owners of `existing` followed by the wanted ones it lacks: an update never drops an owner. */
function mergeOwners(
  existing: readonly OwnerReference[],
  wanted: readonly OwnerReference[],
): OwnerReference[] {
  const uids = new Set(existing.map((o) => o.uid));
  return [...existing, ...wanted.filter((o) => !uids.has(o.uid))];
}

export class SecretSync {
  private readonly podStatuses: Informer<SecretProviderClassPodStatus>;
  private readonly pods: Informer<Pod>;
  private readonly secrets: Informer<Secret>;
  private readonly queue: WorkQueue;
  private forbiddenLogged = 0;

  constructor(private readonly o: SecretSyncOptions) {
    const onError = (what: string) => (err: unknown) => {
      if (isForbidden(err)) this.logForbidden(err);
      else o.logger.warn({ err: (err as Error).message }, `${what} watch failed; retrying`);
    };
    this.podStatuses = new Informer(o.kube, Resources.secretProviderClassPodStatuses, {
      labelSelector: `${NODE_LABEL}=${o.nodeId}`,
      onError: onError('SecretProviderClassPodStatus'),
    });
    this.pods = new Informer(o.kube, Resources.pods, {
      fieldSelector: `spec.nodeName=${o.nodeId}`,
      onError: onError('Pod'),
    });
    this.secrets = new Informer(o.kube, Resources.secrets, {
      labelSelector: `${MANAGED_LABEL}=true`,
      onError: onError('Secret'),
    });
    this.queue = new WorkQueue((key) => this.reconcile(key));

    const enqueue = (s: SecretProviderClassPodStatus) =>
      this.queue.add(keyOf(s.metadata.namespace, s.metadata.name));
    this.podStatuses.addHandlers({ added: enqueue, updated: enqueue });
    // A managed Secret edited or deleted by someone else is put back as the class says.
    const resync = (secret: Secret) => this.enqueueNamespace(secret.metadata.namespace);
    this.secrets.addHandlers({ updated: resync, deleted: resync });
    o.classes.onChange((spc) => this.enqueueNamespace(spc.metadata.namespace, spc.metadata.name));
  }

  start(): void {
    this.podStatuses.start();
    this.pods.start();
    this.secrets.start();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await Promise.all([this.podStatuses.stop(), this.pods.stop(), this.secrets.stop()]);
  }

  /** Resolves once the informers have their first lists and the queue is empty (tests, benchmarks). */
  async idle(): Promise<void> {
    await Promise.all([this.podStatuses.waitForSync(), this.pods.waitForSync(), this.secrets.waitForSync()]);
    await this.queue.idle();
  }

  /** Sync the Secrets of a pod's volume now (after a rotation changed its files). */
  volumeChanged(namespace: string, podName: string, spcName: string): void {
    this.queue.add(keyOf(namespace, podStatusName(podName, namespace, spcName)));
  }

  private enqueueNamespace(namespace: string | undefined, spcName?: string): void {
    for (const s of this.podStatuses.list()) {
      if (s.metadata.namespace !== namespace) continue;
      if (spcName !== undefined && s.status?.secretProviderClassName !== spcName) continue;
      this.queue.add(keyOf(s.metadata.namespace, s.metadata.name));
    }
  }

  private logForbidden(err: unknown): void {
    const now = Date.now();
    if (now - this.forbiddenLogged < 60_000) return;
    this.forbiddenLogged = now;
    this.o.logger.warn({ err: (err as Error).message }, FORBIDDEN_HINT);
  }

  private async reconcile(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const status = this.podStatuses.get(namespace, name);
    const s = status?.status;
    if (!status || !s?.mounted || !s.podName || !s.secretProviderClassName || !s.targetPath) return;
    const pod = this.pods.get(namespace, s.podName);
    // The pod is gone (or this status belongs to an earlier pod of that name): nothing to sync.
    if (!pod || pod.metadata.deletionTimestamp) return;
    if (!status.metadata.ownerReferences?.some((o) => o.uid === pod.metadata.uid)) return;
    const spc = await this.o.classes.get(namespace, s.secretProviderClassName);
    const secretObjects = spc?.spec.secretObjects ?? [];
    if (secretObjects.length === 0) return;

    const podRef = { name: s.podName, namespace, uid: pod.metadata.uid };
    const started = performance.now();
    let readFile: (relativePath: string) => Buffer;
    try {
      readFile = await this.mountedFiles(pod, s.targetPath);
    } catch (err) {
      this.o.events.record(podRef, 'Warning', 'FailedToCreateSecret', (err as Error).message);
      throw err;
    }
    const owners = this.ownersFor(pod, status);
    let failures = 0;
    let written = 0;
    for (const secretObject of secretObjects) {
      try {
        const outcome = await this.syncSecret(namespace, secretObject, owners, readFile);
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
        const forbidden = isForbidden(err);
        if (forbidden) this.logForbidden(err);
        const message = forbidden
          ? `failed to sync Secret ${namespace}/${secretObject.secretName}: ${FORBIDDEN_HINT}`
          : `failed to sync Secret ${namespace}/${secretObject.secretName}: ${(err as Error).message}`;
        this.o.events.record(podRef, 'Warning', 'FailedToCreateSecret', message);
        this.o.logger.warn(
          { pod: `${namespace}/${s.podName}`, secret: secretObject.secretName, err: (err as Error).message },
          'secret sync failed',
        );
      }
    }
    if (written > 0)
      this.o.metrics.secretSynced(spc?.spec.provider ?? '', written, (performance.now() - started) / 1000);
    if (failures > 0)
      throw new SyncError(`${failures} of ${secretObjects.length} Secrets failed to sync for ${key}`);
  }

  /**
   * A reader of the files of a pod's mounted volume. The status's target path must be one of that
   * pod's volumes and currently mounted (a status edited to point elsewhere reads nothing), and no
   * file may resolve outside it.
   */
  private async mountedFiles(pod: Pod, targetPath: string): Promise<(relativePath: string) => Buffer> {
    const expected = new RegExp(`/pods/${pod.metadata.uid ?? '-'}/volumes/kubernetes\\.io~csi/[^/]+/mount$`);
    if (
      !path.isAbsolute(targetPath) ||
      path.normalize(targetPath) !== targetPath ||
      !expected.test(targetPath)
    ) {
      throw new SyncError(
        `the status names target path ${targetPath}, which is not a volume of pod ${pod.metadata.namespace}/${pod.metadata.name}`,
      );
    }
    if (!(await this.o.mounter.isMountPoint(targetPath)))
      throw new SyncError(`the volume at ${targetPath} is not mounted`);
    const root = fs.realpathSync(targetPath);
    return (relativePath) => {
      const real = fs.realpathSync(path.join(targetPath, relativePath));
      if (!real.startsWith(`${root}/`)) throw new SyncError(`${relativePath} resolves outside the mount`);
      return fs.readFileSync(real);
    };
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

  private desired(secretObject: SecretObject, content: SecretContent) {
    return {
      type: content.type,
      data: Object.fromEntries(Object.entries(content.data).map(([k, v]) => [k, v.toString('base64')])),
      labels: { ...secretObject.labels, [MANAGED_LABEL]: 'true' },
      annotations: { ...secretObject.annotations },
    };
  }

  private async syncSecret(
    namespace: string,
    secretObject: SecretObject,
    owners: OwnerReference[],
    readFile: (relativePath: string) => Buffer,
  ): Promise<SyncOutcome> {
    const want = this.desired(secretObject, buildSecretContent(secretObject, readFile));
    const one = resourcePath(Resources.secrets, namespace, secretObject.secretName);
    let existing = this.secrets.get(namespace, secretObject.secretName);
    for (let attempt = 1; ; attempt++) {
      if (!existing) {
        try {
          await this.o.kube.create(resourcePath(Resources.secrets, namespace), {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name: secretObject.secretName,
              namespace,
              labels: want.labels,
              annotations: want.annotations,
              ownerReferences: owners,
            },
            type: want.type,
            data: want.data,
          });
          return 'created';
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
          existing = await this.o.kube.get<Secret>(one);
        }
      }
      if (existing.metadata.labels?.[MANAGED_LABEL] !== 'true') {
        throw new SyncError(
          `a Secret ${namespace}/${secretObject.secretName} exists and is not managed by the driver; rename secretName or delete that Secret`,
        );
      }
      const labels = { ...existing.metadata.labels, ...want.labels };
      const annotations = { ...existing.metadata.annotations, ...want.annotations };
      const ownerReferences = mergeOwners(existing.metadata.ownerReferences ?? [], owners);
      const have = fingerprint(
        existing.type ?? 'Opaque',
        existing.data ?? {},
        existing.metadata.labels ?? {},
        existing.metadata.annotations ?? {},
        existing.metadata.ownerReferences ?? [],
      );
      if (have === fingerprint(want.type, want.data, labels, annotations, ownerReferences))
        return 'unchanged';
      try {
        if ((existing.type ?? 'Opaque') !== want.type) {
          // The type of a Secret cannot change: replace it, keeping its owners.
          await this.o.kube.delete(one, {
            body: { preconditions: { resourceVersion: existing.metadata.resourceVersion } },
          });
          existing = undefined;
          owners = ownerReferences;
          continue;
        }
        await this.o.kube.replace(one, {
          ...existing,
          metadata: { ...existing.metadata, labels, annotations, ownerReferences },
          type: want.type,
          data: want.data,
        });
        const sameData =
          fingerprint('', existing.data ?? {}, {}, {}, []) === fingerprint('', want.data, {}, {}, []);
        return sameData ? 'updated' : 'rotated';
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        if (attempt >= 5) throw err;
        // Someone else wrote it meanwhile: read it again and retry, after a short, growing pause.
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
        existing = await this.o.kube
          .get<Secret>(one)
          .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
      }
    }
  }
}
