// Driver benchmark (issue 3): NodePublishVolume latency for a 2-file volume with the test provider
// answering at once, for 1 pod at a time and for 110 pods at once (a node's default pod limit),
// and the driver's RSS idle and with 110 volumes mounted. Needs the lab: `make bench`.
//
// Only the NodePublishVolume call is timed: the kubelet's own work before it (CSIDriver lookup,
// TokenRequest) is prepared first, as it is not the driver's.
import type { Pod } from '@sscsi/common';
import type { NodeEnvironment, PreparedPublish } from '@sscsi/e2e';
import { createPod, createSecretProviderClass, startNodeEnvironment } from '@sscsi/e2e';
import fs from 'node:fs';

import { percentile, printTable, rssMiB } from './stats.ts';

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 60);
const CONCURRENT = 110;

async function pods(env: NodeEnvironment, count: number, prefix: string): Promise<Pod[]> {
  const out: Pod[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await createPod(env.kube, env.namespace, `${prefix}-${i}`, {
        nodeName: env.nodeName,
        volumes: [{ name: 'secrets', spc: 'bench' }],
      }),
    );
  }
  return out;
}

async function timed(env: NodeEnvironment, prepared: PreparedPublish): Promise<number> {
  const start = process.hrtime.bigint();
  await env.kubelet.sendPublish(prepared);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(): Promise<void> {
  const env = await startNodeEnvironment();
  try {
    env.provider.set('username', 'mamezou-tech', 'v1');
    env.provider.set('password', 'my-super-secret-password', 'v1');
    await createSecretProviderClass(env.kube, env.namespace, 'bench', {
      provider: 'test',
      parameters: { objects: 'username,password' },
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleRss = rssMiB(env.driver.child.pid ?? 0);

    // Warm-up: first connection to the provider, first SPC fetch into the informer.
    const warm = await pods(env, 3, 'warm');
    for (const pod of warm) await env.kubelet.sendPublish(await env.kubelet.preparePublish(pod, 'secrets'));
    await env.kubelet.unpublishAll();

    const sequentialPods = await pods(env, SEQUENTIAL, 'seq');
    const sequential: number[] = [];
    for (const pod of sequentialPods) {
      const prepared = await env.kubelet.preparePublish(pod, 'secrets');
      sequential.push(await timed(env, prepared));
      await env.kubelet.unpublishVolume(pod, 'secrets');
    }

    const concurrentPods = await pods(env, CONCURRENT, 'par');
    const prepared = await Promise.all(
      concurrentPods.map((pod) => env.kubelet.preparePublish(pod, 'secrets')),
    );
    const wallStart = Date.now();
    const concurrent = await Promise.all(prepared.map((p) => timed(env, p)));
    const wallMs = Date.now() - wallStart;
    const mounted = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(env.kubeletRoot)).length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const loadedRss = rssMiB(env.driver.child.pid ?? 0);

    printTable('NodePublishVolume, 2-file volume, test provider answering at once', [
      ['case', 'samples', 'p50 ms', 'p99 ms', 'max ms'],
      [
        '1 pod at a time',
        String(sequential.length),
        percentile(sequential, 50),
        percentile(sequential, 99),
        percentile(sequential, 100),
      ],
      [
        `${CONCURRENT} pods at once`,
        String(concurrent.length),
        percentile(concurrent, 50),
        percentile(concurrent, 99),
        percentile(concurrent, 100),
      ],
    ]);
    printTable('Driver memory', [
      ['state', 'RSS MiB'],
      ['idle (after start)', idleRss.toFixed(1)],
      [`${mounted} volumes mounted`, loadedRss.toFixed(1)],
    ]);
    process.stdout.write(`\nwall time for ${CONCURRENT} concurrent publishes: ${wallMs} ms\n`);
  } finally {
    await env.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
