// Secret sync benchmark (issue 5): time from a SecretProviderClassPodStatus appearing to its synced
// Secret appearing, for 110 pods published at once on one node; the driver's Kubernetes API
// requests while nothing changes (target: none); and (issue 13, item 17) the Secret writes and
// Events while two pods whose mounts disagree share one Secret (target: none once settled).
// Needs the lab: `make bench`.
import type { CoreEvent, KubeList, Pod, Secret, SecretProviderClassPodStatus } from '@sscsi/common';
import { Informer, Resources, resourcePath } from '@sscsi/common';
import type { NodeEnvironment } from '@sscsi/e2e';
import {
  createPod,
  createSecretProviderClass,
  eventually,
  metricValue,
  startNodeEnvironment,
} from '@sscsi/e2e';

import { percentile, printTable } from './stats.ts';

const PODS = 110;
const QUIET_MS = Number(process.env.BENCH_QUIET_MS ?? 60_000);
const CONTEST_MS = Number(process.env.BENCH_CONTEST_MS ?? 20_000);

/**
 * Two pods, each mounting its own value under one file name, both syncing the Secret `contested`:
 * writes of that Secret and Events on the two pods during CONTEST_MS once both are published.
 */
async function contested(env: NodeEnvironment): Promise<{ writes: number; events: number }> {
  const secretObjects = [
    { secretName: 'contested', type: 'Opaque', data: [{ objectName: 'token', key: 'token' }] },
  ];
  const pods: Pod[] = [];
  for (const side of ['a', 'b']) {
    env.provider.set(`contested-${side}`, `value-from-${side}`, 'v1');
    await createSecretProviderClass(env.kube, env.namespace, `contested-${side}`, {
      provider: 'test',
      parameters: { objects: `contested-${side}`, filePath: 'token' },
      secretObjects,
    });
    const pod = await createPod(env.kube, env.namespace, `contested-${side}`, {
      nodeName: env.nodeName,
      volumes: [{ name: 'v', spc: `contested-${side}` }],
    });
    await env.kubelet.publish(pod);
    pods.push(pod);
    await eventually(`the Secret with ${side}'s value`, async () => {
      const secret = await env.kube
        .get<Secret>(resourcePath(Resources.secrets, env.namespace, 'contested'))
        .catch(() => undefined);
      return Buffer.from(secret?.data?.token ?? '', 'base64').toString() === `value-from-${side}`
        ? true
        : undefined;
    });
  }
  const secrets = new Informer<Secret>(env.kube, Resources.secrets, {
    namespace: env.namespace,
    fieldSelector: 'metadata.name=contested',
  });
  let listed = false;
  let writes = 0;
  const count = () => void (listed && writes++);
  secrets.addHandlers({ added: count, updated: count, deleted: count });
  secrets.start();
  await secrets.waitForSync();
  listed = true;
  const eventTotal = async () => {
    const list = await env.kube.get<KubeList<CoreEvent>>(resourcePath(Resources.events, env.namespace));
    const uids = new Set(pods.map((p) => p.metadata.uid));
    return list.items.filter((e) => uids.has(e.involvedObject.uid)).reduce((n, e) => n + (e.count ?? 1), 0);
  };
  const eventsBefore = await eventTotal();
  await new Promise((resolve) => setTimeout(resolve, CONTEST_MS));
  const events = (await eventTotal()) - eventsBefore;
  await secrets.stop();
  return { writes, events };
}

async function main(): Promise<void> {
  const env = await startNodeEnvironment();
  try {
    env.provider.set('username', 'mamezou-tech', 'v1');
    env.provider.set('password', 'my-super-secret-password', 'v1');
    // One class per pod, each syncing its own Secret: 110 Secrets, as 110 different workloads would.
    for (let i = 0; i < PODS; i++) {
      await createSecretProviderClass(env.kube, env.namespace, `bench-${i}`, {
        provider: 'test',
        parameters: { objects: 'username,password' },
        secretObjects: [
          {
            secretName: `synced-${i}`,
            type: 'Opaque',
            data: [
              { objectName: 'username', key: 'username' },
              { objectName: 'password', key: 'password' },
            ],
          },
        ],
      });
    }
    const statusSeen = new Map<string, number>();
    const secretSeen = new Map<string, number>();
    const statuses = new Informer<SecretProviderClassPodStatus>(
      env.kube,
      Resources.secretProviderClassPodStatuses,
      { namespace: env.namespace },
    );
    const secrets = new Informer<Secret>(env.kube, Resources.secrets, { namespace: env.namespace });
    statuses.addHandlers({
      added: (s) => statusSeen.set(s.status?.secretProviderClassName ?? '', Date.now()),
    });
    secrets.addHandlers({ added: (s) => secretSeen.set(s.metadata.name ?? '', Date.now()) });
    statuses.start();
    secrets.start();
    await Promise.all([statuses.waitForSync(), secrets.waitForSync()]);

    const pods = [];
    for (let i = 0; i < PODS; i++) {
      pods.push(
        await createPod(env.kube, env.namespace, `app-${i}`, {
          nodeName: env.nodeName,
          volumes: [{ name: 'v', spc: `bench-${i}` }],
        }),
      );
    }
    const prepared = await Promise.all(pods.map((p) => env.kubelet.preparePublish(p, 'v')));
    const start = Date.now();
    await Promise.all(prepared.map((p) => env.kubelet.sendPublish(p)));
    const deadline = Date.now() + 120_000;
    while (secretSeen.size < PODS && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const allSyncedMs = Date.now() - start;
    const latencies = Array.from(
      { length: PODS },
      (_, i) => (secretSeen.get(`synced-${i}`) ?? NaN) - (statusSeen.get(`bench-${i}`) ?? NaN),
    ).filter((v) => Number.isFinite(v));

    const requests = () => metricValue(env.driver.metricsUrl, 'kubernetes_api_requests_total');
    // Let the writes settle, then count what the driver asks while nothing changes.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const before = await requests();
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const quiet = (await requests()) - before;

    printTable(`Secret sync, ${PODS} pods published at once`, [
      ['Secrets synced', 'all synced after ms', 'p50 status -> Secret ms', 'p99 status -> Secret ms'],
      [String(secretSeen.size), String(allSyncedMs), percentile(latencies, 50), percentile(latencies, 99)],
    ]);
    printTable('Driver Kubernetes API requests while nothing changes', [
      ['quiet period s', 'requests', 'per synced Secret'],
      [String(QUIET_MS / 1000), String(quiet), (quiet / PODS).toFixed(3)],
    ]);
    await statuses.stop();
    await secrets.stop();

    const contest = await contested(env);
    printTable(`Two pods disagreeing about one Secret, over ${CONTEST_MS / 1000} s once both are published`, [
      ['Secret writes', 'Events created or counted again'],
      [String(contest.writes), String(contest.events)],
    ]);
  } finally {
    await env.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
