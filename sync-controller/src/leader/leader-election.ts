// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it, so that
// of several replicas one reconciles and the others stand by:
// - a candidate takes the Lease when it is free (no holder) or expired: not renewed for the lease
//   duration, measured on the candidate's own clock from when it last saw the Lease change (clock
//   skew between nodes does not matter);
// - the leader renews it every retry period; if it cannot renew within the renew deadline (shorter
//   than the lease duration) it stops leading at once, before any standby may take over;
// - a leader that stops gracefully releases the Lease (no holder, 1 s), so a standby takes over at
//   its next try instead of waiting for the lease to expire;
// - every write carries the resourceVersion it read: two candidates never both win.
import type { KubeApi, Logger } from '@sscsi/common';
import { isNotFound, resourcePath } from '@sscsi/common';

import { SecretSyncResources } from '../api/secret-sync';

/** Upstream's LeaderElectionID. */
export const LEASE_NAME = '29f1d54e.secret-sync.x-k8s.io';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** metav1.MicroTime: RFC 3339 with microseconds. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

export interface Clock {
  /** Wall clock time (ms since the epoch): only for the times written into the Lease. */
  now(): number;
  /**
   * Monotonic time (ms): every deadline and expiry is measured with it, as client-go measures
   * them, so that the node's wall clock stepped forward does not end a healthy leader's term (and
   * stepped back does not extend another's).
   */
  elapsed(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: Date.now,
  elapsed: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

export interface LeaderElectorOptions {
  kube: Pick<KubeApi, 'get' | 'create' | 'replace'>;
  namespace: string;
  name?: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  clock?: Clock;
  /** Leading began: start the work. */
  onStartedLeading(): void;
  /** Leading ended without a release (the Lease could not be renewed): stop the work now. */
  onStoppedLeading(): void;
  /** Leading or not, for the leader_election_master_status metric. */
  onLeading?(leading: boolean): void;
}

/** metav1.MicroTime's format. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly clock: Clock;
  private readonly path: string;
  private readonly collection: string;
  /** The Lease as last read or written, and when (our clock) it last changed. */
  private observed?: { raw: string; spec: LeaseSpec; at: number };
  private leading = false;
  private readonly abort = new AbortController();
  private running?: Promise<void>;

  constructor(private readonly o: LeaderElectorOptions) {
    this.clock = o.clock ?? realClock;
    const name = o.name ?? LEASE_NAME;
    this.collection = resourcePath(SecretSyncResources.leases, o.namespace);
    this.path = resourcePath(SecretSyncResources.leases, o.namespace, name);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns, then leads until the Lease is lost or stop() is called. */
  start(): void {
    this.running ??= this.run(this.abort.signal);
  }

  /** Stops campaigning or leading; a leader releases the Lease first. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    if (this.leading) await this.release();
    this.setLeading(false);
  }

  private async run(signal: AbortSignal): Promise<void> {
    this.o.logger.info(
      { lease: `${this.o.namespace}/${this.lease}`, identity: this.o.identity },
      'attempting to acquire leader lease',
    );
    while (!signal.aborted && !(await this.tryAcquireOrRenew(signal, this.o.renewDeadlineMs)))
      await this.clock.sleep(this.o.retryPeriodMs, signal);
    if (signal.aborted) return;
    this.setLeading(true);
    this.o.logger.info({ identity: this.o.identity }, 'successfully acquired lease');
    this.o.onStartedLeading();
    // Renew every retry period; give up when no renewal succeeded within the renew deadline.
    let renewedAt = this.clock.elapsed();
    let wait = this.o.retryPeriodMs;
    for (;;) {
      await this.clock.sleep(wait, signal);
      if (signal.aborted) return;
      // No attempt may outlast the deadline: a hung request must not keep a stale leader working.
      const remaining = renewedAt + this.o.renewDeadlineMs - this.clock.elapsed();
      if (remaining <= 0) break;
      if (await this.tryAcquireOrRenew(signal, remaining)) {
        renewedAt = this.clock.elapsed();
        wait = this.o.retryPeriodMs;
      } else {
        if (signal.aborted) return;
        // The next try, or the deadline itself.
        wait = Math.max(
          0,
          Math.min(this.o.retryPeriodMs, renewedAt + this.o.renewDeadlineMs - this.clock.elapsed()),
        );
      }
    }
    this.setLeading(false);
    this.o.logger.error(
      { identity: this.o.identity, renewDeadlineMs: this.o.renewDeadlineMs },
      'leader lease lost: could not renew it within the renew deadline',
    );
    this.o.onStoppedLeading();
  }

  private get lease(): string {
    return this.o.name ?? LEASE_NAME;
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.o.onLeading?.(leading);
  }

  private leaseValid(now: number): boolean {
    if (!this.observed) return false;
    return this.observed.at + (this.observed.spec.leaseDurationSeconds ?? 0) * 1000 > now;
  }

  private observe(lease: Lease): void {
    const raw = JSON.stringify(lease.spec);
    if (this.observed?.raw !== raw) this.observed = { raw, spec: lease.spec, at: this.clock.elapsed() };
  }

  /** client-go's tryAcquireOrRenew: true when we hold the Lease afterwards. */
  private async tryAcquireOrRenew(signal: AbortSignal, timeoutMs: number): Promise<boolean> {
    const requestOptions = { timeoutMs: Math.max(1, Math.ceil(timeoutMs)), signal };
    const now = this.clock.now();
    const record: LeaseSpec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.round(this.o.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
    };
    let current: Lease;
    try {
      current = await this.o.kube.get<Lease>(this.path, requestOptions);
    } catch (err) {
      if (signal.aborted) return false;
      if (!isNotFound(err)) {
        this.o.logger.warn({ err: (err as Error).message }, 'error retrieving the leader lease');
        return false;
      }
      try {
        const created = await this.o.kube.create<Lease>(
          this.collection,
          this.leaseOf({ ...record, leaseTransitions: 0 }),
          requestOptions,
        );
        this.observe(created);
        return true;
      } catch (createErr) {
        if (!signal.aborted)
          this.o.logger.warn({ err: (createErr as Error).message }, 'error creating the leader lease');
        return false;
      }
    }
    this.observe(current);
    const holder = current.spec.holderIdentity ?? '';
    if (holder !== '' && holder !== this.o.identity && this.leaseValid(this.clock.elapsed())) return false;
    if (holder === this.o.identity && this.leading) {
      record.acquireTime = current.spec.acquireTime;
      record.leaseTransitions = current.spec.leaseTransitions ?? 0;
    } else {
      record.leaseTransitions = (current.spec.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = await this.o.kube.replace<Lease>(
        this.path,
        {
          ...this.leaseOf(record),
          metadata: { ...current.metadata, name: this.lease, namespace: this.o.namespace },
        },
        requestOptions,
      );
      this.observe(updated);
      return true;
    } catch (err) {
      // A conflict: someone else wrote the Lease since we read it.
      if (!signal.aborted)
        this.o.logger.warn({ err: (err as Error).message }, 'failed to update the leader lease');
      return false;
    }
  }

  /** client-go's release: no holder, a 1 s lease, so that a standby takes over at its next try. */
  private async release(): Promise<void> {
    const options = { timeoutMs: this.o.renewDeadlineMs };
    try {
      const current = await this.o.kube.get<Lease>(this.path, options);
      if (current.spec.holderIdentity !== this.o.identity) return;
      const now = microTime(this.clock.now());
      await this.o.kube.replace(
        this.path,
        {
          ...this.leaseOf({
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: current.spec.leaseTransitions ?? 0,
          }),
          metadata: current.metadata,
        },
        options,
      );
      this.o.logger.info({ identity: this.o.identity }, 'released the leader lease');
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'failed to release the leader lease');
    }
  }

  private leaseOf(spec: LeaseSpec): Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.lease, namespace: this.o.namespace },
      spec,
    };
  }
}
