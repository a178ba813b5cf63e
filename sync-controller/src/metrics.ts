// The controller's metrics: controller-runtime's names and labels where upstream's manager exports
// them (reconciles, their errors and time, the work queue's depth, the leader election status), so
// that dashboards written for upstream keep working; what we know beyond that goes into our own
// `secretsync_*` metrics (outcomes by failure reason, provider calls and what coalescing saved,
// PBKDF2 runs and skips, token requests).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { ReconcileOutcome } from './controller/reconciler';
import { LEASE_NAME } from './leader/leader-election';
import type { FetchOutcome } from './provider/secret-fetcher';
import type { FailureReason } from './sync/conditions';

const CONTROLLER = 'secretsync';

/** controller-runtime's reconcile time buckets. */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

export class ControllerMetrics {
  private readonly reconciles: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly activeWorkers: Gauge<'controller'>;
  private readonly leader: Gauge<'name'>;
  private readonly outcomes: Counter<'outcome' | 'reason'>;
  private readonly fetches: Counter<'provider' | 'outcome'>;
  private readonly hashes: Counter<'outcome'>;
  private readonly tokens: Counter<'outcome'>;
  private depth: () => number = () => 0;

  constructor(registry: Registry, maxConcurrentReconciles: number) {
    const registers = [registry];
    this.reconciles = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
      registers,
    }).set({ controller: CONTROLLER }, maxConcurrentReconciles);
    this.activeWorkers = new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers,
    });
    // Read at scrape time from the queue.
    const depth = (): number => this.depth();
    new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers,
      collect() {
        this.set({ name: CONTROLLER }, depth());
      },
    });
    this.leader = new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
      labelNames: ['name'],
      registers,
    });
    this.outcomes = new Counter({
      name: 'secretsync_reconcile_outcomes_total',
      help: 'Reconciles by outcome (synced, unchanged, gone, failed, status-unwritten) and, for failures, the condition reason',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.fetches = new Counter({
      name: 'secretsync_provider_fetches_total',
      help: 'Provider fetches by outcome: called (a Mount call), joined (a call in flight shared) or reused (an answer of the same poll cycle)',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    this.hashes = new Counter({
      name: 'secretsync_sync_hashes_total',
      help: 'status.syncHash computations: computed (100,000 PBKDF2 rounds) or reused (input unchanged)',
      labelNames: ['outcome'],
      registers,
    });
    this.tokens = new Counter({
      name: 'secretsync_token_requests_total',
      help: 'ServiceAccount TokenRequests sent, by outcome (issued, failed)',
      labelNames: ['outcome'],
      registers,
    });
  }

  /** The queue's depth, read at each scrape. */
  watchQueue(depth: () => number): void {
    this.depth = depth;
  }

  reconcileStarted(): void {
    this.activeWorkers.inc({ controller: CONTROLLER });
  }

  reconcileEnded(seconds: number, failed: boolean): void {
    this.activeWorkers.dec({ controller: CONTROLLER });
    this.reconcileTime.observe({ controller: CONTROLLER }, seconds);
    this.reconciles.inc({ controller: CONTROLLER, result: failed ? 'error' : 'success' });
    if (failed) this.reconcileErrors.inc({ controller: CONTROLLER });
  }

  outcome(outcome: ReconcileOutcome, reason?: FailureReason): void {
    this.outcomes.inc({ outcome, reason: reason ?? '' });
  }

  fetched(outcome: FetchOutcome, provider: string): void {
    this.fetches.inc({ provider, outcome });
  }

  hashed(outcome: 'computed' | 'reused'): void {
    this.hashes.inc({ outcome });
  }

  tokenRequested(outcome: 'issued' | 'failed'): void {
    this.tokens.inc({ outcome });
  }

  leading(leading: boolean): void {
    this.leader.set({ name: LEASE_NAME }, leading ? 1 : 0);
  }
}
