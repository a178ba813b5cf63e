// Rotation: a republish of a filled volume (CSIDriver requiresRepublish) asks the provider again,
// at most once per poll interval, and swaps the files in when something changed. A failure keeps
// the pod's files and is reported as an Event and a metric, never to the kubelet. The reconciler
// remembers, per volume, the versions it holds and when the provider was last asked.
import type { EventRecorder, Logger, SecretProviderClassObject } from '@sscsi/common';
import { podReference } from '@sscsi/common';

import { errorTypeOf } from '../errors';
import type { PodStatusStore } from '../kube/pod-status';
import type { DriverMetrics } from '../metrics';
import { PhaseTimer } from './phase-timer';
import type { PublishRequest } from './publish-request';
import type { VolumeFiller } from './volume-filler';

/** What a republish did, for the node server's record of it. */
export type RepublishOutcome =
  /** Nothing to do (rotation off, or asked lately), or the provider was asked; `rotated` if anything changed. */
  | { result: 'republished'; provider: string; rotated: boolean }
  /** The rotation failed: the pod keeps its files, and the kubelet is told the republish succeeded. */
  | { result: 'kept'; provider: string; error: unknown };

interface KnownVolume {
  provider: string;
  objects: SecretProviderClassObject[];
  /** When the provider was last asked for this volume (ms on the reconciler's clock). */
  lastProviderCallAt: number;
}

export interface RotationReconcilerOptions {
  enabled: boolean;
  pollIntervalMs: number;
  filler: Pick<VolumeFiller, 'classOf' | 'fill'>;
  podStatus: Pick<PodStatusStore, 'objects'>;
  events: EventRecorder;
  metrics: Pick<DriverMetrics, 'rotationReconciled' | 'rotationFailed'>;
  logger: Logger;
  /**
   * The clock of poll decisions, in ms; tests move it instead of sleeping. By default the monotonic
   * clock: a wall clock stepped back must not put rotation off for as long as the step.
   */
  now?: () => number;
}

export class RotationReconciler {
  private readonly volumes = new Map<string, KnownVolume>();
  private readonly now: () => number;

  constructor(private readonly o: RotationReconcilerOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  /** A publish filled the volume with `objects`: the next poll interval starts now. */
  filled(targetPath: string, provider: string, objects: SecretProviderClassObject[]): void {
    this.volumes.set(targetPath, { provider, objects, lastProviderCallAt: this.now() });
  }

  /** The volume was unpublished. */
  forget(targetPath: string): void {
    this.volumes.delete(targetPath);
  }

  async republish(req: PublishRequest, deadline: Date, signal?: AbortSignal): Promise<RepublishOutcome> {
    const known = this.volumes.get(req.targetPath);
    let provider = known?.provider ?? '';
    const started = this.now();
    if (!this.o.enabled || (known && started - known.lastProviderCallAt < this.o.pollIntervalMs))
      return { result: 'republished', provider, rotated: false };
    const timer = new PhaseTimer();
    const { pod, spcName } = req;
    try {
      const volumeClass = await this.o.filler.classOf(req, signal);
      provider = volumeClass.provider;
      // After a driver restart the versions come from the recorded status, once.
      const current =
        known?.objects ??
        (await this.o.podStatus.objects(pod.namespace, pod.name, spcName, signal).catch(() => undefined));
      // Asked now, whatever the answer: a failing provider is asked once per interval, not each republish.
      this.volumes.set(req.targetPath, { provider, objects: current ?? [], lastProviderCallAt: started });
      const filled = await this.o.filler.fill(req, volumeClass, current, deadline, timer, signal);
      this.volumes.set(req.targetPath, { provider, objects: filled.objects, lastProviderCallAt: started });
      this.o.metrics.rotationReconciled(provider, filled.changed, timer.seconds());
      if (filled.changed) {
        this.o.events.record(
          podReference(pod),
          'Normal',
          'MountRotationComplete',
          `successfully rotated mounted contents of SecretProviderClass ${pod.namespace}/${spcName}`,
        );
        this.o.logger.info(
          { targetPath: req.targetPath, pod: `${pod.namespace}/${pod.name}`, provider },
          'rotated mounted contents',
        );
      }
      return { result: 'republished', provider, rotated: filled.changed };
    } catch (error) {
      this.o.metrics.rotationFailed(provider, errorTypeOf(error));
      this.o.events.record(
        podReference(pod),
        'Warning',
        'MountRotationFailed',
        `failed to refresh the mounted contents of SecretProviderClass ${pod.namespace}/${spcName}; the pod keeps its current files: ${(error as Error).message}`,
      );
      return { result: 'kept', provider, error };
    }
  }
}
