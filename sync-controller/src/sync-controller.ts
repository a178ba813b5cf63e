// The controller's parts put together from its configuration: the informers (SecretSyncs and
// SecretProviderClasses, cluster-wide), the provider clients, tokens, hashes, the Secret writer,
// the reconciler, the triggers, and leader election when asked. main.ts builds the API clients and
// the servers around it; tests build it over the fake API server and a real provider socket.
import type { KubeApi, Logger, ProviderGateway } from '@sscsi/common';
import { CorrelatingEventRecorder, Informer, ProviderClients, Resources } from '@sscsi/common';
import type { Registry } from 'prom-client';

import type { SecretProviderClassView, SecretSync } from './api/secret-sync';
import { SecretSyncResources } from './api/secret-sync';
import type { SyncControllerConfig } from './config';
import { Reconciler } from './controller/reconciler';
import { SecretSyncController } from './controller/secret-sync-controller';
import { LeaderElector } from './leader/leader-election';
import { ControllerMetrics } from './metrics';
import { waitForProviderSockets } from './provider/provider-sockets';
import { SecretFetcher } from './provider/secret-fetcher';
import { restartOnRotation } from './restart/restart-on-rotation';
import { SecretWriter } from './secret/secret-writer';
import { SyncHashes } from './sync/sync-hash';
import { ServiceAccountTokens } from './tokens/service-account-tokens';

/** What `kubectl describe` shows as the Events' source. */
export const COMPONENT = 'secrets-store-sync-controller';

export interface SyncControllerParts {
  config: Readonly<SyncControllerConfig>;
  kube: KubeApi;
  /** The Lease's own client: renewals never wait behind reconcile traffic. */
  leaseKube: KubeApi;
  logger: Logger;
  registry: Registry;
  /** Tests hand fake providers; by default, the sockets in --provider-volume. */
  providers?: ProviderGateway & { close?(): void; findSocket?(provider: string): unknown };
  /** How long to wait for missing provider sockets before working without them (tests). */
  providerSocketsWaitMs?: number;
  /** A Lease lost: the process must end (non-zero) so that the kubelet restarts it. */
  onLeaseLost(): void;
}

export interface RunningSyncController {
  /** Both caches filled: /readyz. */
  ready(): boolean;
  /** Leading (or no leader election). */
  leading(): boolean;
  /**
   * A graceful stop (SIGTERM): reconciles under way are cancelled, then the Lease is released. Not
   * waiting for them: the provider sidecars get the same SIGTERM, so a call under way may wait on
   * a provider that is going, and a force-deleted pod gets only 2 s before SIGKILL; a cancelled
   * reconcile writes nothing more, and the next leader does it again (its writes are idempotent).
   */
  stop(): Promise<void>;
}

export function startSyncController(parts: SyncControllerParts): RunningSyncController {
  const { config, kube, logger, registry } = parts;
  const metrics = new ControllerMetrics(registry, config.maxConcurrentReconciles);
  const onError = (what: string) => (err: unknown) =>
    logger.warn({ err: (err as Error).message }, `watching ${what} failed; retrying`);
  const secretSyncs = new Informer<SecretSync>(kube, SecretSyncResources.secretSyncs, {
    onError: onError('SecretSyncs'),
  });
  const classes = new Informer<SecretProviderClassView>(kube, Resources.secretProviderClasses, {
    onError: onError('SecretProviderClasses'),
  });
  const providers =
    parts.providers ??
    new ProviderClients({
      searchPaths: [config.providerVolume],
      maxReceiveMessageSize: config.maxCallRecvMsgSize,
      logger,
    });
  const tokens = new ServiceAccountTokens({
    kube,
    audiences: config.tokenAudiences,
    logger,
    requested: (outcome) => metrics.tokenRequested(outcome),
  });
  const fetcher = new SecretFetcher({
    providers,
    tokens,
    pod: config.pod,
    timeoutMs: config.providerTimeoutMs,
    maxCallRecvMsgSize: config.maxCallRecvMsgSize,
    counted: (outcome, provider) => metrics.fetched(outcome, provider),
  });
  const hashes = new SyncHashes({ counted: (outcome) => metrics.hashed(outcome) });
  const events = new CorrelatingEventRecorder(kube, { component: COMPONENT, logger });
  const reconciler = new Reconciler({
    secretSyncs: { get: (namespace, name) => secretSyncs.get(namespace, name) },
    classes: { get: (namespace, name) => classes.get(namespace, name) },
    fetcher,
    hashes,
    secrets: new SecretWriter(kube),
    status: kube,
    events,
    logger,
    outcome: (outcome, reason) => metrics.outcome(outcome, reason),
  });
  const controller = new SecretSyncController({
    secretSyncs,
    reconciler,
    cycles: fetcher,
    forget: (ss) => {
      hashes.forget(ss.metadata.uid ?? '');
      reconciler.forget(ss.metadata.namespace ?? '', ss.metadata.name ?? '');
    },
    pollIntervalMs: config.rotationPollIntervalMs,
    concurrency: config.maxConcurrentReconciles,
    logger,
    metrics,
  });
  metrics.watchQueue(() => controller.depth);
  const restarts = config.restartOnRotation
    ? restartOnRotation({
        kube,
        logger,
        events,
        delayMs: config.restartOnRotation.delayMs,
        onError,
        counted: (outcome) => metrics.restartEvaluated(outcome),
      })
    : undefined;

  const startReconciling = () => {
    // The classes are read from their cache: it must be filled before the first reconcile.
    void classes
      .waitForSync()
      .then(() => controller.start())
      .then(() => restarts?.start())
      .catch((err: unknown) => logger.error({ err }, 'the controller could not start'));
  };
  // Work starts, or a replica campaigns for the Lease, once it can work: both caches filled and the
  // providers its SecretSyncs need listening (provider/provider-sockets.ts says why and for how long).
  const starting = new AbortController();
  const readyToWork = async () => {
    await Promise.all([secretSyncs.waitForSync(starting.signal), classes.waitForSync(starting.signal)]);
    await waitForProviderSockets(
      {
        secretSyncs,
        classes: { get: (namespace, name) => classes.get(namespace, name) },
        present: (provider) => (providers.findSocket ? providers.findSocket(provider) !== undefined : true),
        logger,
        waitMs: parts.providerSocketsWaitMs,
      },
      starting.signal,
    );
  };
  let leaseLost = false;
  const elector = config.leaderElection
    ? new LeaderElector({
        kube: parts.leaseKube,
        ...config.leaderElection,
        logger,
        onStartedLeading: startReconciling,
        onStoppedLeading: () => {
          leaseLost = true;
          // A leader that is no longer one must not write: cancel what runs, then exit.
          void Promise.all([controller.stop(false), restarts?.controller.stop()]).finally(() =>
            parts.onLeaseLost(),
          );
        },
        onLeading: (leading) => metrics.leading(leading),
      })
    : undefined;

  secretSyncs.start();
  classes.start();
  restarts?.informers.forEach((i) => i.start());
  void readyToWork().then(
    () => {
      if (starting.signal.aborted) return;
      if (elector) elector.start();
      else startReconciling();
    },
    (err: unknown) => {
      if (!starting.signal.aborted) logger.error({ err }, 'the controller could not start');
    },
  );

  return {
    // Not the restart caches: a cluster without the driver's CRD (no SecretProviderClassPodStatuses)
    // still syncs SecretSyncs; restarts begin once their caches are filled.
    ready: () => secretSyncs.hasSynced && classes.hasSynced,
    leading: () => (elector ? elector.isLeader : !leaseLost),
    stop: async () => {
      starting.abort();
      await Promise.all([controller.stop(false), restarts?.controller.stop()]);
      await elector?.stop();
      await Promise.all([
        secretSyncs.stop(),
        classes.stop(),
        ...(restarts?.informers ?? []).map((i) => i.stop()),
        events.flush(),
      ]);
      providers.close?.();
    },
  };
}
