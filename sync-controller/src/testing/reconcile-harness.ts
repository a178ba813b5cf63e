// For unit tests: one reconciler wired as the program wires it (provider fetch, tokens, hashes, the
// Secret writer, status writes) over the fake API server and fake providers, with a clock the test
// moves, PBKDF2 counted, Events and log lines kept.
import type { EventRecorder, EventType, Logger, ObjectReference, Secret } from '@sscsi/common';
import { Informer, KubeApiError } from '@sscsi/common';
import { capturingLogger, FakeKube } from '@sscsi/common/testing';

import type { Condition, SecretProviderClassView, SecretSync } from '../api/secret-sync';
import { SecretSyncResources } from '../api/secret-sync';
import type { ReconcileOutcome, ReconcilerOptions } from '../controller/reconciler';
import { Reconciler } from '../controller/reconciler';
import { SecretSyncController } from '../controller/secret-sync-controller';
import { SecretFetcher } from '../provider/secret-fetcher';
import { SecretWriter } from '../secret/secret-writer';
import type { FailureReason } from '../sync/conditions';
import type { Kdf } from '../sync/sync-hash';
import { pbkdf2Sha512, SyncHashes } from '../sync/sync-hash';
import { ServiceAccountTokens } from '../tokens/service-account-tokens';
import { answer, FakeProviderGateway } from './fake-provider-gateway';
import { secretProviderClass, secretSync } from './objects';

export interface RecordedEvent {
  object: ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

export class RecordingEvents implements EventRecorder {
  readonly events: RecordedEvent[] = [];
  record(object: ObjectReference, type: EventType, reason: string, message: string): void {
    this.events.push({ object, type, reason, message });
  }
}

export interface HarnessOptions {
  audiences?: string[];
  /** The SecretSync and class to start with (upstream's e2e pair by default); null: none. */
  secretSync?: SecretSync | null;
  secretProviderClass?: SecretProviderClassView | null;
}

export const T0 = Date.parse('2030-01-02T03:04:05Z');

export class ReconcileHarness {
  readonly kube = new FakeKube();
  readonly providers = new FakeProviderGateway({ 'e2e-provider': () => answer({ foo: 'secret' }) });
  readonly events = new RecordingEvents();
  readonly logger: Logger;
  readonly lines: string[];
  readonly clock = { now: T0 };
  /** PBKDF2 computations. */
  kdfCalls = 0;
  readonly outcomes: Array<[ReconcileOutcome, FailureReason | undefined]> = [];
  readonly hashes: SyncHashes;
  readonly fetcher: SecretFetcher;
  readonly reconciler: Reconciler;
  /** How the reconciler was made: tests make others with some parts changed. */
  readonly reconcilerOptions: ReconcilerOptions;

  constructor(o: HarnessOptions = {}) {
    ({ logger: this.logger, lines: this.lines } = capturingLogger(4));
    const kdf: Kdf = (password, salt) => {
      this.kdfCalls++;
      return pbkdf2Sha512(password, salt);
    };
    this.hashes = new SyncHashes({ kdf });
    const tokens = new ServiceAccountTokens({
      kube: this.kube,
      audiences: o.audiences ?? [],
      logger: this.logger,
      now: () => this.clock.now,
    });
    this.fetcher = new SecretFetcher({
      providers: this.providers,
      tokens,
      pod: { name: 'secrets-store-sync-controller-manager-abc', uid: 'pod-uid-1' },
      timeoutMs: 120_000,
      maxCallRecvMsgSize: 4194304,
    });
    this.reconcilerOptions = {
      secretSyncs: { get: (ns, name) => this.kube.object<SecretSync>('secretsyncs', ns, name) },
      classes: {
        get: (ns, name) => this.kube.object<SecretProviderClassView>('secretproviderclasses', ns, name),
      },
      fetcher: this.fetcher,
      hashes: this.hashes,
      secrets: new SecretWriter(this.kube),
      status: this.kube,
      events: this.events,
      logger: this.logger,
      now: () => this.clock.now,
      outcome: (outcome, reason) => this.outcomes.push([outcome, reason]),
    };
    this.reconciler = new Reconciler(this.reconcilerOptions);
    if (o.secretSync !== null) this.kube.put('secretsyncs', o.secretSync ?? secretSync());
    if (o.secretProviderClass !== null)
      this.kube.put('secretproviderclasses', o.secretProviderClass ?? secretProviderClass());
    this.kube.put('serviceaccounts', { metadata: { name: 'default', namespace: 'test-v1alpha1' } });
  }

  /** Reconciles the SecretSync; resolves to its outcome or to the error the queue would retry. */
  async run(name = 'sse2esecret', namespace = 'test-v1alpha1'): Promise<ReconcileOutcome | Error> {
    return this.reconciler.reconcile(namespace, name).catch((err: unknown) => err as Error);
  }

  secretSync(name = 'sse2esecret', namespace = 'test-v1alpha1'): SecretSync {
    const ss = this.kube.object<SecretSync>('secretsyncs', namespace, name);
    if (!ss) throw new Error(`no SecretSync ${namespace}/${name}`);
    return ss;
  }

  /** As upstream's tests read them: `{type, status, reason, message}`. */
  conditions(name?: string): Array<Pick<Condition, 'type' | 'status' | 'reason' | 'message'>> {
    return (this.secretSync(name).status?.conditions ?? []).map(({ type, status, reason, message }) => ({
      type,
      status,
      reason,
      message,
    }));
  }

  condition(
    type: string,
    name?: string,
  ): Pick<Condition, 'type' | 'status' | 'reason' | 'message'> | undefined {
    return this.conditions(name).find((c) => c.type === type);
  }

  secret(name = 'sse2esecret', namespace = 'test-v1alpha1'): Secret | undefined {
    return this.kube.object<Secret>('secrets', namespace, name);
  }

  /** The writes made since `from` (calls' index), as `VERB path`. */
  writes(from = 0): string[] {
    return this.kube.calls
      .slice(from)
      .filter((c) => c.verb !== 'GET' && c.verb !== 'LIST' && c.verb !== 'WATCH')
      .map((c) => `${c.verb}${c.query?.dryRun ? ' (dry run)' : ''} ${c.path}`);
  }

  /**
   * The controller over an informer of the fake API's SecretSyncs, with this reconciler; stopped
   * with `stop()`.
   */
  controller(o: { pollIntervalMs?: number; concurrency?: number } = {}): {
    controller: SecretSyncController;
    informer: Informer<SecretSync>;
    stop(): Promise<void>;
  } {
    const informer = new Informer<SecretSync>(this.kube, SecretSyncResources.secretSyncs);
    const controller = new SecretSyncController({
      secretSyncs: informer,
      reconciler: this.reconciler,
      cycles: this.fetcher,
      forget: (ss) => {
        this.hashes.forget(ss.metadata.uid ?? '');
        this.reconciler.forget(ss.metadata.namespace ?? '', ss.metadata.name ?? '');
      },
      pollIntervalMs: o.pollIntervalMs ?? 0,
      concurrency: o.concurrency ?? 4,
      logger: this.logger,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 40,
    });
    informer.start();
    return {
      controller,
      informer,
      stop: async () => {
        await controller.stop(true);
        await informer.stop();
      },
    };
  }

  /** The `nth` PUT from now (a status write) fails with 409 Conflict, as when another writer got there first. */
  conflictOnPut(nth: number): void {
    let puts = 0;
    const replace = this.kube.replace.bind(this.kube);
    this.kube.replace = async (path, body, opts) => {
      if (++puts === nth)
        throw new KubeApiError('PUT', path, 409, 'Conflict', 'the object has been modified');
      return replace(path, body, opts);
    };
  }

  /** Changes the SecretSync as a user would: a spec change bumps its generation. */
  editSecretSync(edit: (ss: SecretSync) => void, name?: string): void {
    const ss = this.secretSync(name);
    edit(ss);
    ss.metadata.generation = (ss.metadata.generation ?? 1) + 1;
    this.kube.put('secretsyncs', ss);
  }
}
