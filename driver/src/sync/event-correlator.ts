// Events on pods, recorded the way the API's own event recorder (client-go) does it, so that a
// condition repeated every few seconds shows as one Event with a growing count instead of a new
// Event each time:
//   - the same reason and message on the same object updates the earlier Event (count, last seen);
//   - more than 10 different messages of one reason on one object within 10 minutes are combined
//     into one Event;
//   - each object may have 25 Events at once, then one more every 5 minutes; the rest are dropped.
// Recording never fails or blocks the caller; a failed write is logged and forgotten.
import type { CoreEvent, KubeClient, Logger } from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';

import type { EventRecorder, PodRef } from '../kube/events';

/** Where Events go: the API server, or a fake in tests. */
export interface EventSink {
  create(namespace: string, event: CoreEvent): Promise<CoreEvent>;
  /** Updates count, message and last-seen time of an existing Event. */
  patch(namespace: string, name: string, change: Partial<CoreEvent>): Promise<CoreEvent>;
}

export function kubeEventSink(kube: KubeClient): EventSink {
  return {
    create: (namespace, event) => kube.create<CoreEvent>(resourcePath(Resources.events, namespace), event),
    patch: (namespace, name, change) =>
      kube.patch<CoreEvent>(resourcePath(Resources.events, namespace, name), change, 'merge'),
  };
}

export interface CorrelationLimits {
  /** Distinct keys remembered (least recently used forgotten first). */
  cacheEntries: number;
  /** Different messages of one reason on one object, within `similarWindowMs`, before combining. */
  similarMessages: number;
  similarWindowMs: number;
  /** Events per object at once, and the time to earn one more. */
  burst: number;
  refillMs: number;
}

/** client-go's defaults. */
export const CLIENT_GO_LIMITS: CorrelationLimits = {
  cacheEntries: 4096,
  similarMessages: 10,
  similarWindowMs: 10 * 60_000,
  burst: 25,
  refillMs: 5 * 60_000,
};

const COMBINED_PREFIX = '(combined from similar events): ';

/** A Map that forgets its least recently used entries beyond `limit`. */
class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly limit: number) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.limit) this.map.delete(this.map.keys().next().value as K);
  }
}

/** What is known of one Event: its name once created, how often and when it was seen. */
interface Recorded {
  name?: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  /** The latest message (combined Events show the latest of their messages). */
  message: string;
  /** A write is queued and not started yet: it will carry the latest count. */
  queued: boolean;
  /** The last write of this key: writes of one key go one after the other. */
  tail: Promise<void>;
}

export class CorrelatingEventRecorder implements EventRecorder {
  private readonly recorded: LruMap<string, Recorded>;
  private readonly similar: LruMap<string, { since: number; messages: Set<string> }>;
  private readonly buckets: LruMap<string, { tokens: number; at: number }>;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly sink: EventSink,
    private readonly component: string,
    private readonly host: string,
    private readonly logger: Logger,
    private readonly limits: CorrelationLimits = CLIENT_GO_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.recorded = new LruMap(limits.cacheEntries);
    this.similar = new LruMap(limits.cacheEntries);
    this.buckets = new LruMap(limits.cacheEntries);
  }

  record(pod: PodRef, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const object = JSON.stringify([pod.namespace, pod.name, pod.uid ?? '']);
    const reasonKey = JSON.stringify([object, type, reason]);
    const combine = this.tooManyMessages(reasonKey, message);
    // Combined, the messages of a reason share one Event that shows the latest of them.
    const finalMessage = combine ? `${COMBINED_PREFIX}${message}` : message;
    const key = combine ? reasonKey : JSON.stringify([reasonKey, message]);
    const at = new Date(this.now()).toISOString();
    let entry = this.recorded.get(key);
    if (!entry) {
      entry = {
        count: 0,
        firstTimestamp: at,
        lastTimestamp: at,
        message: finalMessage,
        queued: false,
        tail: Promise.resolve(),
      };
      this.recorded.set(key, entry);
    }
    entry.count += 1;
    entry.lastTimestamp = at;
    entry.message = finalMessage;
    // Counted even when dropped, as client-go does: the next write carries every sighting.
    if (!this.allowed(object)) {
      this.logger.debug(
        { pod: `${pod.namespace}/${pod.name}`, reason },
        'event dropped: too many for this pod',
      );
      return;
    }
    if (entry.queued) return;
    entry.queued = true;
    const current = entry;
    const write = current.tail.then(() => {
      current.queued = false;
      return this.write(current, pod, type, reason);
    });
    current.tail = write;
    this.inFlight.add(write);
    void write.finally(() => this.inFlight.delete(write));
  }

  /** Resolves once every Event recorded so far has been written (or failed). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** The per-object token bucket. */
  private allowed(object: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(object) ?? { tokens: this.limits.burst, at: now };
    const earned = Math.floor((now - bucket.at) / this.limits.refillMs);
    if (earned > 0) {
      bucket.tokens = Math.min(this.limits.burst, bucket.tokens + earned);
      bucket.at += earned * this.limits.refillMs;
    }
    if (bucket.tokens >= this.limits.burst) bucket.at = now;
    const ok = bucket.tokens > 0;
    if (ok) bucket.tokens -= 1;
    this.buckets.set(object, bucket);
    return ok;
  }

  /** True once a reason on an object has had too many different messages lately. */
  private tooManyMessages(reasonKey: string, message: string): boolean {
    const now = this.now();
    let seen = this.similar.get(reasonKey);
    if (!seen || now - seen.since > this.limits.similarWindowMs) seen = { since: now, messages: new Set() };
    seen.messages.add(message);
    this.similar.set(reasonKey, seen);
    return seen.messages.size > this.limits.similarMessages;
  }

  private async write(
    entry: Recorded,
    pod: PodRef,
    type: 'Normal' | 'Warning',
    reason: string,
  ): Promise<void> {
    const { count, lastTimestamp, message } = entry;
    try {
      if (entry.name) {
        try {
          await this.sink.patch(pod.namespace, entry.name, { count, message, lastTimestamp });
          return;
        } catch (err) {
          // Events expire (an hour by default): start a new one.
          if (!isNotFound(err)) throw err;
          entry.name = undefined;
        }
      }
      const created = await this.sink.create(pod.namespace, {
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
        firstTimestamp: entry.firstTimestamp,
        lastTimestamp,
        count,
      });
      entry.name = created.metadata.name;
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message, pod: `${pod.namespace}/${pod.name}`, reason },
        'failed to record event',
      );
    }
  }
}
