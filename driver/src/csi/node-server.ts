// NodePublishVolume and NodeUnpublishVolume: where a pod's secrets volume is mounted, filled from its
// provider, refreshed on republish, and taken down.
import type {
  EventRecorder,
  Logger,
  MountedContent,
  PayloadFile,
  ProviderGateway,
  SecretProviderClass,
  SecretProviderClassObject,
} from '@sscsi/common';
import {
  describeKubeFailure,
  FileOwnershipAttr,
  PayloadError,
  podReference,
  Status,
  statusOfKubeFailure,
  writePayload,
} from '@sscsi/common';
import type { NodePublishVolumeRequest, NodeUnpublishVolumeRequest } from '@sscsi/proto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { DriverError, driverErrorOfProviderCall, errorTypeOf, failureReasonOf } from '../errors';
import type { VolumeOwnership } from '../files/file-ownership';
import { volumeOwnership } from '../files/file-ownership';
import { showsFiles } from '../files/volume-contents';
import { providerOfClass } from '../kube/class-spec';
import type { PodStatusStore } from '../kube/pod-status';
import type { SecretProviderClassSource } from '../kube/secret-provider-classes';
import type { DriverMetrics } from '../metrics';
import type { Mounter } from '../mount/mounter';
import { LockWaitAborted, VolumeLocks } from '../volume-locks';
import type { PublishRequest } from './publish-request';
import { Attr, parsePublishRequest, parseUnpublishRequest } from './publish-request';

/** Provider deadline when the kubelet's call carries none. */
const DEFAULT_PROVIDER_TIMEOUT_MS = 120_000;
/** Time kept back from the kubelet's deadline to clean up after a provider that used it all. */
const CLEANUP_MARGIN_MS = 2_000;

/** A mounted volume, as the driver remembers it between publishes. */
export interface MountedVolume {
  targetPath: string;
  pod: { namespace: string; name: string; uid: string };
  spcName: string;
  provider: string;
  objects: SecretProviderClassObject[];
  /** When the provider was last asked for this volume (ms since epoch). */
  lastProviderCallAt: number;
}

export interface VolumeObserver {
  /** A volume was published, or its content changed on a republish. */
  volumeUpdated?(volume: MountedVolume, rotated: boolean): void;
  volumeRemoved?(targetPath: string): void;
}

export interface NodeServerOptions {
  nodeId: string;
  rotationEnabled: boolean;
  rotationPollIntervalMs: number;
  mounter: Mounter;
  providers: ProviderGateway;
  classes: SecretProviderClassSource;
  podStatus: PodStatusStore;
  events: EventRecorder;
  metrics: DriverMetrics;
  logger: Logger;
  observer?: VolumeObserver;
  /** The clock of rotation decisions (ms since epoch); tests move it instead of sleeping. */
  now?: () => number;
}

/** The pod's SecretProviderClass, with what the driver decided from it for this volume. */
type ClassForVolume = SecretProviderClass & { provider: string; ownership: VolumeOwnership };

interface PublishOutcome {
  provider: string;
  masked: boolean;
}

function sameObjects(
  a: readonly SecretProviderClassObject[],
  b: readonly SecretProviderClassObject[],
): boolean {
  if (a.length !== b.length) return false;
  const versions = new Map(a.map((o) => [o.id, o.version]));
  return b.every((o) => versions.get(o.id) === o.version);
}

export class NodeServer {
  private readonly volumes = new Map<string, MountedVolume>();
  private readonly locks = new VolumeLocks();
  private readonly now: () => number;

  constructor(private readonly o: NodeServerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Volumes this driver mounted since it started (or republished since a restart). */
  mountedVolumes(): MountedVolume[] {
    return [...this.volumes.values()];
  }

  async publishVolume(
    raw: NodePublishVolumeRequest,
    callDeadline?: Date,
    signal?: AbortSignal,
  ): Promise<void> {
    // The provider is filled in as soon as the class names it (the metrics' label); masked is set
    // when a republish failed but the kubelet is told it succeeded (the error is counted already).
    const outcome: PublishOutcome = { provider: '', masked: false };
    try {
      const req = parsePublishRequest(raw);
      const deadline = this.providerDeadline(callDeadline);
      await this.withVolumeLock(req.targetPath, { deadline, signal }, async () => {
        if (!(await this.isMounted(req.targetPath))) await this.firstPublish(req, deadline, outcome, signal);
        else if (!(await this.showsFiles(req.targetPath))) await this.refill(req, deadline, outcome, signal);
        else await this.republish(req, deadline, outcome, signal);
      });
      if (!outcome.masked) this.o.metrics.publish(outcome.provider);
    } catch (err) {
      this.o.metrics.publishError(outcome.provider, errorTypeOf(err), failureReasonOf(err));
      this.o.logger.warn(
        {
          targetPath: raw.targetPath,
          pod: this.podLabel(raw),
          err: (err as Error).message,
          reason: failureReasonOf(err),
        },
        'node publish volume failed',
      );
      throw err;
    }
  }

  async unpublishVolume(
    raw: NodeUnpublishVolumeRequest,
    callDeadline?: Date,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      const { targetPath } = parseUnpublishRequest(raw);
      const deadline = callDeadline && Number.isFinite(callDeadline.getTime()) ? callDeadline : undefined;
      await this.withVolumeLock(targetPath, { deadline, signal }, async () => {
        await this.cleanUpTarget(targetPath);
        this.volumes.delete(targetPath);
        this.o.observer?.volumeRemoved?.(targetPath);
      });
      this.o.metrics.unpublish();
      this.o.logger.info({ targetPath }, 'node unpublish volume complete');
    } catch (err) {
      this.o.metrics.unpublishError();
      this.o.logger.warn(
        { targetPath: raw.targetPath, err: (err as Error).message },
        'node unpublish volume failed',
      );
      throw err;
    }
  }

  /**
   * Runs `fn` once no other operation on the volume runs. The wait ends with the call: at its
   * deadline or when the kubelet cancels it, so that calls do not pile up behind a hung one.
   */
  private async withVolumeLock(
    targetPath: string,
    wait: { deadline?: Date; signal?: AbortSignal },
    fn: () => Promise<void>,
  ): Promise<void> {
    try {
      await this.locks.run(targetPath, fn, wait);
    } catch (err) {
      if (!(err instanceof LockWaitAborted)) throw err;
      const timedOut = err.reason === 'deadline';
      throw new DriverError(
        'VolumeBusy',
        `another operation on ${targetPath} is still running; ${timedOut ? 'the deadline passed' : 'the call was cancelled'} while waiting for it`,
        { cause: err, code: timedOut ? Status.DEADLINE_EXCEEDED : Status.CANCELLED },
      );
    }
  }

  /** Returns a function giving the milliseconds since its last call (phase timings for the log). */
  private stopwatch(): () => number {
    let last = performance.now();
    return () => {
      const now = performance.now();
      const ms = Math.round((now - last) * 10) / 10;
      last = now;
      return ms;
    };
  }

  private podLabel(raw: NodePublishVolumeRequest): string {
    const ctx = raw.volumeContext ?? {};
    return `${ctx[Attr.podNamespace] ?? '?'}/${ctx[Attr.podName] ?? '?'}`;
  }

  /** Deadlines are wall-clock times, as gRPC's: they use the real clock, not the rotation clock. */
  private providerDeadline(callDeadline?: Date): Date {
    const started = Date.now();
    if (!callDeadline || !Number.isFinite(callDeadline.getTime()))
      return new Date(started + DEFAULT_PROVIDER_TIMEOUT_MS);
    const remaining = callDeadline.getTime() - started;
    const margin = Math.min(CLEANUP_MARGIN_MS, Math.max(0, remaining) / 10);
    return new Date(callDeadline.getTime() - margin);
  }

  private async showsFiles(targetPath: string): Promise<boolean> {
    try {
      return await showsFiles(targetPath);
    } catch (err) {
      throw new DriverError(
        'FailedToEnsureMountPoint',
        `cannot read the mounted volume ${targetPath}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  private async isMounted(targetPath: string): Promise<boolean> {
    try {
      return await this.o.mounter.isMountPoint(targetPath);
    } catch (err) {
      throw new DriverError(
        'FailedToEnsureMountPoint',
        `cannot tell whether ${targetPath} is mounted: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  private async secretProviderClass(req: PublishRequest, signal?: AbortSignal): Promise<ClassForVolume> {
    const { namespace } = req.pod;
    let spc: SecretProviderClass | undefined;
    try {
      spc = await this.o.classes.get(namespace, req.spcName, signal);
    } catch (err) {
      throw new DriverError(
        'FailedToReadSecretProviderClass',
        `failed to get secretproviderclass ${namespace}/${req.spcName}, error: cannot read SecretProviderClass "${req.spcName}" in namespace "${namespace}": ${describeKubeFailure(err)}`,
        { cause: err, code: statusOfKubeFailure(err) },
      );
    }
    if (!spc) {
      throw new DriverError(
        'SecretProviderClassNotFound',
        // Upstream's words first: alerts and upstream's own tests grep the pod's FailedMount event for them.
        `failed to get secretproviderclass ${namespace}/${req.spcName}, error: SecretProviderClass "${req.spcName}" not found in namespace "${namespace}" (a pod can only use a class of its own namespace)`,
      );
    }
    // The same check secrets-store-csi-lint makes before deploy.
    const provider = providerOfClass(spc.spec, namespace, req.spcName);
    const ownership = volumeOwnership(
      spc.spec.parameters,
      req.volumeContext,
      req.volumeMountGroup,
      `${namespace}/${req.spcName}`,
    );
    return { ...spc, provider, ownership };
  }

  /**
   * The attributes sent to the provider: the class's parameters overlaid with the pod's volume
   * context, and the group that owns the files (from fsGroup too), for a provider that writes them.
   */
  private attributes(spc: ClassForVolume, req: PublishRequest): string {
    const attributes: Record<string, string> = { ...spc.spec.parameters, ...req.volumeContext };
    if (req.serviceAccountTokens) attributes[Attr.serviceAccountTokens] = req.serviceAccountTokens;
    if (spc.ownership.group !== undefined)
      attributes[FileOwnershipAttr.fileGroup] = String(spc.ownership.group);
    return JSON.stringify(attributes);
  }

  /** Asks the provider for the volume's objects; its failures get the driver's reasons here. */
  private async callProvider(
    provider: string,
    spc: ClassForVolume,
    req: PublishRequest,
    current: readonly SecretProviderClassObject[],
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<MountedContent> {
    try {
      return await this.o.providers.mount(
        provider,
        {
          attributes: this.attributes(spc, req),
          secrets: Object.keys(req.secrets).length > 0 ? JSON.stringify(req.secrets) : 'null',
          targetPath: req.targetPath,
          permission: String(spc.ownership.defaultMode),
          currentObjectVersion: current.map((o) => ({ id: o.id, version: o.version })),
        },
        deadline,
        signal,
      );
    } catch (err) {
      throw driverErrorOfProviderCall(err);
    }
  }

  /** Writes the provider's files; an empty list means the provider wrote them itself. */
  private async writeFiles(
    targetPath: string,
    files: PayloadFile[],
    ownership: VolumeOwnership,
  ): Promise<boolean | undefined> {
    if (files.length === 0) return undefined;
    try {
      return writePayload(targetPath, files, { group: ownership.group }).changed;
    } catch (err) {
      const what =
        err instanceof PayloadError ? 'the provider sent an invalid file' : 'failed to write the files';
      throw new DriverError('FileWriteError', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async recordStatus(
    req: PublishRequest,
    objects: SecretProviderClassObject[],
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.o.podStatus.record(
        {
          podName: req.pod.name,
          podUid: req.pod.uid,
          namespace: req.pod.namespace,
          secretProviderClassName: req.spcName,
          targetPath: req.targetPath,
          nodeId: this.o.nodeId,
          objects,
        },
        signal,
      );
    } catch (err) {
      throw new DriverError(
        'FailedToUpdateStatus',
        `failed to record SecretProviderClassPodStatus: ${describeKubeFailure(err)}`,
        { cause: err, code: statusOfKubeFailure(err) },
      );
    }
  }

  /** Mounts a tmpfs, fills it, records the status. On any failure nothing stays behind. */
  private async firstPublish(
    req: PublishRequest,
    deadline: Date,
    outcome: PublishOutcome,
    signal?: AbortSignal,
  ): Promise<void> {
    const lap = this.stopwatch();
    const spc = await this.secretProviderClass(req, signal);
    outcome.provider = spc.provider;
    const phases: Record<string, number> = { lookupMs: lap() };
    let createdDir = false;
    let mounted = false;
    try {
      try {
        createdDir = (await fs.mkdir(req.targetPath, { recursive: true, mode: 0o750 })) !== undefined;
        const group = spc.ownership.group;
        await this.o.mounter.mountTmpfs(req.targetPath, group === undefined ? undefined : { gid: group });
        mounted = true;
        phases.mountMs = lap();
      } catch (err) {
        throw new DriverError(
          'FailedToMount',
          `failed to mount tmpfs at ${req.targetPath}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      await this.fill(req, spc, deadline, lap, phases, signal);
    } catch (err) {
      if (mounted) {
        await this.o.mounter
          .unmount(req.targetPath)
          .catch((unmountErr: unknown) =>
            this.o.logger.error(
              { targetPath: req.targetPath, err: (unmountErr as Error).message },
              'failed to unmount after a failed publish',
            ),
          );
      }
      if (createdDir) await fs.rmdir(req.targetPath).catch(() => undefined);
      throw this.forPod(req, err);
    }
  }

  /**
   * A mounted volume that shows no files: the driver stopped between mount and write, or a failed
   * publish could not unmount. Fills it where it is (a running pod's containers already see this
   * tmpfs, a new one would not reach them). A failure is returned, so that the kubelet retries,
   * and the mount stays for the next attempt.
   */
  private async refill(
    req: PublishRequest,
    deadline: Date,
    outcome: PublishOutcome,
    signal?: AbortSignal,
  ): Promise<void> {
    const lap = this.stopwatch();
    this.o.logger.warn(
      { targetPath: req.targetPath, pod: `${req.pod.namespace}/${req.pod.name}` },
      'mounted volume shows no files; filling it again',
    );
    try {
      const spc = await this.secretProviderClass(req, signal);
      outcome.provider = spc.provider;
      const phases: Record<string, number> = { lookupMs: lap() };
      await this.fill(req, spc, deadline, lap, phases, signal);
    } catch (err) {
      throw this.forPod(req, err);
    }
  }

  /** Asks the provider for a mounted, empty volume's files, writes them, records the status. */
  private async fill(
    req: PublishRequest,
    spc: ClassForVolume,
    deadline: Date,
    lap: () => number,
    phases: Record<string, number>,
    signal?: AbortSignal,
  ): Promise<void> {
    const result = await this.callProvider(spc.provider, spc, req, [], deadline, signal);
    phases.providerMs = lap();
    await this.writeFiles(req.targetPath, result.files, spc.ownership);
    phases.writeMs = lap();
    await this.recordStatus(req, result.objects, signal);
    phases.statusMs = lap();
    const volume: MountedVolume = {
      targetPath: req.targetPath,
      pod: req.pod,
      spcName: req.spcName,
      provider: spc.provider,
      objects: result.objects,
      lastProviderCallAt: this.now(),
    };
    this.volumes.set(req.targetPath, volume);
    this.o.logger.info(
      {
        targetPath: req.targetPath,
        pod: `${req.pod.namespace}/${req.pod.name}`,
        provider: spc.provider,
        objects: result.objects.length,
        ...phases,
      },
      'node publish volume complete',
    );
    this.o.observer?.volumeUpdated?.(volume, false);
  }

  /** Prefixes a failure with the pod it happened for, keeping its reason, code and label. */
  private forPod(req: PublishRequest, err: unknown): unknown {
    if (!(err instanceof DriverError) || err.reason === 'InvalidRequest') return err;
    return new DriverError(
      err.reason,
      `failed to mount secrets store objects for pod ${req.pod.namespace}/${req.pod.name}: ${err.message}`,
      { cause: err, code: err.code, errorType: err.errorType },
    );
  }

  /**
   * A republish of a mounted volume (CSIDriver requiresRepublish). With rotation on, asks the provider
   * at most once per poll interval and swaps the files in when something changed. A failure keeps the
   * old files, is reported as an event and a metric, and is not returned to the kubelet.
   */
  private async republish(
    req: PublishRequest,
    deadline: Date,
    outcome: PublishOutcome,
    signal?: AbortSignal,
  ): Promise<void> {
    const known = this.volumes.get(req.targetPath);
    outcome.provider = known?.provider ?? '';
    if (!this.o.rotationEnabled) return;
    const started = this.now();
    if (known && started - known.lastProviderCallAt < this.o.rotationPollIntervalMs) return;
    const timer = performance.now();
    let provider = outcome.provider;
    const pod = req.pod;
    try {
      const spc = await this.secretProviderClass(req, signal);
      provider = spc.provider;
      outcome.provider = provider;
      let current = known?.objects;
      // After a driver restart the versions come from the recorded status, once.
      current ??= await this.o.podStatus
        .objects(pod.namespace, pod.name, req.spcName, signal)
        .catch(() => undefined);
      const volume: MountedVolume = {
        targetPath: req.targetPath,
        pod,
        spcName: req.spcName,
        provider,
        objects: current ?? [],
        lastProviderCallAt: started,
      };
      this.volumes.set(req.targetPath, volume);
      const result = await this.callProvider(provider, spc, req, volume.objects, deadline, signal);
      const filesChanged = await this.writeFiles(req.targetPath, result.files, spc.ownership);
      const versionsChanged = current === undefined || !sameObjects(current, result.objects);
      const rotated = filesChanged ?? versionsChanged;
      if (versionsChanged) await this.recordStatus(req, result.objects, signal);
      volume.objects = result.objects;
      this.o.metrics.rotationReconciled(provider, rotated, (performance.now() - timer) / 1000);
      if (rotated) {
        this.o.events.record(
          podReference(pod),
          'Normal',
          'MountRotationComplete',
          `successfully rotated mounted contents of SecretProviderClass ${pod.namespace}/${req.spcName}`,
        );
        this.o.logger.info(
          { targetPath: req.targetPath, pod: `${pod.namespace}/${pod.name}`, provider },
          'rotated mounted contents',
        );
        this.o.observer?.volumeUpdated?.(volume, true);
      }
    } catch (err) {
      const errorType = errorTypeOf(err);
      outcome.masked = true;
      this.o.metrics.rotationFailed(provider, errorType);
      this.o.metrics.publishError(provider, errorType, failureReasonOf(err));
      this.o.events.record(
        podReference(pod),
        'Warning',
        'MountRotationFailed',
        `failed to refresh the mounted contents of SecretProviderClass ${pod.namespace}/${req.spcName}; the pod keeps its current files: ${(err as Error).message}`,
      );
      this.o.logger.warn(
        {
          targetPath: req.targetPath,
          pod: `${pod.namespace}/${pod.name}`,
          err: (err as Error).message,
          reason: failureReasonOf(err),
        },
        'republish failed; keeping the current files',
      );
    }
  }

  /** Unmounts (every stacked mount), removes what is left without following symlinks, removes the folder. */
  private async cleanUpTarget(targetPath: string): Promise<void> {
    let stat;
    try {
      stat = await fs.lstat(targetPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new DriverError('FailedToUnmount', `cannot inspect ${targetPath}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (stat.isSymbolicLink()) {
      await fs.unlink(targetPath);
      return;
    }
    try {
      for (let i = 0; i < 8 && (await this.o.mounter.isMountPoint(targetPath)); i++)
        await this.o.mounter.unmount(targetPath);
      for (const entry of await fs.readdir(targetPath)) {
        await fs.rm(path.join(targetPath, entry), { recursive: true, force: true });
      }
      await fs.rmdir(targetPath);
    } catch (err) {
      throw new DriverError(
        'FailedToUnmount',
        `failed to clean up ${targetPath}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
