// The controller's metrics: controller-runtime's names and labels where upstream's manager exports
// them (reconciles, their errors and time, the work queue's depth, the leader election status), so
// that dashboards written for upstream keep working; what we know beyond that goes into our own
// `secretsync_*` metrics (outcomes by failure reason, provider calls and what coalescing saved,
// PBKDF2 runs and skips, token requests).
import { counter, gauge, histogram, type RegisteredMetrics, registerMetrics } from '@sscsi/common';
import type { Registry } from 'prom-client';

import type { ReconcileOutcome } from './controller/reconciler';
import { LEASE_NAME } from './leader/leader-election';
import type { FetchOutcome } from './provider/secret-fetcher';
import type { RestartOutcome } from './restart/restart-controller';
import type { FailureReason } from './sync/conditions';

const CONTROLLER = 'secretsync';

/** controller-runtime's reconcile time buckets. */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/**
 * controller-runtime's metrics (by controller; the leader's by Lease name), then ours; the queue's
 * depth is read from `depth` at each scrape.
 */
const metricsOf = (depth: () => number) => ({
  reconciles: counter(
    'controller_runtime_reconcile_total',
    'Total number of reconciliations per controller',
    ['controller', 'result'],
  ),
  reconcileErrors: counter(
    'controller_runtime_reconcile_errors_total',
    'Total number of reconciliation errors per controller',
    ['controller'],
  ),
  reconcileTime: histogram(
    'controller_runtime_reconcile_time_seconds',
    'Length of time per reconciliation per controller',
    ['controller'],
    RECONCILE_BUCKETS,
  ),
  maxConcurrentReconciles: gauge(
    'controller_runtime_max_concurrent_reconciles',
    'Maximum number of concurrent reconciles per controller',
    ['controller'],
  ),
  activeWorkers: gauge(
    'controller_runtime_active_workers',
    'Number of currently used workers per controller',
    ['controller'],
  ),
  queueDepth: gauge('workqueue_depth', 'Current depth of workqueue', ['name'], (g) =>
    g.set({ name: CONTROLLER }, depth()),
  ),
  leader: gauge(
    'leader_election_master_status',
    'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
    ['name'],
  ),
  outcomes: counter(
    'secretsync_reconcile_outcomes_total',
    'Reconciles by outcome (synced, unchanged, gone, failed, status-unwritten) and, for failures, the condition reason',
    ['outcome', 'reason'],
  ),
  fetches: counter(
    'secretsync_provider_fetches_total',
    'Provider fetches by outcome: called (a Mount call), joined (a call in flight shared) or reused (an answer of the same poll cycle)',
    ['provider', 'outcome'],
  ),
  hashes: counter(
    'secretsync_sync_hashes_total',
    'status.syncHash computations: computed (100,000 PBKDF2 rounds) or reused (input unchanged)',
    ['outcome'],
  ),
  tokens: counter(
    'secretsync_token_requests_total',
    'ServiceAccount TokenRequests sent, by outcome (issued, failed)',
    ['outcome'],
  ),
  restarts: counter(
    'secretsync_workload_restart_evaluations_total',
    'Restart on rotation: evaluations of opted-in workloads by outcome (restarted, recorded, unchanged, conflict, failed, invalid)',
    ['outcome'],
  ),
});

export class ControllerMetrics {
  private readonly m: RegisteredMetrics<ReturnType<typeof metricsOf>>;
  private depth: () => number = () => 0;

  constructor(registry: Registry, maxConcurrentReconciles: number) {
    this.m = registerMetrics(
      registry,
      metricsOf(() => this.depth()),
    );
    this.m.maxConcurrentReconciles.set({ controller: CONTROLLER }, maxConcurrentReconciles);
  }

  /** The queue's depth, read at each scrape. */
  watchQueue(depth: () => number): void {
    this.depth = depth;
  }

  reconcileStarted(): void {
    this.m.activeWorkers.inc({ controller: CONTROLLER });
  }

  reconcileEnded(seconds: number, failed: boolean): void {
    this.m.activeWorkers.dec({ controller: CONTROLLER });
    this.m.reconcileTime.observe({ controller: CONTROLLER }, seconds);
    this.m.reconciles.inc({ controller: CONTROLLER, result: failed ? 'error' : 'success' });
    if (failed) this.m.reconcileErrors.inc({ controller: CONTROLLER });
  }

  outcome(outcome: ReconcileOutcome, reason?: FailureReason): void {
    this.m.outcomes.inc({ outcome, reason: reason ?? '' });
  }

  fetched(outcome: FetchOutcome, provider: string): void {
    this.m.fetches.inc({ provider, outcome });
  }

  hashed(outcome: 'computed' | 'reused'): void {
    this.m.hashes.inc({ outcome });
  }

  tokenRequested(outcome: 'issued' | 'failed'): void {
    this.m.tokens.inc({ outcome });
  }

  restartEvaluated(outcome: RestartOutcome): void {
    this.m.restarts.inc({ outcome });
  }

  leading(leading: boolean): void {
    this.m.leader.set({ name: LEASE_NAME }, leading ? 1 : 0);
  }
}
