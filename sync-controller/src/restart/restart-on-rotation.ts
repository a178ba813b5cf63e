// The parts of --restart-on-rotation put together: the informers it reads and the controller.
// sync-controller.ts wires them into the program; the unit tests build them over the fake API.
import type { EventRecorder, KubeApi, Logger } from '@sscsi/common';
import { Informer, Resources, RESTART_ON_ROTATION_ANNOTATION } from '@sscsi/common';

import { RESTARTED_FOR_ANNOTATION } from './annotations';
import type { PodStatus, RestartControllerOptions } from './restart-controller';
import { RestartController } from './restart-controller';
import type { SyncedSecret } from './secret-marks';
import { DRIVER_SYNC_LABEL, SECRET_SYNC_SELECTOR, SecretMarks, withoutData } from './secret-marks';
import type { Workload, WorkloadKind } from './workloads';
import { DAEMONSET_GENERATION_ANNOTATION, workloadResource, workloadView } from './workloads';

export interface RestartOnRotationOptions {
  kube: Pick<KubeApi, 'get' | 'watch' | 'patch'>;
  logger: Logger;
  events: EventRecorder;
  delayMs: number;
  /** A watch that fails, by what it watches (the informers retry on their own). */
  onError?: (what: string) => (err: unknown) => void;
  retryBaseDelayMs?: number;
  /** PBKDF2 rounds of the Secrets' marks (tests use few). */
  markRounds?: number;
  now?: () => number;
  counted?: RestartControllerOptions['counted'];
}

/**
 * The parts of --restart-on-rotation: informers of the workloads, the pods' statuses and the synced
 * Secrets (started with the others, on every replica), and the controller that the leader starts.
 */
export function restartOnRotation(o: RestartOnRotationOptions) {
  const { kube, logger, events, delayMs } = o;
  const onError = o.onError ?? (() => () => undefined);
  const kept = [RESTART_ON_ROTATION_ANNOTATION, RESTARTED_FOR_ANNOTATION, DAEMONSET_GENERATION_ANNOTATION];
  const workload = (kind: WorkloadKind) =>
    new Informer<Workload>(kube, workloadResource(kind), {
      onError: onError(`${kind}s`),
      transform: (w) => workloadView(w, RESTART_ON_ROTATION_ANNOTATION, kept),
    });
  const workloads = {
    Deployment: workload('Deployment'),
    StatefulSet: workload('StatefulSet'),
    DaemonSet: workload('DaemonSet'),
  };
  const podStatuses = new Informer<PodStatus>(kube, Resources.secretProviderClassPodStatuses, {
    onError: onError('SecretProviderClassPodStatuses'),
    transform: (s) => ({
      metadata: {
        name: s.metadata.name,
        namespace: s.metadata.namespace,
        resourceVersion: s.metadata.resourceVersion,
        generation: s.metadata.generation,
        ownerReferences: s.metadata.ownerReferences,
      },
      status: s.status,
    }),
  });
  const secrets = [DRIVER_SYNC_LABEL, SECRET_SYNC_SELECTOR].map(
    (labelSelector) =>
      new Informer<SyncedSecret>(kube, Resources.secrets, {
        labelSelector,
        onError: onError(`Secrets (${labelSelector})`),
        transform: withoutData,
      }),
  );
  const controller = new RestartController({
    workloads,
    podStatuses,
    secrets,
    kube,
    marks: new SecretMarks(o.markRounds),
    events,
    logger,
    delayMs,
    retryBaseDelayMs: o.retryBaseDelayMs,
    now: o.now,
    counted: o.counted,
  });
  const informers = [...Object.values(workloads), podStatuses, ...secrets];
  return {
    controller,
    informers,
    /** Once every cache is filled: a workload is never judged against an empty one. */
    start: async () => {
      await Promise.all(informers.map((i) => i.waitForSync()));
      controller.start();
    },
  };
}
