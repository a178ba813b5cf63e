// One call shared by every caller that wants the same answer at about the same time: 110 pods
// starting together make one call, not 110. No caller's cancellation becomes another's:
// - the call runs with a signal of its own, aborted only when every caller waiting on it has given
//   up before it settled; each caller stops waiting as soon as its own signal aborts;
// - a failure reaches every caller waiting on the call, and is not kept: the next caller starts a
//   new call (a call given up by all is not joined either).
import { unlessAborted } from './abortable';

/** A call several callers wait on. */
export class SharedCall<T> {
  private readonly controller = new AbortController();
  private waiting = 0;
  /** The call's own outcome, whoever waits on it. */
  readonly promise: Promise<T>;
  /** Answered or failed. */
  settled = false;
  /** Failed, or given up by every caller before it settled: no one may join it any more. */
  failed = false;
  /** The answer, once settled without failing. */
  answer: T | undefined;

  /** Starts `call` at once, with a signal that aborts once every caller has given up. */
  constructor(call: (signal: AbortSignal) => Promise<T>) {
    this.promise = call(this.controller.signal);
    this.promise.then(
      (answer) => {
        this.answer = answer;
        this.settled = true;
      },
      () => {
        this.settled = true;
        this.failed = true;
      },
    );
  }

  /** The call's own signal: it aborts when the last caller gives up before the call settled. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** This caller's wait: it stops at its own signal; the call stops when no one waits any more. */
  async wait(signal?: AbortSignal): Promise<T> {
    this.waiting++;
    try {
      return await unlessAborted(this.promise, signal);
    } finally {
      this.waiting--;
      if (this.waiting === 0 && !this.settled && signal?.aborted) {
        this.failed = true;
        this.controller.abort(signal.reason);
      }
    }
  }
}

/**
 * Calls by key, one in flight per key (Go's singleflight): a caller joins the call under way for
 * its key, or starts one. A call is forgotten as soon as it settles, or every caller gave it up.
 */
export class SingleFlight<K, T> {
  private readonly calls = new Map<K, SharedCall<T>>();

  /** The call in flight for `key`, if one may still be joined. */
  get(key: K): SharedCall<T> | undefined {
    const call = this.calls.get(key);
    return call && !call.failed ? call : undefined;
  }

  /** Starts `call` for `key`; later callers of `key` join it until it settles. */
  start(key: K, call: (signal: AbortSignal) => Promise<T>): SharedCall<T> {
    const started = new SharedCall(call);
    const forget = () => {
      if (this.calls.get(key) === started) this.calls.delete(key);
    };
    started.promise.then(forget, forget);
    started.signal.addEventListener('abort', forget, { once: true });
    this.calls.set(key, started);
    return started;
  }

  /** Joins the call in flight for `key`, or starts `call`; `signal` ends this caller's wait. */
  async run(key: K, call: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    return (this.get(key) ?? this.start(key, call)).wait(signal);
  }

  /** Calls in flight. */
  get size(): number {
    return this.calls.size;
  }
}
