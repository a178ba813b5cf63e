#!/usr/bin/env node
// lab-aws-gate: the lab's AWS endpoint in front of moto. Wiring only: parses the flags, builds the
// parts, listens, drains on SIGTERM. e2e/lab/lab.sh starts it after moto; see e2e/lab/README.md.
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { connectionFromKubeconfig, createLogger, KubeClient, onShutdown, runProgram } from '@sscsi/common';
import http from 'node:http';

import type { ListenAddress } from './config';
import { parseConfig, PROGRAM } from './config';
import { GateClock } from './faults';
import { gateParts } from './gate-parts';
import { GateServer } from './gate-server';
import { MotoIam } from './iam-directory';
import { MotoSecrets } from './secret-directory';
import { Upstream } from './upstream';

const KEYS_TTL_MS = 5 * 60_000;
const KEYS_REFETCH_MIN_MS = 10_000;

function listen(handler: http.RequestListener, address: ListenAddress): Promise<http.Server> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve(server));
  });
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger({ name: PROGRAM, json: config.logJson, verbosity: config.verbosity });
  const clock = new GateClock();
  const kube = new KubeClient(connectionFromKubeconfig(config.kubeconfig), { qps: 0, userAgent: PROGRAM });
  const cluster = {
    name: config.clusterName,
    region: config.clusterRegion,
    account: config.account,
    issuer: config.issuer,
  };
  const sts = new STSClient({ region: cluster.region, endpoint: config.upstream, credentials: config.root });
  const motoIam = MotoIam.connect(config.upstream, config.root);
  const motoSecrets = new MotoSecrets(config.upstream, config.root);
  const upstream = new Upstream(config.upstream);
  const gate = new GateServer(
    gateParts({
      cluster,
      upstream,
      root: config.root,
      iam: motoIam,
      secrets: motoSecrets,
      cacheTtlMs: config.cacheTtlMs,
      issuerDocuments: (path) => kube.get(path, { accept: 'application/json, application/jwk-set+json' }),
      issuerKeys: { ttlMs: KEYS_TTL_MS, refetchMinMs: KEYS_REFETCH_MIN_MS },
      assumeRole: async (roleArn, sessionName, tags) => {
        const out = await sts.send(
          new AssumeRoleCommand({
            RoleArn: roleArn,
            RoleSessionName: sessionName,
            Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          }),
        );
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('moto returned no credentials');
        return {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          sessionToken: c.SessionToken,
          expiresAt: c.Expiration?.getTime(),
          arn: out.AssumedRoleUser?.Arn,
        };
      },
      clock,
      logger,
    }),
  );

  const servers: http.Server[] = [];
  for (const address of config.listen) servers.push(await listen(gate.handle, address));
  const agentAddresses: string[] = [];
  for (const address of config.agentListen) {
    try {
      servers.push(await listen(gate.handleAgent, address));
      agentAddresses.push(`${address.host}:${address.port}`);
    } catch (err) {
      // IPv6 loopback is missing in some network namespaces: the agent then answers on IPv4 only.
      if (!address.host.includes(':')) throw err;
      logger.warn({ address, err: (err as Error).message }, 'the Pod Identity agent cannot listen here');
    }
  }
  logger.info(
    {
      listen: config.listen.map((a) => `${a.host}:${a.port}`),
      agent: agentAddresses,
      upstream: config.upstream,
      issuer: config.issuer,
      cluster: cluster.name,
    },
    'lab AWS gate started',
  );
  onShutdown(logger, async () => {
    await Promise.all(
      servers.map(
        (server) =>
          new Promise((resolve) => {
            server.closeAllConnections();
            server.close(resolve);
          }),
      ),
    );
    upstream.close();
    motoIam.close();
    motoSecrets.close();
    sts.destroy();
    kube.close();
  });
}

runProgram(PROGRAM, main);
