#!/usr/bin/env -S node --max-semi-space-size=1 --lite-mode
// secrets-store-sync-controller: wiring only. Parses the flags, builds the API clients, starts the
// controller (sync-controller.ts), serves the probes and the metrics, stops gracefully on SIGTERM.
import {
  createLogger,
  createRegistry,
  flagUsage,
  KubeClient,
  kubeConnection,
  kubeRequestCounter,
  onShutdown,
  runProgram,
  serveMetrics,
} from '@sscsi/common';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

import { FLAGS, parseConfig } from './config';
import { serveProbes } from './server/probes';
import { startSyncController } from './sync-controller';
import { CONTROLLER_VERSION, versionLine } from './version';

const PROGRAM = 'secrets-store-sync-controller';
const NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function serviceAccountNamespace(): string | undefined {
  try {
    return fs.readFileSync(NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const command = parseConfig(process.argv.slice(2), {
    env: process.env,
    serviceAccountNamespace,
    random: () => crypto.randomUUID(),
    hostname: () => os.hostname(),
  });
  if (command.kind === 'version') {
    process.stdout.write(`${versionLine()}\n`);
    return;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${flagUsage(PROGRAM, FLAGS)}\n`);
    return;
  }
  const { config } = command;
  const logger = createLogger({ name: PROGRAM, json: config.logJson, verbosity: config.verbosity });
  if (config.errorsOnly) logger.level = 'error';
  for (const warning of command.warnings) logger.warn(warning);

  const connection = kubeConnection(config.kubeconfig, config.inCluster);
  const registry = createRegistry();
  const userAgent = `${PROGRAM}/${CONTROLLER_VERSION}`;
  // No client-side throttling, as upstream's manager (QPS -1): the API server's own fairness applies.
  const kube = new KubeClient(connection, { userAgent, qps: 0, onRequest: kubeRequestCounter(registry) });
  const leaseKube = new KubeClient(connection, { userAgent, qps: 0 });

  logger.info(
    {
      version: CONTROLLER_VERSION,
      providerVolume: config.providerVolume,
      audiences: config.tokenAudiences.length,
      rotationPollIntervalMs: config.rotationPollIntervalMs,
      maxConcurrentReconciles: config.maxConcurrentReconciles,
      leaderElection: config.leaderElection
        ? { namespace: config.leaderElection.namespace, identity: config.leaderElection.identity }
        : false,
    },
    'starting manager',
  );
  const controller = startSyncController({
    config,
    kube,
    leaseKube,
    logger,
    registry,
    onLeaseLost: () => {
      logger.error('leader election lost; exiting so that the kubelet restarts this replica');
      process.exit(1);
    },
  });
  // Registered before anything is awaited: a SIGTERM while the servers start still stops the
  // controller and releases its Lease, so that a standby need not wait for it to expire.
  let probes: Awaited<ReturnType<typeof serveProbes>> | undefined;
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  onShutdown(logger, async () => {
    await controller.stop();
    await probes?.close();
    await metricsServer?.close();
    kube.close();
    leaseKube.close();
  });
  if (config.healthProbeAddress) probes = await serveProbes(config.healthProbeAddress, controller.ready);
  if (config.metricsAddress) metricsServer = await serveMetrics(registry, config.metricsAddress);
  logger.info({ probes: probes?.address, metrics: metricsServer?.address }, 'serving');
}

runProgram(PROGRAM, main);
