// Restart on rotation (issue 25, driver #1647) against the lab: the driver with rotation on, the
// test provider and the kubelet stand-in (which publishes the pods of the Deployments the lab's
// controller manager creates), and the sync controller as its chart runs it with
// restartOnRotation.enabled (its ClusterRole applied, the process authenticated as the chart's
// ServiceAccount; no provider sidecar, as no SecretSync is involved). One rotation of one object:
//   - `mounts`, 2 replicas mounting it, opted in: one restart, an Event naming the object, and no
//     second restart once its new pods mount the new version;
//   - `reads-env`, reading through envFrom the Secret the driver syncs from that mount, opted in:
//     one restart, an Event naming the Secret;
//   - `plain`, mounting it without the annotation: untouched;
//   - `misspelt`, annotated "yes": untouched, a Warning Event naming the annotation.
// The Deployments use the Recreate strategy: the stand-in runs no containers, so no pod becomes
// ready, and a rolling update would wait for one; Recreate replaces them all the same.
import type { CoreEvent, KubeList, Pod, SecretProviderClassPodStatus } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';

import type { NodeEnvironment, SyncControllerSystem } from '../src';
import {
  createSecretProviderClass,
  eventually,
  startNodeEnvironment,
  startSyncControllerSystem,
} from '../src';

const OPT_IN = 'secrets-store.csi.x-k8s.io/restart-on-rotation';
const RECORD = 'secrets-store.csi.x-k8s.io/restarted-for';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const SPC = 'rotating';
const OBJECT = 'db-password';
const SYNCED_SECRET = 'rotating-env';

let env: NodeEnvironment;
let ssc: SyncControllerSystem;

interface Deployment {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  spec: { template: { metadata?: { annotations?: Record<string, string> } } };
  status?: { observedGeneration?: number };
}

const deploymentPath = (name?: string) =>
  `/apis/apps/v1/namespaces/${env.namespace}/deployments${name ? `/${name}` : ''}`;

async function deployment(
  name: string,
  o: { replicas: number; optIn?: string; mount?: boolean; envFrom?: string },
): Promise<void> {
  await env.kube.create(deploymentPath(), {
    metadata: { name, annotations: o.optIn === undefined ? {} : { [OPT_IN]: o.optIn } },
    spec: {
      replicas: o.replicas,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          // Bound to the stand-in's node directly: the lab runs no scheduler.
          nodeName: env.nodeName,
          containers: [
            {
              name: 'app',
              image: 'busybox:lab',
              imagePullPolicy: 'Never',
              ...(o.envFrom ? { envFrom: [{ secretRef: { name: o.envFrom } }] } : {}),
            },
          ],
          volumes: o.mount
            ? [
                {
                  name: 'secrets',
                  csi: {
                    driver: 'secrets-store.csi.k8s.io',
                    readOnly: true,
                    volumeAttributes: { secretProviderClass: SPC },
                  },
                },
              ]
            : [],
        },
      },
    },
  });
}

const get = (name: string) => env.kube.get<Deployment>(deploymentPath(name));
const restartedAt = async (name: string) =>
  (await get(name)).spec.template.metadata?.annotations?.[RESTARTED_AT];

async function eventsOn(name: string): Promise<CoreEvent[]> {
  const list = await env.kube.get<KubeList<CoreEvent>>(resourcePath(Resources.events, env.namespace));
  return list.items.filter((e) => e.involvedObject.kind === 'Deployment' && e.involvedObject.name === name);
}

/** The versions of OBJECT the Deployment's live pods mount, as their statuses record them. */
async function mountedVersions(name: string): Promise<string[]> {
  const pods = await env.kube.get<KubeList<Pod>>(resourcePath(Resources.pods, env.namespace), {
    query: { labelSelector: `app=${name}` },
  });
  const statuses = await env.kube.get<KubeList<SecretProviderClassPodStatus>>(
    resourcePath(Resources.secretProviderClassPodStatuses, env.namespace),
  );
  return pods.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => {
      const s = statuses.items.find((x) => x.status?.podName === p.metadata.name);
      return s?.status?.objects?.find((o) => o.id === OBJECT)?.version ?? 'none';
    });
}

beforeAll(async () => {
  env = await startNodeEnvironment({ rotation: { pollInterval: '1s' } });
  env.provider.set(OBJECT, 'restart-first-password', 'v1');
  await createSecretProviderClass(env.kube, env.namespace, SPC, {
    provider: 'test',
    parameters: { objects: OBJECT },
    secretObjects: [
      { secretName: SYNCED_SECRET, type: 'Opaque', data: [{ objectName: OBJECT, key: 'password' }] },
    ],
  });
  await env.kubelet.start();
  ssc = await startSyncControllerSystem({
    sidecar: 'none',
    set: { 'restartOnRotation.enabled': 'true', 'restartOnRotation.delay': '1s' },
  });
});

afterAll(async () => {
  await ssc?.close();
  await env?.close();
});

describe('restart on rotation', () => {
  it('restarts the opted-in Deployments once per rotation, with an Event naming what changed', async () => {
    expect(ssc.controllerArgs).toEqual(
      expect.arrayContaining(['--restart-on-rotation', '--restart-on-rotation-delay=1s']),
    );
    await deployment('mounts', { replicas: 2, optIn: 'true', mount: true });
    await deployment('reads-env', { replicas: 1, optIn: 'true', envFrom: SYNCED_SECRET });
    await deployment('plain', { replicas: 1, mount: true });
    await deployment('misspelt', { replicas: 1, optIn: 'yes', mount: true });

    // First sight: what the pods mount (and the synced Secret's mark) recorded, nothing restarted.
    await eventually(
      'both records',
      async () => {
        const [m, r] = await Promise.all([get('mounts'), get('reads-env')]);
        const mounts = m.metadata.annotations?.[RECORD];
        const readsEnv = r.metadata.annotations?.[RECORD];
        return mounts === `{"${SPC}/${OBJECT}":["v1"]}` &&
          readsEnv?.startsWith(`{"Secret/${SYNCED_SECRET}":["`)
          ? true
          : undefined;
      },
      60_000,
    );
    expect(await mountedVersions('mounts')).toEqual(['v1', 'v1']);
    for (const name of ['mounts', 'reads-env', 'plain', 'misspelt'])
      expect(await restartedAt(name)).toBeUndefined();
    const warning = await eventually('the Warning on misspelt', async () =>
      (await eventsOn('misspelt')).find((e) => e.reason === 'InvalidRestartOnRotation'),
    );
    expect(warning).toMatchObject({
      type: 'Warning',
      message: `annotation ${OPT_IN} is "yes": want "true" or "false"; no restart on rotation until it is corrected`,
    });

    // The rotation: the driver updates both pods' statuses and the synced Secret.
    env.provider.set(OBJECT, 'restart-second-password', 'v2');
    const restarted = await eventually(
      'both restarts',
      async () => {
        const [m, r] = await Promise.all([restartedAt('mounts'), restartedAt('reads-env')]);
        return m && r ? { mounts: m, readsEnv: r } : undefined;
      },
      60_000,
    );
    expect((await eventsOn('mounts')).filter((e) => e.reason === 'RestartedOnRotation')).toEqual([
      expect.objectContaining({
        type: 'Normal',
        message: `rolling restart: mounted objects changed: ${SPC}/${OBJECT}`,
        count: 1,
        source: expect.objectContaining({ component: 'secrets-store-sync-controller' }),
      }),
    ]);
    expect((await eventsOn('reads-env')).filter((e) => e.reason === 'RestartedOnRotation')).toEqual([
      expect.objectContaining({
        message: `rolling restart: synced Secrets changed: ${SYNCED_SECRET}`,
        count: 1,
      }),
    ]);

    // The new pods mount v2: no second restart.
    await eventually(
      "mounts's new pods mounting v2",
      async () => {
        const versions = await mountedVersions('mounts');
        const d = await get('mounts');
        return versions.length === 2 &&
          versions.every((v) => v === 'v2') &&
          d.status?.observedGeneration === d.metadata.generation
          ? true
          : undefined;
      },
      60_000,
    );
    // Several evaluations' worth (the delay is 1 s, the stand-in republishes every 2 s).
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(await restartedAt('mounts')).toBe(restarted.mounts);
    expect(await restartedAt('reads-env')).toBe(restarted.readsEnv);
    // Every version the current pods mounted at the restart: v2, and v1 if a pod had not rotated yet.
    const record = JSON.parse((await get('mounts')).metadata.annotations?.[RECORD] ?? '{}') as Record<
      string,
      string[]
    >;
    expect(Object.keys(record)).toEqual([`${SPC}/${OBJECT}`]);
    expect(record[`${SPC}/${OBJECT}`]).toContain('v2');
    expect(record[`${SPC}/${OBJECT}`]?.every((v) => v === 'v1' || v === 'v2')).toBe(true);
    expect((await eventsOn('mounts')).filter((e) => e.reason === 'RestartedOnRotation')).toHaveLength(1);

    // Neither the Deployment without the opt-in nor the misspelt one was touched.
    for (const name of ['plain', 'misspelt']) {
      const d = await get(name);
      expect(d.spec.template.metadata?.annotations?.[RESTARTED_AT]).toBeUndefined();
      expect(d.metadata.annotations?.[RECORD]).toBeUndefined();
      expect(d.metadata.generation).toBe(1);
    }
    // The one without the opt-in rotated in place all the same, and kept its pod.
    await eventually('plain rotated', async () =>
      (await mountedVersions('plain')).join() === 'v2' ? true : undefined,
    );
  });
});
