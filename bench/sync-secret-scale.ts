// Secret sync at cluster scale (issue 15, item 4): what one node's driver pays for the synced
// Secrets of other nodes' pods. The node runs OWN pods, each syncing its own Secret; the cluster then
// gains OTHER managed Secrets (labelled secrets-store.csi.k8s.io/managed=true, as other nodes' drivers
// write them). For each, the driver is restarted after this node's Secrets were deleted while it was
// down, and the benchmark reports: the time until they are back, the API requests and bytes the
// driver's start-up took (its own request counter, and the API server's own figures for Secrets),
// the driver's memory once settled, and the driver's CPU while every other Secret is rewritten once
// (a rotation elsewhere in the cluster). Needs the lab: `make bench BENCHES=sync-secret-scale`.
import type { KubeClient, KubeObject, Secret } from '@sscsi/common';
import { connectionFromKubeconfig, Informer, isNotFound, Resources, resourcePath } from '@sscsi/common';
import type { NodeEnvironment } from '@sscsi/e2e';
import {
  createPod,
  createSecretProviderClass,
  eventually,
  metricValue,
  startNodeEnvironment,
} from '@sscsi/e2e';
import fs from 'node:fs';
import https from 'node:https';

import { printTable, rssMiB } from './stats.ts';

const OWN = Number(process.env.BENCH_OWN_PODS ?? 10);
const OTHER = Number(process.env.BENCH_OTHER_SECRETS ?? 5000);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 10_000);
const OWN_LABEL = 'bench.sscsi/own';

/** The API server's Prometheus page, read with the lab's admin credentials. */
async function apiServerMetrics(kubeconfig: string): Promise<string> {
  const c = connectionFromKubeconfig(kubeconfig);
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${c.server}/metrics`,
      { ca: c.ca, cert: c.cert, key: c.key, headers: c.token ? { Authorization: `Bearer ${c.token}` } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

/** Sums the samples of `name` whose labels include all of `labels`. */
function sum(page: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

interface SecretFigures {
  requests: Record<string, number>;
  responseBytes: number;
  listSeconds: number;
}

async function secretFigures(kubeconfig: string): Promise<SecretFigures> {
  const page = await apiServerMetrics(kubeconfig);
  const requests: Record<string, number> = {};
  for (const verb of ['LIST', 'WATCH', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
    requests[verb] = sum(page, 'apiserver_request_total', { resource: 'secrets', verb });
  return {
    requests,
    responseBytes: sum(page, 'apiserver_response_sizes_sum', { resource: 'secrets' }),
    listSeconds: sum(page, 'apiserver_request_duration_seconds_sum', { resource: 'secrets', verb: 'LIST' }),
  };
}

/** User plus system CPU time of a process, in milliseconds. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** A Secret as another node's driver would have synced it: 2 keys, the label, the source, an owner. */
function otherNodesSecret(namespace: string, i: number, owner: KubeObject, round: number): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `other-${i}`,
      namespace,
      labels: { 'secrets-store.csi.k8s.io/managed': 'true', app: `workload-${i % 500}` },
      annotations: {
        'secrets-store.csi.k8s.io/content-source': JSON.stringify({
          pod: `workload-${i}-7d9f8b6c5d-x2k4p`,
          uid: `0f3c2a1e-5b6d-4c7e-8f9a-${String(i).padStart(12, '0')}`,
          changedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, round)).toISOString(),
        }),
      },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          name: owner.metadata.name ?? '',
          uid: owner.metadata.uid ?? '',
        },
      ],
    },
    type: 'Opaque',
    data: {
      username: Buffer.from(`service-${i}`).toString('base64'),
      password: Buffer.from(`round-${round}-${'x'.repeat(24)}-${i}`).toString('base64'),
    },
  };
}

interface Phase {
  other: number;
  restoredMs: number;
  driverRequests: number;
  secrets: SecretFigures;
  rssMiB: number;
  heapMiB: number;
  rotationCpuMs: string;
}

/** Deletes this node's Secrets while the driver is down, restarts it, and measures until settled. */
async function restartPhase(env: NodeEnvironment, other: number): Promise<Omit<Phase, 'rotationCpuMs'>> {
  const own = new Informer<Secret>(env.kube, Resources.secrets, {
    namespace: env.namespace,
    labelSelector: `${OWN_LABEL}=true`,
  });
  own.start();
  await own.waitForSync();
  await env.driver.stop();
  for (let i = 0; i < OWN; i++)
    await env.kube
      .delete(resourcePath(Resources.secrets, env.namespace, `own-${i}`))
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  await eventually('the deletions to reach the watch', () => (own.list().length === 0 ? true : undefined));
  const before = await secretFigures(env.lab.kubeconfig);
  const started = Date.now();
  const driver = await env.restartDriver();
  await eventually(
    "this node's Secrets to be back",
    () => (own.list().length === OWN ? true : undefined),
    120_000,
  );
  const restoredMs = Date.now() - started;
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const after = await secretFigures(env.lab.kubeconfig);
  await own.stop();
  const requests = Object.fromEntries(
    Object.entries(after.requests).map(([verb, n]) => [verb, n - (before.requests[verb] ?? 0)]),
  );
  const rss = [];
  for (let i = 0; i < 3; i++) {
    rss.push(rssMiB(driver.child.pid ?? 0));
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return {
    other,
    restoredMs,
    driverRequests: await metricValue(driver.metricsUrl, 'kubernetes_api_requests_total'),
    secrets: {
      requests,
      responseBytes: after.responseBytes - before.responseBytes,
      listSeconds: after.listSeconds - before.listSeconds,
    },
    rssMiB: Math.max(...rss),
    heapMiB: (await metricValue(driver.metricsUrl, 'nodejs_heap_size_used_bytes')) / 2 ** 20,
  };
}

async function main(): Promise<void> {
  const env = await startNodeEnvironment();
  const kube: KubeClient = env.kube;
  try {
    env.provider.set('username', 'mamezou-tech', 'v1');
    env.provider.set('password', 'my-super-secret-password', 'v1');
    for (let i = 0; i < OWN; i++) {
      await createSecretProviderClass(kube, env.namespace, `own-${i}`, {
        provider: 'test',
        parameters: { objects: 'username,password' },
        secretObjects: [
          {
            secretName: `own-${i}`,
            type: 'Opaque',
            labels: { [OWN_LABEL]: 'true' },
            data: [
              { objectName: 'username', key: 'username' },
              { objectName: 'password', key: 'password' },
            ],
          },
        ],
      });
      const pod = await createPod(kube, env.namespace, `own-${i}`, {
        nodeName: env.nodeName,
        volumes: [{ name: 'v', spc: `own-${i}` }],
      });
      await env.kubelet.publish(pod);
    }
    const phases: Phase[] = [];
    const quiet = await restartPhase(env, 0);
    phases.push({ ...quiet, rotationCpuMs: '-' });

    const owner = await kube.create<KubeObject>(resourcePath(Resources.configMaps, env.namespace), {
      metadata: { name: 'other-nodes-workloads', namespace: env.namespace },
      data: {},
    });
    const indices = Array.from({ length: OTHER }, (_, i) => i);
    const created = Date.now();
    await pool(indices, 16, (i) =>
      kube.create(
        resourcePath(Resources.secrets, env.namespace),
        otherNodesSecret(env.namespace, i, owner, 0),
      ),
    );
    process.stderr.write(`${OTHER} other Secrets created in ${Date.now() - created} ms\n`);
    const busy = await restartPhase(env, OTHER);

    // A rotation elsewhere: every other Secret rewritten once, while this node's driver idles.
    const pid = env.driver.child.pid ?? 0;
    const cpuBefore = cpuMs(pid);
    await pool(indices, 16, async (i) => {
      const path = resourcePath(Resources.secrets, env.namespace, `other-${i}`);
      const current = await kube.get<Secret>(path);
      const next = otherNodesSecret(env.namespace, i, owner, 1);
      await kube.replace(path, {
        ...next,
        metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion },
      });
    });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    phases.push({ ...busy, rotationCpuMs: (cpuMs(pid) - cpuBefore).toFixed(0) });

    printTable(`Driver start-up on a node of ${OWN} syncing pods, with other nodes' managed Secrets`, [
      [
        'other Secrets',
        "node's Secrets back after ms",
        'driver API requests',
        'Secret LIST / GET / POST',
        'Secret response bytes',
        'Secret LIST server s',
        'driver RSS MiB',
        'driver heap used MiB',
        'driver CPU ms while the others rotate once',
      ],
      ...phases.map((p) => [
        String(p.other),
        String(p.restoredMs),
        String(p.driverRequests),
        `${p.secrets.requests.LIST} / ${p.secrets.requests.GET} / ${p.secrets.requests.POST}`,
        String(Math.round(p.secrets.responseBytes)),
        p.secrets.listSeconds.toFixed(3),
        p.rssMiB.toFixed(1),
        p.heapMiB.toFixed(1),
        p.rotationCpuMs,
      ]),
    ]);
  } finally {
    await env.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
