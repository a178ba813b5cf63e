// Kubernetes Events on objects (a pod, later a SecretSync): what a user sees in `kubectl describe`.
// Recorded the way client-go's recorder does it, so that a condition repeated every poll shows as
// one Event with a growing count instead of a new Event each time:
//   - the same reason and message on the same object updates the earlier Event (count, last seen);
//   - more than 10 different messages of one reason on one object within 10 minutes are combined
//     into one Event;
//   - each object may have 25 Events at once, then one more every 5 minutes; the rest are dropped.
// Recording never fails or delays the caller: the writes happen afterwards, and a failed one is
// logged and forgotten.
import type { KubeApi, RequestOptions } from '../kube/api';
import { isForbidden, isNotFound } from '../kube/errors';
import { Resources, resourcePath } from '../kube/resources';
import type { CoreEvent, Pod } from '../kube/types';
import type { Logger } from '../logger';

/** The object an Event is about (the Event's involvedObject). */
export interface ObjectReference {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** `kubectl describe` lists only the Events that carry the object's uid. */
  uid?: string;
}

export function podReference(pod: { namespace: string; name: string; uid?: string }): ObjectReference {
  return { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid };
}

export type EventType = 'Normal' | 'Warning';

/** What a program needs to report to users through Events; small so unit tests can fake it. */
export interface EventRecorder {
  /** Records an Event on `object`; returns at once and never throws. */
  record(object: ObjectReference, type: EventType, reason: string, message: string): void;
}

/** What the recorder asks of the API server: Events created and patched, a pod's uid read. */
export type EventsApi = Pick<KubeApi, 'get' | 'create' | 'patch'>;

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

/** Longer messages are shortened: the events.k8s.io limit, and more than `kubectl describe` shows well. */
export const MAX_EVENT_MESSAGE_LENGTH = 1024;
/** An Event is not worth holding a write for longer. */
const REQUEST_TIMEOUT_MS = 5000;
const COMBINED_PREFIX = '(combined from similar events): ';

export interface CorrelatingEventRecorderOptions {
  /** The program, as `kubectl describe` shows it (source.component, reportingComponent). */
  component: string;
  /** The node, for a program that runs on each (source.host, reportingInstance). */
  host?: string;
  logger: Logger;
  limits?: CorrelationLimits;
  /** The clock of timestamps and limits (ms since epoch); tests move it. */
  now?: () => number;
}

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
  private readonly limits: CorrelationLimits;
  private readonly now: () => number;

  constructor(
    private readonly api: EventsApi,
    private readonly o: CorrelatingEventRecorderOptions,
  ) {
    this.limits = o.limits ?? CLIENT_GO_LIMITS;
    this.now = o.now ?? Date.now;
    this.recorded = new LruMap(this.limits.cacheEntries);
    this.similar = new LruMap(this.limits.cacheEntries);
    this.buckets = new LruMap(this.limits.cacheEntries);
  }

  record(object: ObjectReference, type: EventType, reason: string, message: string): void {
    const shown =
      message.length > MAX_EVENT_MESSAGE_LENGTH
        ? `${message.slice(0, MAX_EVENT_MESSAGE_LENGTH - 3)}...`
        : message;
    const objectKey = JSON.stringify([
      object.apiVersion,
      object.kind,
      object.namespace,
      object.name,
      object.uid ?? '',
    ]);
    const reasonKey = JSON.stringify([objectKey, type, reason]);
    const combine = this.tooManyMessages(reasonKey, shown);
    // Combined, the messages of a reason share one Event that shows the latest of them.
    const finalMessage = combine ? `${COMBINED_PREFIX}${shown}` : shown;
    const key = combine ? reasonKey : JSON.stringify([reasonKey, shown]);
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
    if (!this.allowed(objectKey)) {
      this.o.logger.debug({ object: describe(object), reason }, 'event dropped: too many for this object');
      return;
    }
    if (entry.queued) return;
    entry.queued = true;
    const current = entry;
    const write = current.tail.then(() => {
      current.queued = false;
      return this.write(current, object, type, reason);
    });
    current.tail = write;
    this.inFlight.add(write);
    void write.finally(() => this.inFlight.delete(write));
  }

  /** Resolves once every Event recorded so far has been written (or given up). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** The per-object token bucket. */
  private allowed(objectKey: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(objectKey) ?? { tokens: this.limits.burst, at: now };
    const earned = Math.floor((now - bucket.at) / this.limits.refillMs);
    if (earned > 0) {
      bucket.tokens = Math.min(this.limits.burst, bucket.tokens + earned);
      bucket.at += earned * this.limits.refillMs;
    }
    if (bucket.tokens >= this.limits.burst) bucket.at = now;
    const ok = bucket.tokens > 0;
    if (ok) bucket.tokens -= 1;
    this.buckets.set(objectKey, bucket);
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
    object: ObjectReference,
    type: EventType,
    reason: string,
  ): Promise<void> {
    const { count, lastTimestamp, message } = entry;
    const opts = { timeoutMs: REQUEST_TIMEOUT_MS };
    try {
      if (entry.name) {
        try {
          await this.api.patch(
            resourcePath(Resources.events, object.namespace, entry.name),
            { count, message, lastTimestamp },
            'merge',
            opts,
          );
          return;
        } catch (err) {
          // Events expire (an hour by default): start a new one.
          if (!isNotFound(err)) throw err;
          entry.name = undefined;
        }
      }
      const event: CoreEvent = {
        metadata: { generateName: `${object.name}.`, namespace: object.namespace },
        involvedObject: { ...object, uid: object.uid ?? (await this.podUid(object, opts)) },
        reason,
        message,
        type,
        source: { component: this.o.component, host: this.o.host },
        reportingComponent: this.o.component,
        reportingInstance: this.o.host,
        firstTimestamp: entry.firstTimestamp,
        lastTimestamp,
        count,
      };
      const created = await this.api.create<CoreEvent>(
        resourcePath(Resources.events, object.namespace),
        event,
        opts,
      );
      entry.name = created.metadata.name;
    } catch (err) {
      this.o.logger.warn(
        {
          object: describe(object),
          reason,
          err: isForbidden(err)
            ? `${(err as Error).message} (this program's ClusterRole needs "create" and "patch" on "events")`
            : (err as Error).message,
        },
        'failed to record event',
      );
    }
  }

  /**
   * The uid of a pod referred to without one (the provider's Mount may not carry it). Without it
   * the Event is still listed by `kubectl get events`, only not by `kubectl describe pod`: so a
   * failed lookup (no `pods get`, as the AWS provider's chart with awsRegion) does not drop it.
   */
  private async podUid(object: ObjectReference, opts: RequestOptions): Promise<string | undefined> {
    if (object.kind !== 'Pod' || object.apiVersion !== 'v1') return undefined;
    try {
      const pod = await this.api.get<Pod>(resourcePath(Resources.pods, object.namespace, object.name), opts);
      return pod.metadata?.uid;
    } catch (err) {
      this.o.logger.debug(
        { object: describe(object), err: (err as Error).message },
        'pod uid unknown; recording the event without it',
      );
      return undefined;
    }
  }
}

function describe(object: ObjectReference): string {
  return `${object.kind} ${object.namespace}/${object.name}`;
}
