// Kubernetes Events on pods: what a user sees in `kubectl describe pod` when a rotation succeeded or
// a republish failed. Recording never fails the caller; a failed write is logged.
import type { CoreEvent, KubeClient, Logger } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';

export interface PodRef {
  name: string;
  namespace: string;
  uid?: string;
}

export interface EventRecorder {
  record(pod: PodRef, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly host: string,
    private readonly logger: Logger,
  ) {}

  record(pod: PodRef, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const now = new Date().toISOString();
    const event: CoreEvent = {
      metadata: { generateName: `${pod.name}.`, namespace: pod.namespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        name: pod.name,
        namespace: pod.namespace,
        uid: pod.uid,
      },
      reason,
      message,
      type,
      source: { component: this.component, host: this.host },
      reportingComponent: this.component,
      reportingInstance: this.host,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.client.create(resourcePath(Resources.events, pod.namespace), event).catch((err: unknown) => {
      this.logger.warn(
        { err: (err as Error).message, pod: `${pod.namespace}/${pod.name}`, reason },
        'failed to record event',
      );
    });
  }
}
