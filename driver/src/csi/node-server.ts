// NodePublishVolume and NodeUnpublishVolume: parse the call, hold the volume's lock, do what the
// target path calls for, and record the outcome in one place. A first publish mounts a tmpfs and
// fills it (volume-filler.ts); a mount without files is filled again; a republish of a filled
// volume is the rotation's (rotation-reconciler.ts); an unpublish cleans the target up
// (mount/target-paths.ts).
import type { EventRecorder, Logger, ProviderGateway } from '@sscsi/common';
import { Status } from '@sscsi/common';
import type { NodePublishVolumeRequest, NodeUnpublishVolumeRequest } from '@sscsi/proto';

import { DriverError, errorTypeOf, failureReasonOf } from '../errors';
import type { PodStatusStore } from '../kube/pod-status';
import type { SecretProviderClassSource } from '../kube/secret-provider-classes';
import type { DriverMetrics } from '../metrics';
import type { Mounter } from '../mount/mounter';
import { TargetPaths } from '../mount/target-paths';
import { LockWaitAborted, VolumeLocks } from '../volume-locks';
import { PhaseTimer } from './phase-timer';
import type { PublishRequest } from './publish-request';
import { Attr, parsePublishRequest, parseUnpublishRequest } from './publish-request';
import type { RepublishOutcome } from './rotation-reconciler';
import { RotationReconciler } from './rotation-reconciler';
import type { FilledVolume, VolumeClass } from './volume-filler';
import { VolumeFiller } from './volume-filler';

/** Provider deadline when the kubelet's call carries none. */
const DEFAULT_PROVIDER_TIMEOUT_MS = 120_000;
/** Time kept back from the kubelet's deadline to clean up after a provider that used it all. */
const CLEANUP_MARGIN_MS = 2_000;

/** A pod's volume whose contents changed: filled by a publish, or rotated. */
export interface UpdatedVolume {
  targetPath: string;
  pod: { namespace: string; name: string; uid: string };
  spcName: string;
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
  /** Called once a volume's contents changed (the Secret sync rewrites its Secrets at once). */
  volumeUpdated?: (volume: UpdatedVolume) => void;
  /** The clock of rotation decisions (ms, monotonic by default); tests move it instead of sleeping. */
  now?: () => number;
}

/** What a publish did, for the one place that records it. */
type PublishOutcome =
  | RepublishOutcome
  /** A first publish, or a mount without files filled again. */
  | { result: 'filled'; provider: string; objects: number }
  /** Returned to the kubelet, which retries. `provider` is empty until the class named it. */
  | { result: 'failed'; provider: string; error: unknown };

/** Deadlines are wall-clock times, as gRPC's: they use the real clock, not the rotation clock. */
function providerDeadline(callDeadline?: Date): Date {
  const started = Date.now();
  if (!callDeadline || !Number.isFinite(callDeadline.getTime()))
    return new Date(started + DEFAULT_PROVIDER_TIMEOUT_MS);
  const remaining = callDeadline.getTime() - started;
  const margin = Math.min(CLEANUP_MARGIN_MS, Math.max(0, remaining) / 10);
  return new Date(callDeadline.getTime() - margin);
}

function podLabel(raw: NodePublishVolumeRequest): string {
  const ctx = raw.volumeContext ?? {};
  return `${ctx[Attr.podNamespace] ?? '?'}/${ctx[Attr.podName] ?? '?'}`;
}

/** Prefixes a failure with the pod it happened for, keeping its reason, code and label. */
function forPod(req: PublishRequest, err: unknown): unknown {
  if (!(err instanceof DriverError) || err.reason === 'InvalidRequest') return err;
  return new DriverError(
    err.reason,
    `failed to mount secrets store objects for pod ${req.pod.namespace}/${req.pod.name}: ${err.message}`,
    { cause: err, code: err.code, errorType: err.errorType },
  );
}

export class NodeServer {
  private readonly locks = new VolumeLocks();
  private readonly targets: TargetPaths;
  private readonly filler: VolumeFiller;
  private readonly rotation: RotationReconciler;

  constructor(private readonly o: NodeServerOptions) {
    this.targets = new TargetPaths(o.mounter, o.logger);
    this.filler = new VolumeFiller(o);
    this.rotation = new RotationReconciler({
      enabled: o.rotationEnabled,
      pollIntervalMs: o.rotationPollIntervalMs,
      filler: this.filler,
      podStatus: o.podStatus,
      events: o.events,
      metrics: o.metrics,
      logger: o.logger,
      now: o.now,
    });
  }

  async publishVolume(
    raw: NodePublishVolumeRequest,
    callDeadline?: Date,
    signal?: AbortSignal,
  ): Promise<void> {
    const timer = new PhaseTimer();
    let outcome: PublishOutcome;
    try {
      const req = parsePublishRequest(raw);
      const deadline = providerDeadline(callDeadline);
      outcome = await this.withVolumeLock(req.targetPath, { deadline, signal }, () =>
        this.publish(req, deadline, timer, signal),
      );
    } catch (error) {
      outcome = { result: 'failed', provider: '', error };
    }
    this.recordPublish(raw, outcome, timer);
    if (outcome.result === 'failed') throw outcome.error;
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
        await this.targets.cleanUp(targetPath);
        this.rotation.forget(targetPath);
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

  /** What the target path calls for, under the volume's lock. */
  private async publish(
    req: PublishRequest,
    deadline: Date,
    timer: PhaseTimer,
    signal?: AbortSignal,
  ): Promise<PublishOutcome> {
    const state = await this.targets.state(req.targetPath);
    if (state === 'filled') {
      const outcome = await this.rotation.republish(req, deadline, signal);
      if (outcome.result === 'republished' && outcome.rotated) this.updated(req);
      return outcome;
    }
    const volumeClass = await this.filler.classOf(req, signal);
    timer.lap('lookupMs');
    const { provider } = volumeClass;
    const fill = () => this.filler.fill(req, volumeClass, undefined, deadline, timer, signal);
    try {
      const filled =
        state === 'unmounted'
          ? await this.fillNewMount(req, volumeClass, timer, fill)
          : await this.refill(req, fill);
      this.rotation.filled(req.targetPath, provider, filled.objects);
      this.updated(req);
      return { result: 'filled', provider, objects: filled.objects.length };
    } catch (error) {
      return { result: 'failed', provider, error: forPod(req, error) };
    }
  }

  /** Mounts a tmpfs and fills it. On any failure nothing stays behind. */
  private async fillNewMount(
    req: PublishRequest,
    volumeClass: VolumeClass,
    timer: PhaseTimer,
    fill: () => Promise<FilledVolume>,
  ): Promise<FilledVolume> {
    const unmount = await this.targets.mountTmpfs(req.targetPath, volumeClass.ownership.group);
    timer.lap('mountMs');
    try {
      return await fill();
    } catch (err) {
      await unmount();
      throw err;
    }
  }

  /**
   * A mounted volume that shows no files. Fills it where it is (a running pod's containers already
   * see this tmpfs, a new one would not reach them). A failure is returned, so that the kubelet
   * retries, and the mount stays for the next attempt.
   */
  private refill(req: PublishRequest, fill: () => Promise<FilledVolume>): Promise<FilledVolume> {
    this.o.logger.warn(
      { targetPath: req.targetPath, pod: `${req.pod.namespace}/${req.pod.name}` },
      'mounted volume shows no files; filling it again',
    );
    return fill();
  }

  private updated(req: PublishRequest): void {
    this.o.volumeUpdated?.({ targetPath: req.targetPath, pod: req.pod, spcName: req.spcName });
  }

  /** The publish metrics and log: the one record of every publish's outcome. */
  private recordPublish(raw: NodePublishVolumeRequest, outcome: PublishOutcome, timer: PhaseTimer): void {
    const { provider } = outcome;
    switch (outcome.result) {
      case 'filled':
        this.o.metrics.publish(provider);
        this.o.logger.info(
          {
            targetPath: raw.targetPath,
            pod: podLabel(raw),
            provider,
            objects: outcome.objects,
            ...timer.phases(),
          },
          'node publish volume complete',
        );
        return;
      case 'republished':
        this.o.metrics.publish(provider);
        return;
      case 'kept':
      case 'failed': {
        const { error } = outcome;
        // A kept rotation failure is counted as a publish error too, though the kubelet hears success.
        this.o.metrics.publishError(provider, errorTypeOf(error), failureReasonOf(error));
        this.o.logger.warn(
          {
            targetPath: raw.targetPath,
            pod: podLabel(raw),
            err: (error as Error).message,
            reason: failureReasonOf(error),
          },
          outcome.result === 'kept'
            ? 'republish failed; keeping the current files'
            : 'node publish volume failed',
        );
        return;
      }
    }
  }

  /**
   * Runs `fn` once no other operation on the volume runs. The wait ends with the call: at its
   * deadline or when the kubelet cancels it, so that calls do not pile up behind a hung one.
   */
  private async withVolumeLock<T>(
    targetPath: string,
    wait: { deadline?: Date; signal?: AbortSignal },
    fn: () => Promise<T>,
  ): Promise<T> {
    try {
      return await this.locks.run(targetPath, fn, wait);
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
}
