// Warnings about a mount, as Events on the pod (`kubectl describe pod`). The provider API has no
// field for a warning (a Mount answers files or an error), so the provider writes the Events
// itself, which needs RBAC `create` on core `events`. Recording never fails or delays a mount: the
// caller does not wait for it, and a failed write is logged.
import type { CoreEvent, Logger, Pod, RequestOptions } from '@sscsi/common';
import { isForbidden, Resources, resourcePath } from '@sscsi/common';

export interface PodRef {
  namespace: string;
  name: string;
  /** `kubectl describe pod` shows only Events that carry the pod's uid; looked up when missing. */
  uid: string | undefined;
}

export interface PodEvents {
  /** Records one Warning Event per message; resolves once written or given up, never rejects. */
  warn(pod: PodRef, reason: string, messages: readonly string[]): Promise<void>;
}

/** What the recorder needs of the Kubernetes client. */
export interface EventsApi {
  get<T>(path: string, opts?: RequestOptions): Promise<T>;
  create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T>;
}

/** One class cannot flood the pod's events; the log has every message. */
export const MAX_EVENTS_PER_MOUNT = 10;
const MAX_MESSAGE_LENGTH = 1024;
const REQUEST_TIMEOUT_MS = 5000;

export class PodEventRecorder implements PodEvents {
  constructor(
    private readonly api: EventsApi,
    private readonly component: string,
    private readonly logger: Logger,
  ) {}

  async warn(pod: PodRef, reason: string, messages: readonly string[]): Promise<void> {
    if (messages.length === 0) return;
    const opts = { timeoutMs: REQUEST_TIMEOUT_MS };
    try {
      const uid = pod.uid ?? (await this.lookUpUid(pod, opts));
      for (const message of messages.slice(0, MAX_EVENTS_PER_MOUNT)) {
        const now = new Date().toISOString();
        const event: CoreEvent = {
          metadata: { generateName: `${pod.name}.`, namespace: pod.namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid },
          reason,
          message:
            message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...` : message,
          type: 'Warning',
          source: { component: this.component },
          reportingComponent: this.component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        };
        await this.api.create(resourcePath(Resources.events, pod.namespace), event, opts);
      }
    } catch (err) {
      this.logger.warn(
        {
          pod: `${pod.namespace}/${pod.name}`,
          reason,
          err: isForbidden(err)
            ? `${(err as Error).message} (the provider's ClusterRole needs "create" on "events")`
            : (err as Error).message,
        },
        'failed to record a warning event on the pod',
      );
    }
  }

  /**
   * Without a uid the Event is still listed by `kubectl get events`, only not by `kubectl describe
   * pod`; so a failed lookup (no `pods get` when the chart's awsRegion is set) does not drop it.
   */
  private async lookUpUid(pod: PodRef, opts: RequestOptions): Promise<string | undefined> {
    try {
      return (await this.api.get<Pod>(resourcePath(Resources.pods, pod.namespace, pod.name), opts)).metadata
        ?.uid;
    } catch (err) {
      this.logger.debug(
        { pod: `${pod.namespace}/${pod.name}`, err: (err as Error).message },
        'pod uid unknown; recording the event without it',
      );
      return undefined;
    }
  }
}
