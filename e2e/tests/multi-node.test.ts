// Three simulated nodes against one lab: three drivers with their own --nodeid, one AWS provider
// each. Each driver records, labels and syncs only its own node's volumes.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { KubeList, Secret, SecretProviderClassPodStatus } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';

import type { DemoSystem } from '../src';
import {
  awsAdmin,
  createNamespace,
  createPod,
  createRole,
  createServiceAccount,
  createSecretProviderClass,
  deleteNamespace,
  DEMO_REGION,
  eventually,
  metricValue,
  startDemoSystem,
  uniqueSuffix,
} from '../src';

const sfx = uniqueSuffix();
const ns = `nodes-${sfx}`;
const NODES = 3;
const PODS_PER_NODE = 2;
const systems: DemoSystem[] = [];
let aws: ReturnType<typeof awsAdmin>;

beforeAll(async () => {
  for (let i = 0; i < NODES; i++)
    systems.push(await startDemoSystem({ nodeName: `node-${i}-${sfx}`, runKubelet: false }));
  const kube = systems[0]?.kube;
  if (!kube) throw new Error('no node');
  aws = awsAdmin(systems[0]!.lab, DEMO_REGION);
  await createNamespace(kube, ns);
  await aws.secretsManager.send(
    new CreateSecretCommand({ Name: `shared-${sfx}`, SecretString: 'node-shared' }),
  );
  const roleArn = await createRole(aws.iam, `nodes-${sfx}`, [
    { Effect: 'Allow', Action: ['secretsmanager:*'], Resource: ['*'] },
  ]);
  await createServiceAccount(kube, ns, 'app', roleArn);
  for (let n = 0; n < NODES; n++) {
    for (let j = 0; j < PODS_PER_NODE; j++) {
      const name = `n${n}-p${j}`;
      await createSecretProviderClass(kube, ns, name, {
        provider: 'aws',
        parameters: { objects: `- {objectName: shared-${sfx}, objectType: secretsmanager}` },
        secretObjects: [
          {
            secretName: `synced-${name}`,
            type: 'Opaque',
            data: [{ objectName: `shared-${sfx}`, key: 'value' }],
          },
        ],
      });
      const system = systems[n]!;
      const pod = await createPod(kube, ns, name, {
        nodeName: system.nodeName,
        serviceAccountName: 'app',
        volumes: [{ name: 'v', spc: name }],
      });
      await system.kubelet.publish(pod);
    }
  }
});

afterAll(async () => {
  if (systems[0]) await deleteNamespace(systems[0].kube, ns);
  aws?.destroy();
  for (const system of systems) await system.close();
});

describe('three nodes', () => {
  it("labels each pod status with its own node and syncs each node's Secrets from that node's driver only", async () => {
    const kube = systems[0]!.kube;
    const statuses = await kube.get<KubeList<SecretProviderClassPodStatus>>(
      resourcePath(Resources.secretProviderClassPodStatuses, ns),
    );
    expect(statuses.items).toHaveLength(NODES * PODS_PER_NODE);
    for (const s of statuses.items) {
      const node = /^n(\d)-/.exec(s.status?.podName ?? '')?.[1];
      expect(s.metadata.labels?.['internal.secrets-store.csi.k8s.io/node-name']).toBe(
        systems[Number(node)]?.nodeName,
      );
    }
    await eventually('every synced Secret', async () => {
      const secrets = await kube.get<KubeList<Secret>>(resourcePath(Resources.secrets, ns), {
        query: { labelSelector: 'secrets-store.csi.k8s.io/managed=true' },
      });
      return secrets.items.length === NODES * PODS_PER_NODE ? true : undefined;
    });
    for (const system of systems) {
      // Each driver wrote exactly its own node's Secrets, and logged only its own node's pods.
      expect(await metricValue(system.driver.metricsUrl, 'sync_k8s_secret_total')).toBe(PODS_PER_NODE);
      const logged = new Set([...system.driver.logs().matchAll(/pod=([\w.-]+\/[\w.-]+)/g)].map((m) => m[1]));
      const own = systems.indexOf(system);
      expect([...logged].sort()).toEqual(
        Array.from({ length: PODS_PER_NODE }, (_, j) => `${ns}/n${own}-p${j}`),
      );
    }
  });
});
