// Three simulated nodes against one lab: three drivers with their own --nodeid, one AWS provider
// each. Each driver records, labels and syncs only its own node's volumes.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { KubeList, Secret, SecretProviderClassPodStatus } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';

import { createRole, createSecretProviderClass, createServiceAccount, eventually, metricValue } from '../src';
import { systemSuite } from './system-suite';

const NODES = 3;
const PODS_PER_NODE = 2;
const suite = systemSuite('nodes', { nodes: NODES, runKubelet: false });
const { sfx, ns, systems } = suite;

beforeAll(async () => {
  const kube = suite.system.kube;
  await suite.aws.secretsManager.send(
    new CreateSecretCommand({ Name: `shared-${sfx}`, SecretString: 'node-shared' }),
  );
  const roleArn = await createRole(suite.aws.iam, `nodes-${sfx}`, [
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
      const pod = await suite.createPod(name, 'app', name, { system });
      await system.kubelet.publish(pod);
    }
  }
});

describe('three nodes', () => {
  it("labels each pod status with its own node and syncs each node's Secrets from that node's driver only", async () => {
    const kube = suite.system.kube;
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
