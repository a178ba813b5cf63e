#!/usr/bin/env -S node --max-semi-space-size=1 --lite-mode
// secrets-store-csi-driver-provider-aws: wiring only. Parses the flags, builds the parts, serves
// the provider API on <provider-volume>/aws.sock, drains on SIGTERM.
import {
  CorrelatingEventRecorder,
  drainServer,
  listenOnSocket,
  onShutdown,
  runProgram,
  serveMetrics,
  startProgram,
} from '@sscsi/common';

import { AwsClients } from './aws-clients';
import { FLAGS, parseConfig } from './config';
import { CredentialCache } from './credentials/credential-cache';
import { IdentityResolver } from './credentials/identity';
import { PodIdentityAgent } from './credentials/pod-identity';
import { clusterSigningKeys, TokenVerifier } from './credentials/token-verifier';
import { DEFAULT_COALESCE_MS, SharedAnswers } from './fetch/shared-answers';
import { ValueCache } from './fetch/value-cache';
import { KubePodLookups } from './kube-lookups';
import { ProviderMetrics } from './metrics';
import { MountService } from './mount';
import { createProviderServer, RUNTIME_NAME } from './server';
import { PROVIDER_VERSION } from './version';

const DRAIN_GRACE_MS = 30_000;
/** Attempts per AWS call: the SDK's standard retry mode backs off between them (throttling). */
const AWS_MAX_ATTEMPTS = 5;
const FETCH_CONCURRENCY = 8;
/** Idle values are dropped this often even when no mount comes to trigger it. */
const VALUE_CACHE_SWEEP_MS = 60_000;

async function main(): Promise<void> {
  const start = startProgram(parseConfig(process.argv.slice(2), process.env), {
    name: RUNTIME_NAME,
    version: PROVIDER_VERSION,
    flags: FLAGS,
    kube: (config) => ({ qps: config.qps, burst: config.burst }),
  });
  if (!start) return;
  const { config, logger, registry, kube } = start;
  const metrics = new ProviderMetrics(registry);
  const version = config.eksAddonVersion || PROVIDER_VERSION;
  const clients = new AwsClients({
    userAgent: `${RUNTIME_NAME}/${version}`,
    metrics,
    maxAttempts: AWS_MAX_ATTEMPTS,
  });
  const verifier = new TokenVerifier(clusterSigningKeys(kube));
  const lookups = new KubePodLookups(kube);
  const identity = new IdentityResolver({
    clients,
    cache: new CredentialCache(),
    verifier,
    lookups,
    podIdentity: new PodIdentityAgent(config.podIdentity),
    metrics,
  });
  const valueCache = new ValueCache({
    ...config.valueCache,
    onEvict: (reason) => metrics.valueCacheEvicted(reason),
  });
  metrics.watchValueCache(valueCache);
  const sharedAnswers = new SharedAnswers({
    windowMs: config.sharedAnswersWindowMs,
    coalesceMs: DEFAULT_COALESCE_MS,
    onShared: (operation) => metrics.awsAnswerShared(operation),
  });
  const sweeper = setInterval(() => {
    valueCache.sweep();
    sharedAnswers.sweep();
  }, VALUE_CACHE_SWEEP_MS).unref();
  const mount = new MountService({
    driverWritesSecrets: config.driverWritesSecrets,
    defaultRegion: config.defaultRegion,
    lookups,
    identity,
    clients,
    valueCache,
    sharedAnswers,
    metrics,
    logger,
    events: new CorrelatingEventRecorder(kube, { component: RUNTIME_NAME, logger }),
    concurrency: FETCH_CONCURRENCY,
  });
  const server = createProviderServer({ mount, runtimeVersion: PROVIDER_VERSION, logger });
  await listenOnSocket(server, config.socketPath);
  const metricsServer = await serveMetrics(registry, config.metricsAddress);
  logger.info(
    {
      socket: config.socketPath,
      metrics: metricsServer.address,
      driverWritesSecrets: config.driverWritesSecrets,
      defaultRegion: config.defaultRegion,
      version,
      verbosity: config.verbosity,
    },
    'secrets-store-csi-driver-provider-aws started',
  );

  onShutdown(logger, async () => {
    clearInterval(sweeper);
    await drainServer(server, config.socketPath, DRAIN_GRACE_MS);
    await metricsServer.close();
    clients.destroy();
    kube.close();
  });
}

runProgram(RUNTIME_NAME, main);
