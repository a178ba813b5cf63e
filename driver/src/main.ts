#!/usr/bin/env -S node --max-semi-space-size=1 --lite-mode
// secrets-store-csi-driver: wiring only. Parses the flags, builds the parts, serves, drains on SIGTERM.
import {
  CorrelatingEventRecorder,
  drainServer,
  listenOnSocket,
  onShutdown,
  ProviderClients,
  runProgram,
  serveMetrics,
  startProgram,
} from '@sscsi/common';

import { FLAGS, parseConfig } from './config';
import { NodeServer } from './csi/node-server';
import { createCsiServer } from './csi/server';
import { KubePodStatusStore } from './kube/pod-status';
import { SecretProviderClassCache } from './kube/secret-provider-classes';
import { DriverMetrics } from './metrics';
import { systemMounter } from './mount/mounter';
import { SecretSync } from './sync/secret-sync';
import { DRIVER_VERSION } from './version';

const PROGRAM = 'secrets-store-csi-driver';
const DRAIN_GRACE_MS = 30_000;

async function main(): Promise<void> {
  const start = startProgram(parseConfig(process.argv.slice(2), process.env), {
    name: PROGRAM,
    version: DRIVER_VERSION,
    flags: FLAGS,
  });
  if (!start) return;
  const { config, logger, registry, kube } = start;
  const metrics = new DriverMetrics(registry);
  const classes = new SecretProviderClassCache(kube, logger);
  const providers = new ProviderClients({
    searchPaths: config.providerPaths,
    maxReceiveMessageSize: config.maxCallRecvMsgSize,
    logger,
  });
  const { mounter, method, fallbackReason } = systemMounter();
  if (fallbackReason)
    logger.warn({ reason: fallbackReason }, `mounting with the ${method}: libc could not be loaded`);
  else logger.info(`mounting with the ${method}`);
  const sync = new SecretSync({
    kube,
    nodeId: config.nodeId,
    driverName: config.driverName,
    classes,
    mounter,
    events: new CorrelatingEventRecorder(kube, {
      component: 'csi-secrets-store-controller',
      host: config.nodeId,
      logger,
    }),
    metrics,
    logger,
  });
  const node = new NodeServer({
    nodeId: config.nodeId,
    rotationEnabled: config.rotationEnabled,
    rotationPollIntervalMs: config.rotationPollIntervalMs,
    mounter,
    providers,
    classes,
    podStatus: new KubePodStatusStore(kube),
    events: new CorrelatingEventRecorder(kube, {
      component: 'csi-secrets-store-rotation',
      host: config.nodeId,
      logger,
    }),
    metrics,
    logger,
    // A rotation rewrites the synced Secrets in the same cycle, not at the next watch event.
    volumeUpdated: (v) => sync.volumeChanged(v.pod.namespace, v.pod.name, v.spcName),
  });

  classes.start();
  sync.start();
  const server = createCsiServer({
    driverName: config.driverName,
    vendorVersion: DRIVER_VERSION,
    nodeId: config.nodeId,
    node,
    logger,
  });
  await listenOnSocket(server, config.socketPath);
  const metricsServer = await serveMetrics(registry, config.metricsAddress);
  if (config.providerHealthCheck) {
    providers.startHealthChecks(config.providerHealthCheckIntervalMs, (provider, healthy) =>
      metrics.providerHealthChecked(provider, healthy),
    );
  }
  logger.info(
    {
      endpoint: config.socketPath,
      nodeId: config.nodeId,
      metrics: metricsServer.address,
      rotation: config.rotationEnabled,
      rotationPollIntervalMs: config.rotationPollIntervalMs,
      providerPaths: config.providerPaths,
      version: DRIVER_VERSION,
      verbosity: config.verbosity,
    },
    'secrets-store-csi-driver started',
  );

  onShutdown(logger, async () => {
    await drainServer(server, config.socketPath, DRAIN_GRACE_MS);
    providers.close();
    await sync.stop();
    await classes.stop();
    await metricsServer.close();
    kube.close();
  });
}

runProgram(PROGRAM, main);
