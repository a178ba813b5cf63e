// A kubelet stand-in for the integration tests: for Pod objects of the lab it calls the driver's CSI
// Node service the way the kubelet does for inline secrets-store volumes. It reads the CSIDriver
// object (podInfoOnMount, tokenRequests, requiresRepublish), builds the same volume_context, target
// paths under its own kubelet root, mints tokens through the real TokenRequest API, republishes
// periodically when asked to, and unpublishes when a pod is deleted. It also registers its Node
// and renews the node lease, so the lab's controllers treat the node as alive.
import * as grpc from '@grpc/grpc-js';
import type { CoreEvent, KubeClient, Pod, TokenRequest } from '@sscsi/common';
import { Informer, isAlreadyExists, isNotFound, Resources, resourcePath } from '@sscsi/common';
import type { NodeHandlers } from '@sscsi/proto';
import { loadCsi } from '@sscsi/proto';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const DRIVER_NAME = 'secrets-store.csi.k8s.io';

export interface CSIDriverSpec {
  podInfoOnMount?: boolean;
  requiresRepublish?: boolean;
  tokenRequests?: Array<{ audience: string; expirationSeconds?: number }>;
  serviceAccountTokenInSecrets?: boolean;
}

export interface KubeletStandInOptions {
  kube: KubeClient;
  nodeName: string;
  driverSocket: string;
  /** The kubelet root folder (like /var/lib/kubelet); target paths go below `pods/`. */
  rootDir: string;
  driverName?: string;
  /** Deadline of each CSI call, as the kubelet's (2 minutes). */
  callTimeoutMs?: number;
  /** In run mode: how often volumes of a requiresRepublish driver are republished. */
  republishIntervalMs?: number;
}

export interface VolumeCall {
  pod: Pod;
  volumeName: string;
  targetPath: string;
}

export interface PreparedPublish {
  call: VolumeCall;
  request: Record<string, unknown>;
}

/** The kubelet's volume handle for an inline volume: stable per pod and volume. */
function volumeHandle(pod: Pod, volumeName: string): string {
  return `csi-${crypto.createHash('sha256').update(`${pod.metadata.uid}/${volumeName}`).digest('hex')}`;
}

const podKey = (pod: Pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;

export class KubeletStandIn {
  private readonly client: grpc.Client;
  private readonly driverName: string;
  private informer?: Informer<Pod>;
  private timers: NodeJS.Timeout[] = [];
  private readonly published = new Map<string, Pod>();
  /** Every volume published and not yet unpublished, by target path. */
  private readonly volumesUp = new Map<string, { pod: Pod; volumeName: string }>();
  /** Last publish error per pod (namespace/name), as the kubelet's FailedMount event would say. */
  readonly lastErrors = new Map<string, string>();

  constructor(private readonly o: KubeletStandInOptions) {
    this.driverName = o.driverName ?? DRIVER_NAME;
    const Node = loadCsi().csi.v1.Node;
    this.client = new Node(`unix://${o.driverSocket}`, grpc.credentials.createInsecure());
  }

  targetPath(pod: Pod, volumeName: string): string {
    return path.join(
      this.o.rootDir,
      'pods',
      pod.metadata.uid ?? '',
      'volumes',
      'kubernetes.io~csi',
      volumeName,
      'mount',
    );
  }

  /** Creates the Node object with a Ready condition and keeps its lease fresh. */
  async registerNode(): Promise<void> {
    const { kube, nodeName } = this.o;
    try {
      await kube.create(resourcePath(Resources.nodes), {
        metadata: {
          name: nodeName,
          labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux' },
        },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const heartbeat = async () => {
      const now = new Date().toISOString();
      await kube.patch(
        `${resourcePath(Resources.nodes, undefined, nodeName)}/status`,
        {
          status: {
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'kubelet stand-in',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
          },
        },
        'strategic',
      );
      const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`;
      // Lease times are MicroTime: microseconds.
      const renewTime = now.replace(/\.(\d{3})Z$/, '.$1000Z');
      const lease = {
        metadata: { name: nodeName },
        spec: { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime },
      };
      try {
        await kube.patch(leasePath, { spec: lease.spec }, 'merge');
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await kube.create('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease);
      }
    };
    await heartbeat();
    const timer = setInterval(() => void heartbeat().catch(() => undefined), 10_000);
    timer.unref();
    this.timers.push(timer);
  }

  private async csiDriver(): Promise<CSIDriverSpec> {
    try {
      const obj = await this.o.kube.get<{ spec: CSIDriverSpec }>(
        resourcePath(Resources.csiDrivers, undefined, this.driverName),
      );
      return obj.spec;
    } catch (err) {
      if (isNotFound(err)) {
        throw new Error(`CSIDriver ${this.driverName} not found: the kubelet cannot publish without it`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  private async tokens(pod: Pod, spec: CSIDriverSpec): Promise<string | undefined> {
    if (!spec.tokenRequests?.length) return undefined;
    const sa = pod.spec?.serviceAccountName ?? 'default';
    const out: Record<string, { token: string; expirationTimestamp: string }> = {};
    for (const request of spec.tokenRequests) {
      const res = await this.o.kube.create<TokenRequest>(
        resourcePath(Resources.serviceAccounts, pod.metadata.namespace, sa, 'token'),
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: [request.audience],
            expirationSeconds: request.expirationSeconds ?? 3600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
          },
        },
      );
      out[request.audience] = {
        token: res.status?.token ?? '',
        expirationTimestamp: res.status?.expirationTimestamp ?? '',
      };
    }
    return JSON.stringify(out);
  }

  /** The secrets-store volumes of a pod. */
  volumes(
    pod: Pod,
  ): Array<{ name: string; readOnly: boolean; attributes: Record<string, string>; secretRef?: string }> {
    return (pod.spec?.volumes ?? [])
      .filter((v) => v.csi?.driver === this.driverName)
      .map((v) => ({
        name: v.name,
        readOnly: v.csi?.readOnly ?? false,
        attributes: v.csi?.volumeAttributes ?? {},
        secretRef: (v.csi as { nodePublishSecretRef?: { name: string } } | undefined)?.nodePublishSecretRef
          ?.name,
      }));
  }

  /**
   * Everything the kubelet does before NodePublishVolume: reads the CSIDriver, builds the volume
   * context, mints tokens, creates the volume's folder. Returns the request to send.
   */
  async preparePublish(pod: Pod, volumeName: string): Promise<PreparedPublish> {
    const volume = this.volumes(pod).find((v) => v.name === volumeName);
    if (!volume) throw new Error(`pod ${podKey(pod)} has no ${this.driverName} volume ${volumeName}`);
    const spec = await this.csiDriver();
    const context: Record<string, string> = { ...volume.attributes };
    if (spec.podInfoOnMount) {
      context['csi.storage.k8s.io/pod.name'] = pod.metadata.name ?? '';
      context['csi.storage.k8s.io/pod.namespace'] = pod.metadata.namespace ?? '';
      context['csi.storage.k8s.io/pod.uid'] = pod.metadata.uid ?? '';
      context['csi.storage.k8s.io/serviceAccount.name'] = pod.spec?.serviceAccountName ?? 'default';
      context['csi.storage.k8s.io/ephemeral'] = 'true';
    }
    const secrets: Record<string, string> = {};
    if (volume.secretRef) {
      const secret = await this.o.kube.get<{ data?: Record<string, string> }>(
        resourcePath(Resources.secrets, pod.metadata.namespace, volume.secretRef),
      );
      for (const [k, v] of Object.entries(secret.data ?? {}))
        secrets[k] = Buffer.from(v, 'base64').toString('utf8');
    }
    const tokens = await this.tokens(pod, spec);
    if (tokens) {
      if (spec.serviceAccountTokenInSecrets) secrets['csi.storage.k8s.io/serviceAccount.tokens'] = tokens;
      else context['csi.storage.k8s.io/serviceAccount.tokens'] = tokens;
    }
    // As the kubelet: the pod's fsGroup goes to a driver that advertises VOLUME_MOUNT_GROUP (it asks
    // on every mount), whatever the CSIDriver's fsGroupPolicy and the volume's readOnly say.
    const fsGroup = (pod.spec?.securityContext as { fsGroup?: number } | undefined)?.fsGroup;
    const volumeMountGroup =
      fsGroup !== undefined && (await this.supportsVolumeMountGroup()) ? String(fsGroup) : '';
    const targetPath = this.targetPath(pod, volumeName);
    // The kubelet creates the volume's folder (and writes vol_data.json there), not the mount point.
    fs.mkdirSync(path.dirname(targetPath), { recursive: true });
    return {
      call: { pod, volumeName, targetPath },
      request: {
        volumeId: volumeHandle(pod, volumeName),
        targetPath,
        volumeCapability: {
          mount: { fsType: '', mountFlags: [], volumeMountGroup },
          accessMode: { mode: 'SINGLE_NODE_WRITER' },
        },
        readonly: volume.readOnly,
        volumeContext: context,
        secrets,
      },
    };
  }

  private async supportsVolumeMountGroup(): Promise<boolean> {
    const res = await this.call<{ capabilities?: Array<{ rpc?: { type?: string } }> }>(
      'nodeGetCapabilities',
      {},
    );
    return (res.capabilities ?? []).some((c) => c.rpc?.type === 'VOLUME_MOUNT_GROUP');
  }

  /** Sends a prepared NodePublishVolume; rejects with the driver's gRPC error. */
  async sendPublish(prepared: PreparedPublish, opts: { timeoutMs?: number } = {}): Promise<VolumeCall> {
    await this.call('nodePublishVolume', prepared.request, opts.timeoutMs);
    this.volumesUp.set(prepared.call.targetPath, {
      pod: prepared.call.pod,
      volumeName: prepared.call.volumeName,
    });
    return prepared.call;
  }

  /** NodePublishVolume for one volume of a pod, as the kubelet does it. */
  async publishVolume(pod: Pod, volumeName: string, opts: { timeoutMs?: number } = {}): Promise<VolumeCall> {
    return this.sendPublish(await this.preparePublish(pod, volumeName), opts);
  }

  /** Publishes every secrets-store volume of the pod. */
  async publish(pod: Pod, opts: { timeoutMs?: number } = {}): Promise<VolumeCall[]> {
    const calls: VolumeCall[] = [];
    for (const volume of this.volumes(pod)) calls.push(await this.publishVolume(pod, volume.name, opts));
    return calls;
  }

  async unpublishVolume(pod: Pod, volumeName: string): Promise<void> {
    const targetPath = this.targetPath(pod, volumeName);
    await this.call('nodeUnpublishVolume', { volumeId: volumeHandle(pod, volumeName), targetPath });
    this.volumesUp.delete(targetPath);
    fs.rmSync(path.dirname(targetPath), { recursive: true, force: true });
  }

  /** Unpublishes every volume this stand-in published, as if all its pods were deleted. */
  async unpublishAll(): Promise<void> {
    // Run mode publishes none of them again, and the publishes under way end first (see forget).
    for (let round = 0; round < 3; round++) {
      for (const { pod } of this.volumesUp.values()) this.gone.add(pod.metadata.uid ?? '');
      const underWay = [...this.busy.values()];
      if (underWay.length === 0) break;
      await Promise.all(underWay.map((op) => op.catch(() => undefined)));
    }
    for (const { pod, volumeName } of [...this.volumesUp.values()])
      await this.unpublishVolume(pod, volumeName);
  }

  async unpublish(pod: Pod): Promise<void> {
    for (const volume of this.volumes(pod)) await this.unpublishVolume(pod, volume.name);
    const podDir = path.join(this.o.rootDir, 'pods', pod.metadata.uid ?? '');
    fs.rmSync(podDir, { recursive: true, force: true });
  }

  /** Any CSI Node call, with the kubelet's deadline. */
  call<T = unknown>(method: keyof NodeHandlers | string, request: unknown, timeoutMs?: number): Promise<T> {
    const fn = (this.client as unknown as Record<string, (...args: unknown[]) => void>)[method];
    if (!fn) throw new Error(`no CSI Node method ${method}`);
    const deadline = new Date(Date.now() + (timeoutMs ?? this.o.callTimeoutMs ?? 120_000));
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, { deadline }, (err: grpc.ServiceError | null, res: T) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  /**
   * Run mode, like a real kubelet: publish the pods bound to this node (retrying failures with
   * backoff and recording a FailedMount event), republish when the driver asks for it, unpublish
   * pods that are deleted.
   */
  async start(): Promise<void> {
    const informer = new Informer<Pod>(this.o.kube, Resources.pods, {
      fieldSelector: `spec.nodeName=${this.o.nodeName}`,
    });
    this.informer = informer;
    informer.addHandlers({
      added: (pod) => void (pod.metadata.deletionTimestamp ? this.terminate(pod) : this.reconcile(pod)),
      updated: (pod) => {
        if (pod.metadata.deletionTimestamp) void this.terminate(pod);
      },
      deleted: (pod) => void this.forget(pod),
    });
    informer.start();
    await informer.waitForSync();
    const timer = setInterval(() => {
      for (const pod of informer.list()) void this.reconcile(pod);
    }, this.o.republishIntervalMs ?? 2000);
    timer.unref();
    this.timers.push(timer);
  }

  /** The publish (or republish) under way for each pod, by key: one operation per pod at a time. */
  private readonly busy = new Map<string, Promise<void>>();
  /** Pods (by uid) whose volumes were unpublished for good: a list read earlier publishes them no more. */
  private readonly gone = new Set<string>();

  private reconcile(pod: Pod): Promise<void> {
    const key = podKey(pod);
    if (this.busy.has(key) || this.gone.has(pod.metadata.uid ?? '')) return Promise.resolve();
    const op = this.reconcileNow(pod, key).finally(() => this.busy.delete(key));
    this.busy.set(key, op);
    return op;
  }

  private async reconcileNow(pod: Pod, key: string): Promise<void> {
    if (pod.metadata.deletionTimestamp || this.volumes(pod).length === 0) return;
    const known = this.published.get(key);
    if (known && known.metadata.uid !== pod.metadata.uid) {
      this.gone.add(known.metadata.uid ?? '');
      await this.drop(known);
    }
    if (
      this.published.has(key) &&
      !(await this.csiDriver().catch(() => ({}) as CSIDriverSpec)).requiresRepublish
    )
      return;
    try {
      await this.publish(pod);
      this.published.set(key, pod);
      this.lastErrors.delete(key);
    } catch (err) {
      const message = (err as grpc.ServiceError).details ?? (err as Error).message;
      // A pod deleted meanwhile (or replaced by one of the same name) gets no event.
      const current = this.informer?.get(pod.metadata.namespace, pod.metadata.name ?? '');
      const stillThere = current?.metadata.uid === pod.metadata.uid && !current?.metadata.deletionTimestamp;
      if (!this.published.has(key) && stillThere) {
        this.lastErrors.set(key, message);
        await this.event(
          pod,
          `MountVolume.SetUp failed: rpc error: code = ${grpc.status[(err as grpc.ServiceError).code] ?? 'Unknown'} desc = ${message}`,
        );
      }
    }
  }

  /**
   * A pod being deleted: as the kubelet does once its containers stopped, unpublish its volumes
   * and finish the deletion (grace period 0), so `kubectl delete pod` returns.
   */
  private async terminate(pod: Pod): Promise<void> {
    await this.forget(pod);
    await this.o.kube
      .delete(resourcePath(Resources.pods, pod.metadata.namespace, pod.metadata.name), {
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
      })
      .catch(() => undefined);
  }

  private async forget(pod: Pod): Promise<void> {
    const key = podKey(pod);
    // As the kubelet, one operation per volume at a time: a republish under way ends before the
    // unpublish, which it would otherwise undo (a mount left behind), and none starts after.
    this.gone.add(pod.metadata.uid ?? '');
    await this.busy.get(key)?.catch(() => undefined);
    await this.drop(pod);
  }

  /** Unpublishes the pod's volumes and forgets what was published of it. */
  private async drop(pod: Pod): Promise<void> {
    const key = podKey(pod);
    this.published.delete(key);
    this.lastErrors.delete(key);
    await this.unpublish(pod).catch(() => undefined);
  }

  private async event(pod: Pod, message: string): Promise<void> {
    const event: CoreEvent = {
      metadata: { generateName: `${pod.metadata.name}.`, namespace: pod.metadata.namespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        name: pod.metadata.name ?? '',
        namespace: pod.metadata.namespace,
        uid: pod.metadata.uid,
      },
      reason: 'FailedMount',
      message,
      type: 'Warning',
      source: { component: 'kubelet', host: this.o.nodeName },
    };
    await this.o.kube
      .create(resourcePath(Resources.events, pod.metadata.namespace), event)
      .catch(() => undefined);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.informer?.stop();
    this.client.close();
  }
}
