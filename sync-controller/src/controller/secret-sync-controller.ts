// What sets reconciles off, as upstream's controller: a SecretSync created (the informer's first list
// included, so every SecretSync is synced at start), its spec changed (a new generation:
// forceSynchronization is in the spec), and the poll, which every --rotation-poll-interval enqueues
// every SecretSync in the cache (the first poll one interval after start; 0 disables it). Nothing
// else: not status, label or annotation changes, not SecretProviderClasses, not Secrets.
//
// The work queue holds each key once, never reconciles one SecretSync twice at once, runs
// --max-concurrent-reconciles at a time, and retries a failure after 5 ms, doubling up to 1000 s
// (upstream's backoff); a success resets it. Only the leader runs the queue and the poll; the
// informers fill on every replica, so a standby that takes over starts warm.
import type { InformerHandlers, Logger } from '@sscsi/common';
import { WorkQueue } from '@sscsi/common';

import type { SecretSync } from '../api/secret-sync';
import { parseSecretSyncKey, secretSyncKey } from '../api/secret-sync';
import { pollOrder } from './poll-order';
import type { ReconcileOutcome } from './reconciler';

/** upstream's queue: 5 ms doubling per failure of a key, up to 1000 s. */
export const RETRY_BASE_DELAY_MS = 5;
export const RETRY_MAX_DELAY_MS = 1_000_000;

export interface SecretSyncSource {
  addHandlers(handlers: InformerHandlers<SecretSync>): void;
  list(): SecretSync[];
  waitForSync(signal?: AbortSignal): Promise<void>;
}

export interface ControllerOptions {
  secretSyncs: SecretSyncSource;
  reconciler: { reconcile(namespace: string, name: string, signal?: AbortSignal): Promise<ReconcileOutcome> };
  /** Poll cycles of the provider fetch (coalescing). */
  cycles: {
    startCycle(keys: Iterable<string>): void;
    exclude(key: string): void;
    begin(key: string): void;
    finished(key: string): void;
  };
  /** Forgets what is remembered of a deleted SecretSync (its hash, its last status write). */
  forget(ss: SecretSync): void;
  pollIntervalMs: number;
  concurrency: number;
  logger: Logger;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  metrics?: {
    reconcileStarted(): void;
    reconcileEnded(seconds: number, failed: boolean): void;
  };
}

export class SecretSyncController {
  private readonly queue: WorkQueue;
  private readonly abort = new AbortController();
  private pollTimer?: NodeJS.Timeout;
  private started = false;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue((key) => this.work(key), {
      concurrency: o.concurrency,
      baseDelayMs: o.retryBaseDelayMs ?? RETRY_BASE_DELAY_MS,
      maxDelayMs: o.retryMaxDelayMs ?? RETRY_MAX_DELAY_MS,
    });
    o.secretSyncs.addHandlers({
      added: (ss) => this.userAsked(ss),
      updated: (ss, old) => {
        if (ss.metadata.generation !== old.metadata.generation) this.userAsked(ss);
      },
      deleted: (ss) => {
        o.forget(ss);
        o.cycles.exclude(secretSyncKey(ss));
      },
    });
  }

  /** Keys waiting (a metric). */
  get depth(): number {
    return this.queue.depth;
  }

  /** Starts reconciling (on becoming leader): every SecretSync once, then the triggers and the poll. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.o.secretSyncs.waitForSync(this.abort.signal);
    } catch (err) {
      if (this.abort.signal.aborted) return;
      throw err;
    }
    this.syncAll('start');
    this.queue.start();
    if (this.o.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => this.syncAll('poll'), this.o.pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  /**
   * Stops reconciling. `graceful`: reconciles under way finish (a shutdown); otherwise they are
   * cancelled at once (a lost Lease: a leader that is no longer one must not write).
   */
  async stop(graceful: boolean): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.o.logger.info('shutting down periodic resync');
    this.queue.stop();
    if (!graceful) this.abort.abort();
    await this.queue.idle();
    this.abort.abort();
  }

  /** Enqueues every SecretSync of the cache as one poll cycle (the poll's tick, and the start). */
  syncAll(why: 'start' | 'poll'): void {
    const keys = pollOrder(this.o.secretSyncs.list());
    this.o.logger.debug({ secretSyncs: keys.length, why }, 'syncing every SecretSync');
    this.o.cycles.startCycle(keys);
    for (const key of keys) this.queue.add(key);
  }

  /** A user's change: its own provider call, not an answer of a poll cycle. */
  private userAsked(ss: SecretSync): void {
    const key = secretSyncKey(ss);
    this.o.cycles.exclude(key);
    this.queue.add(key);
  }

  private async work(key: string): Promise<void> {
    const { namespace, name } = parseSecretSyncKey(key);
    const startedAt = process.hrtime.bigint();
    let failed = false;
    this.o.metrics?.reconcileStarted();
    this.o.cycles.begin(key);
    try {
      await this.o.reconciler.reconcile(namespace, name, this.abort.signal);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      this.o.cycles.finished(key);
      this.o.metrics?.reconcileEnded(Number(process.hrtime.bigint() - startedAt) / 1e9, failed);
    }
  }
}
