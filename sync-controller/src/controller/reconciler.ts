// The reconcile of one SecretSync, upstream's step for step: read it from the cache, start its two
// conditions, check the reserved label and annotation, read its SecretProviderClass, fetch from the
// provider, build the data, hash it; when the hash changed (or a failure is on record) apply the
// Secret and write the status (conditions, syncHash, lastSuccessfulSyncTime) in one PUT; when
// nothing changed, write nothing. A failure sets the condition of the step that failed (one place
// maps it, failure.ts), writes the status and returns the error, so that the queue retries with
// backoff. The status is written with a PUT of the object as read (its resourceVersion), as
// upstream's; a conflict is retried.
//
// Deliberate differences from upstream (README.md, "Differences from SSC"): a SecretSync gone from
// the cache is done (B4); a retry after a failure whose hash is unchanged clears the failure
// (SecretUpdated True/SecretUpToDate again, B2); a refused apply leaves the conditions as they were
// but for its failure (B1); a Secret of the same name that is not ours is never taken over.
import type { EventRecorder, KubeApi, Logger, ObjectReference } from '@sscsi/common';
import { resourcePath } from '@sscsi/common';

import type { Condition, SecretProviderClassView, SecretSync } from '../api/secret-sync';
import { SECRET_SYNC_API_VERSION, SECRET_SYNC_KIND, SecretSyncResources } from '../api/secret-sync';
import type { FetchRequest } from '../provider/secret-fetcher';
import { secretData } from '../secret/secret-data';
import type { SecretData } from '../secret/secret-data';
import { SYNC_LABEL } from '../secret/secret-writer';
import type { ConditionChange, ConditionType, FailureReason } from '../sync/conditions';
import {
  CREATED,
  failed,
  INITIAL_CONDITIONS,
  isFailureCondition,
  kubeTime,
  SECRET_CREATED,
  SECRET_UPDATED,
  setCondition,
  UP_TO_DATE,
} from '../sync/conditions';
import { SyncFailure } from '../sync/failure';
import type { HashSubject } from '../sync/sync-hash';

/** What the reconcile reads from the informers' caches. */
export interface ObjectCache<T> {
  get(namespace: string, name: string): T | undefined;
}

export interface ReconcilerOptions {
  secretSyncs: ObjectCache<SecretSync>;
  classes: ObjectCache<SecretProviderClassView>;
  fetcher: { fetch(request: FetchRequest, signal?: AbortSignal): Promise<Map<string, Buffer>> };
  hashes: {
    hashOf(data: SecretData, subject: HashSubject, storedHash: string | undefined): Promise<string>;
  };
  secrets: {
    write(ss: SecretSync, data: SecretData, firstSync: boolean, signal?: AbortSignal): Promise<void>;
  };
  /** The status subresource's PUT. */
  status: Pick<KubeApi, 'replace'>;
  events: EventRecorder;
  logger: Logger;
  now?: () => number;
  /** Each reconcile's outcome, with the failure's reason: metrics. */
  outcome?: (outcome: ReconcileOutcome, reason?: FailureReason) => void;
}

/**
 * `synced`: the Secret was applied and the status written; `unchanged`: nothing to write; `gone`:
 * the SecretSync no longer exists; `failed`: a step failed (a condition says which);
 * `status-unwritten`: the status could not be written (the object changed meanwhile: a conflict, or
 * the API failed); the reconcile is retried.
 */
export type ReconcileOutcome = 'synced' | 'unchanged' | 'gone' | 'failed' | 'status-unwritten';

/** A status write that failed: the reconcile is retried, no condition can say so. */
export class StatusWriteError extends Error {
  override name = 'StatusWriteError';
}

function referenceOf(ss: SecretSync): ObjectReference {
  return {
    apiVersion: SECRET_SYNC_API_VERSION,
    kind: SECRET_SYNC_KIND,
    namespace: ss.metadata.namespace ?? '',
    name: ss.metadata.name ?? '',
    uid: ss.metadata.uid,
  };
}

/** What this process last wrote of a SecretSync's status, and the versions that write replaced. */
interface Written {
  replaced: Set<string>;
  latest: SecretSync;
}

export class Reconciler {
  private readonly now: () => number;
  /**
   * The informer's copy lags our own status writes by a watch event: a reconcile that comes right
   * after one (a poll, a retry) uses what was written instead of the older copy, so that it neither
   * applies the Secret again nor fails on a stale resourceVersion. One entry per SecretSync.
   */
  private readonly written = new Map<string, Written>();

  constructor(private readonly o: ReconcilerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Forgets a deleted SecretSync. */
  forget(namespace: string, name: string): void {
    this.written.delete(`${namespace}/${name}`);
  }

  /** Reconciles `namespace/name`; rejects when the queue should retry it with backoff. */
  async reconcile(namespace: string, name: string, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const logger = this.o.logger.child({ secretSync: `${namespace}/${name}` });
    logger.info('Reconciling SecretSync');
    const key = `${namespace}/${name}`;
    let cached = this.o.secretSyncs.get(namespace, name);
    if (!cached) {
      // Deleted: garbage collection removes its Secret (upstream retries it forever: its bug B4).
      this.written.delete(key);
      logger.debug('SecretSync not found; nothing to do');
      this.o.outcome?.('gone');
      return 'gone';
    }
    const written = this.written.get(key);
    if (written?.replaced.has(cached.metadata.resourceVersion ?? '')) cached = written.latest;
    else this.written.delete(key);
    let ss: SecretSync = {
      ...structuredClone(cached),
      apiVersion: SECRET_SYNC_API_VERSION,
      kind: SECRET_SYNC_KIND,
    };
    const conditionType: ConditionType = ss.status?.syncHash ? SECRET_UPDATED : SECRET_CREATED;

    if ((ss.status?.conditions?.length ?? 0) < 2) {
      let conditions = ss.status?.conditions;
      for (const initial of INITIAL_CONDITIONS) conditions = setCondition(conditions, initial, this.now());
      ss = await this.writeStatus({ ...ss, status: { ...ss.status, conditions } }, logger, signal).catch(
        (err: unknown) => this.unwritten(err),
      );
    }
    const before = ss.status?.conditions ?? [];

    let data: SecretData;
    let hash: string;
    let spc: SecretProviderClassView;
    try {
      const object = ss.spec.secretObject;
      if (object.labels?.[SYNC_LABEL]) throw new SyncFailure({ kind: 'reserved-label' });
      if (object.annotations && SYNC_LABEL in object.annotations)
        throw new SyncFailure({ kind: 'reserved-annotation' });
      const className = ss.spec.secretProviderClassName;
      const found = this.o.classes.get(namespace, className);
      if (!found) throw new SyncFailure({ kind: 'class-not-found', className });
      spc = found;
      const files = await this.o.fetcher.fetch(
        { key: `${namespace}/${name}`, namespace, serviceAccountName: ss.spec.serviceAccountName, spc },
        signal,
      );
      data = secretData(object.data ?? [], object.type, files);
      hash = await this.hash(ss, spc, data, logger);
    } catch (err) {
      return this.fail(ss, conditionType, err, logger, signal);
    }

    const failure = before.find(isFailureCondition);
    const hashChanged = hash !== ss.status?.syncHash;
    if (!failure && !hashChanged) {
      logger.debug('Secret up to date; nothing written');
      this.o.outcome?.('unchanged');
      return 'unchanged';
    }

    // In memory until the Secret is applied.
    let conditions: Condition[] = before;
    if (conditionType === SECRET_CREATED) {
      conditions = setCondition(conditions, CREATED, this.now());
      conditions = setCondition(conditions, UP_TO_DATE, this.now());
    } else {
      // Also when only a failure is on record: it is cleared (upstream keeps it: its bug B2).
      conditions = setCondition(conditions, UP_TO_DATE, this.now());
    }
    try {
      await this.o.secrets.write(ss, data, !ss.status?.syncHash, signal);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'failed to patch secret');
      // The status as read (the hash and time of the last apply that succeeded, the conditions),
      // the failure set over it: a refused apply is no transition to success and back. Upstream
      // fails over its success conditions: a refused first apply persists SecretUpdated True (its
      // bug B1), and a failure already on record moves its lastTransitionTime at every retry.
      return this.fail(ss, conditionType, err, logger, signal);
    }
    // Applied but not recorded when this fails: the retry applies again (the same Secret).
    await this.writeStatus(
      {
        ...ss,
        status: { ...ss.status, conditions, syncHash: hash, lastSuccessfulSyncTime: kubeTime(this.now()) },
      },
      logger,
      signal,
    ).catch((err: unknown) => this.unwritten(err));
    if (failure) {
      const done = conditionType === SECRET_CREATED ? CREATED : UP_TO_DATE;
      this.o.events.record(referenceOf(ss), 'Normal', done.reason, done.message);
    }
    logger.info({ syncHash: hash }, conditionType === SECRET_CREATED ? 'Secret created' : 'Secret updated');
    this.o.outcome?.('synced');
    return 'synced';
  }

  private async hash(
    ss: SecretSync,
    spc: SecretProviderClassView,
    data: SecretData,
    logger: Logger,
  ): Promise<string> {
    try {
      return await this.o.hashes.hashOf(
        data,
        {
          spcUid: spc.metadata.uid ?? '',
          spcGeneration: spc.metadata.generation ?? 0,
          ssUid: ss.metadata.uid ?? '',
          ssGeneration: ss.metadata.generation ?? 0,
          forceSynchronization: ss.spec.forceSynchronization ?? '',
        },
        ss.status?.syncHash,
      );
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'failed to compute state hash');
      throw new SyncFailure({ kind: 'hash' }, { cause: err });
    }
  }

  /**
   * Upstream's failure path: the condition of the step that failed, the status written (a failed
   * write is only logged), a Warning Event, and an error for the queue to retry.
   */
  private async fail(
    ss: SecretSync,
    conditionType: ConditionType,
    err: unknown,
    logger: Logger,
    signal: AbortSignal | undefined,
  ): Promise<never> {
    // Cancelled (a shutdown, a lost Lease): nothing failed, and a replica that stops writes nothing
    // more; the next leader syncs this SecretSync again.
    if (signal?.aborted) throw err;
    const failure = err instanceof SyncFailure ? err : new SyncFailure({ kind: 'internal' }, { cause: err });
    if (!(err instanceof SyncFailure)) logger.error({ err }, 'reconcile failed unexpectedly');
    const change: ConditionChange = failed(conditionType, failure.reason, failure.message);
    logger.error({ reason: failure.reason, err: failure.message }, 'sync failed');
    try {
      await this.writeStatus(
        {
          ...ss,
          status: { ...ss.status, conditions: setCondition(ss.status?.conditions, change, this.now()) },
        },
        logger,
        signal,
      );
    } catch {
      // Logged by writeStatus; the retry writes the condition again.
    }
    this.o.events.record(referenceOf(ss), 'Warning', failure.reason, failure.message);
    this.o.outcome?.('failed', failure.reason);
    throw failure;
  }

  private unwritten(err: unknown): never {
    this.o.outcome?.('status-unwritten');
    throw err;
  }

  private async writeStatus(
    ss: SecretSync,
    logger: Logger,
    signal: AbortSignal | undefined,
  ): Promise<SecretSync> {
    const path = resourcePath(
      SecretSyncResources.secretSyncs,
      ss.metadata.namespace,
      ss.metadata.name,
      'status',
    );
    try {
      const updated = await this.o.status.replace<SecretSync>(path, ss, { signal });
      const key = `${ss.metadata.namespace}/${ss.metadata.name}`;
      const replaced = this.written.get(key)?.replaced ?? new Set<string>();
      replaced.add(ss.metadata.resourceVersion ?? '');
      this.written.set(key, { replaced, latest: updated });
      return updated;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'Failed to update status');
      throw new StatusWriteError(`failed to update the status: ${(err as Error).message}`, { cause: err });
    }
  }
}
