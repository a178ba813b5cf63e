// Sync as Kubernetes Secret, upstream's end-to-end scenarios rewritten against the lab: the kubelet
// stand-in runs as a kubelet would (publishing the pods bound to its node, republishing, unpublishing
// deleted pods), and the lab's real controllers run Deployments and the garbage collector.
import type {
  CoreEvent,
  KubeClient,
  Pod,
  Secret,
  SecretObject,
  SecretProviderClass,
  SecretProviderClassPodStatus,
} from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';
import forge from 'node-forge';
import fs from 'node:fs';
import path from 'node:path';

import type { ClusterRoleBindingManifest, ClusterRoleManifest, Manifest, NodeEnvironment } from '../src';
import {
  createNamespace,
  createPod,
  createSecretProviderClass,
  deleteNamespace,
  deletePod,
  DRIVER_CHART,
  eventually,
  KubeletStandIn,
  metricValue,
  objectOf,
  podEvents,
  rbacObjectsOf,
  renderChart,
  serviceAccountKubeconfig,
  startDriver,
  startNodeEnvironment,
  uniqueSuffix,
  watchWrites,
} from '../src';

const MANAGED = 'secrets-store.csi.k8s.io/managed';
let env: NodeEnvironment;
let kube: KubeClient;

beforeAll(async () => {
  env = await startNodeEnvironment({ rotation: { pollInterval: '1s' } });
  kube = env.kube;
  env.provider.set('username', 'mamezou-tech', 'v1');
  env.provider.set('password', 'my-super-secret-password', 'v1');
  await env.kubelet.start();
});

afterAll(async () => {
  await env?.close();
});

function secretPath(namespace: string, name: string): string {
  return resourcePath(Resources.secrets, namespace, name);
}

async function secretOf(namespace: string, name: string): Promise<Secret | undefined> {
  try {
    return await kube.get<Secret>(secretPath(namespace, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const decoded = (s: Secret | undefined) =>
  Object.fromEntries(
    Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );

const waitForSecret = (
  namespace: string,
  name: string,
  check: (s: Secret) => boolean = () => true,
  timeoutMs = 30_000,
) =>
  eventually(
    `Secret ${namespace}/${name}`,
    async () => {
      const s = await secretOf(namespace, name);
      return s && check(s) ? s : undefined;
    },
    timeoutMs,
  );

const waitForEvent = (pod: Pod, reason: string, pattern: RegExp) =>
  eventually(`a ${reason} event matching ${pattern}`, async () => {
    const events = await podEvents(kube, pod);
    return events.find((e: CoreEvent) => e.reason === reason && pattern.test(e.message));
  });

/** The Events of pods, as `kubectl get events` lists them: name -> count. */
async function eventCounts(pods: Pod[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const pod of pods)
    for (const e of await podEvents(kube, pod))
      if (e.involvedObject.uid === pod.metadata.uid) counts.set(e.metadata.name ?? '', e.count ?? 1);
  return counts;
}

/** Events created or counted again between two snapshots. */
function eventsBetween(before: Map<string, number>, after: Map<string, number>): number {
  let n = 0;
  for (const [name, count] of after) n += count - (before.get(name) ?? 0);
  return n;
}

const statusOf = (pod: Pod, spcName: string) =>
  kube.get<SecretProviderClassPodStatus>(
    resourcePath(
      Resources.secretProviderClassPodStatuses,
      pod.metadata.namespace,
      `${pod.metadata.name}-${pod.metadata.namespace}-${spcName}`,
    ),
  );

const dbSecretObject = (secretName: string, extra: Partial<SecretObject> = {}): SecretObject => ({
  secretName,
  type: 'Opaque',
  data: [
    { objectName: 'username', key: 'username' },
    { objectName: 'password', key: 'password' },
  ],
  ...extra,
});

async function spc(
  namespace: string,
  name: string,
  objects: string,
  secretObjects: SecretObject[],
): Promise<SecretProviderClass> {
  return createSecretProviderClass(kube, namespace, name, {
    provider: 'test',
    parameters: { objects },
    secretObjects,
  });
}

describe("the article's secretObjects", () => {
  it('creates my-db-secret with the keys, the managed label, the user metadata; it goes away with the pod', async () => {
    await spc(env.namespace, 'my-db-secret', 'username,password', [
      dbSecretObject('my-db-secret', { labels: { team: 'db' }, annotations: { note: 'synced' } }),
    ]);
    const pod = await createPod(kube, env.namespace, 'sample-app', {
      nodeName: env.nodeName,
      volumes: [{ name: 'secrets-store-inline', spc: 'my-db-secret' }],
    });
    const secret = await waitForSecret(env.namespace, 'my-db-secret');
    expect(decoded(secret)).toEqual({ username: 'mamezou-tech', password: 'my-super-secret-password' });
    expect(secret.type).toBe('Opaque');
    expect(secret.metadata.labels).toEqual({ team: 'db', [MANAGED]: 'true' });
    expect(secret.metadata.annotations).toMatchObject({ note: 'synced' });
    // A pod without owners: the status owns the Secret, and the pod owns the status.
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'SecretProviderClassPodStatus',
        name: `sample-app-${env.namespace}-my-db-secret`,
      }),
    ]);
    expect(
      await metricValue(env.driver.metricsUrl, 'sync_k8s_secret_total', { provider: 'test' }),
    ).toBeGreaterThanOrEqual(1);
    expect(await metricValue(env.driver.metricsUrl, 'k8s_secret_duration_sec_count')).toBeGreaterThanOrEqual(
      1,
    );

    await deletePod(kube, pod);
    await eventually(
      'the garbage collector to delete the synced Secret',
      async () => ((await secretOf(env.namespace, 'my-db-secret')) ? undefined : true),
      60_000,
    );
  });

  it('feeds a second volume of the pod that mounts the synced Secret', async () => {
    await spc(env.namespace, 'for-volume', 'username,password', [dbSecretObject('volume-secret')]);
    const pod = await kube.create<Pod>(resourcePath(Resources.pods, env.namespace), {
      metadata: { name: 'two-volumes' },
      spec: {
        nodeName: env.nodeName,
        containers: [
          {
            name: 'app',
            image: 'busybox:lab',
            volumeMounts: [
              { name: 'secrets-store-inline', mountPath: '/mnt/secrets-store', readOnly: true },
              { name: 'k8s-secret', mountPath: '/k8s-secret', readOnly: true },
            ],
          },
        ],
        volumes: [
          {
            name: 'secrets-store-inline',
            csi: {
              driver: 'secrets-store.csi.k8s.io',
              readOnly: true,
              volumeAttributes: { secretProviderClass: 'for-volume' },
            },
          },
          { name: 'k8s-secret', secret: { secretName: 'volume-secret' } },
        ],
      },
    });
    const secret = await waitForSecret(env.namespace, 'volume-secret');
    // The kubelet projects each key of the Secret as a file under /k8s-secret: the app must read
    // there what it reads in /mnt/secrets-store, the CSI volume the Secret was built from.
    const csiVolume = env.kubelet.targetPath(pod, 'secrets-store-inline');
    const mounted = Object.fromEntries(
      ['username', 'password'].map((f) => [f, fs.readFileSync(path.join(csiVolume, f), 'utf8')]),
    );
    expect(mounted).toEqual({ username: 'mamezou-tech', password: 'my-super-secret-password' });
    expect(decoded(secret)).toEqual(mounted);
    expect(secret.type).toBe('Opaque');
    // The pod's second volume is this Secret, and the Secret lives as long as the pod's mount does.
    const volume = pod.spec?.volumes?.find((v) => v.name === 'k8s-secret') as
      { secret?: { secretName: string } } | undefined;
    expect(volume?.secret?.secretName).toBe(secret.metadata.name);
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'SecretProviderClassPodStatus',
        name: `two-volumes-${env.namespace}-for-volume`,
      }),
    ]);
  });
});

describe('ownership', () => {
  async function deployment(name: string, spcName: string): Promise<void> {
    await kube.create(`/apis/apps/v1/namespaces/${env.namespace}/deployments`, {
      metadata: { name },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            // Bound to the stand-in's node directly: the lab runs no scheduler.
            nodeName: env.nodeName,
            containers: [{ name: 'app', image: 'busybox:lab', imagePullPolicy: 'Never' }],
            volumes: [
              {
                name: 'secrets-store-inline',
                csi: {
                  driver: 'secrets-store.csi.k8s.io',
                  readOnly: true,
                  volumeAttributes: { secretProviderClass: spcName },
                },
              },
            ],
          },
        },
      },
    });
  }

  const owners = async () => (await secretOf(env.namespace, 'shared-secret'))?.metadata.ownerReferences ?? [];

  it('gives a Secret shared by two Deployments two owners, keeps them on updates, and lets the garbage collector delete it with the last', async () => {
    await spc(env.namespace, 'shared', 'username,password', [dbSecretObject('shared-secret')]);
    await deployment('frontend', 'shared');
    await deployment('backend', 'shared');
    const both = await eventually(
      'two ReplicaSet owners',
      async () => {
        const refs = await owners();
        return refs.length === 2 ? refs : undefined;
      },
      60_000,
    );
    expect(both.map((o) => o.kind)).toEqual(['ReplicaSet', 'ReplicaSet']);
    expect(both.every((o) => !o.controller)).toBe(true);
    expect(both.map((o) => o.name).sort()).toEqual([
      expect.stringMatching(/^backend-/),
      expect.stringMatching(/^frontend-/),
    ]);

    // A rotation rewrites the data and keeps both owners (upstream lost them here).
    env.provider.set('password', 'rotated-password', 'v2');
    await waitForSecret(env.namespace, 'shared-secret', (s) => decoded(s).password === 'rotated-password');
    expect(await owners()).toHaveLength(2);

    await kube.delete(`/apis/apps/v1/namespaces/${env.namespace}/deployments/frontend`, {
      body: { propagationPolicy: 'Background' },
    });
    const one = await eventually(
      'one owner left',
      async () => {
        const refs = await owners();
        return refs.length === 1 ? refs : undefined;
      },
      60_000,
    );
    expect(one[0]?.name).toMatch(/^backend-/);
    expect(await secretOf(env.namespace, 'shared-secret')).toBeDefined();

    await kube.delete(`/apis/apps/v1/namespaces/${env.namespace}/deployments/backend`, {
      body: { propagationPolicy: 'Background' },
    });
    await eventually(
      'the garbage collector to delete the shared Secret',
      async () => ((await secretOf(env.namespace, 'shared-secret')) ? undefined : true),
      90_000,
    );
    env.provider.set('password', 'my-super-secret-password', 'v1');
  });

  it('leaves a Secret it does not manage alone and says why', async () => {
    await kube.create(resourcePath(Resources.secrets, env.namespace), {
      metadata: { name: 'hand-made' },
      stringData: { keep: 'me' },
    });
    await spc(env.namespace, 'clash', 'username', [
      { secretName: 'hand-made', type: 'Opaque', data: [{ objectName: 'username', key: 'username' }] },
    ]);
    const pod = await createPod(kube, env.namespace, 'clash-app', {
      nodeName: env.nodeName,
      volumes: [{ spc: 'clash' }],
    });
    await waitForEvent(pod, 'FailedToCreateSecret', /exists and is not managed by the driver/);
    expect(decoded(await secretOf(env.namespace, 'hand-made'))).toEqual({ keep: 'me' });
  });
});

describe('pods whose mounts disagree about one Secret', () => {
  // What is measured here is a quiet period: writes and Events during it must stay bounded.
  const QUIET_MS = 10_000;

  it('settles on the mount that changed last, then writes and records nothing more', async () => {
    // Two classes naming one secretName, each mounting a different value under the same file
    // name: the pods disagree for good, as pods do when a value changed between their mounts.
    env.provider.set('contested-a', 'value-from-a', 'v1');
    env.provider.set('contested-b', 'value-from-b', 'v1');
    const secretObjects = [
      { secretName: 'contested', type: 'Opaque', data: [{ objectName: 'token', key: 'token' }] },
    ];
    for (const side of ['a', 'b']) {
      await createSecretProviderClass(kube, env.namespace, `contested-${side}`, {
        provider: 'test',
        parameters: { objects: `contested-${side}`, filePath: 'token' },
        secretObjects,
      });
    }
    const podA = await createPod(kube, env.namespace, 'contested-a', {
      nodeName: env.nodeName,
      volumes: [{ spc: 'contested-a' }],
    });
    await waitForSecret(env.namespace, 'contested', (s) => decoded(s).token === 'value-from-a');
    const podB = await createPod(kube, env.namespace, 'contested-b', {
      nodeName: env.nodeName,
      volumes: [{ spc: 'contested-b' }],
    });
    // B mounted last: its value wins, and both pods own the Secret.
    await waitForSecret(
      env.namespace,
      'contested',
      (s) => decoded(s).token === 'value-from-b' && s.metadata.ownerReferences?.length === 2,
    );

    const watch = await watchWrites(kube, Resources.secrets, {
      namespace: env.namespace,
      fieldSelector: 'metadata.name=contested',
    });
    const eventsBefore = await eventCounts([podA, podB]);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const eventsAfter = await eventCounts([podA, podB]);
    await watch.stop();

    expect({ writes: watch.writes(), events: eventsBetween(eventsBefore, eventsAfter) }).toEqual({
      writes: 0,
      events: 0,
    });
    const secret = await secretOf(env.namespace, 'contested');
    expect(decoded(secret)).toEqual({ token: 'value-from-b' });
    // Where the content came from, for whoever wonders why it is B's.
    const source = JSON.parse(
      secret?.metadata.annotations?.['secrets-store.csi.k8s.io/content-source'] ?? '{}',
    ) as { pod?: string; uid?: string };
    expect(source).toMatchObject({ pod: 'contested-b', uid: podB.metadata.uid });
  });
});

describe('classes and pods', () => {
  it('syncs in the namespace of a namespaced class, and two classes on one pod give two Secrets', async () => {
    const other = `sync-${uniqueSuffix()}`;
    await createNamespace(kube, other);
    try {
      await spc(other, 'first', 'username', [
        { secretName: 'first-secret', type: 'Opaque', data: [{ objectName: 'username', key: 'user' }] },
      ]);
      await spc(other, 'second', 'password', [
        { secretName: 'second-secret', type: 'Opaque', data: [{ objectName: 'password', key: 'pass' }] },
      ]);
      await createPod(kube, other, 'two-classes', {
        nodeName: env.nodeName,
        volumes: [{ spc: 'first' }, { spc: 'second' }],
      });
      expect(decoded(await waitForSecret(other, 'first-secret'))).toEqual({ user: 'mamezou-tech' });
      expect(decoded(await waitForSecret(other, 'second-secret'))).toEqual({
        pass: 'my-super-secret-password',
      });
      expect(await secretOf(env.namespace, 'first-secret')).toBeUndefined();
    } finally {
      await deleteNamespace(kube, other);
    }
  });
});

describe('types', () => {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '02';
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  cert.setSubject([{ name: 'commonName', value: 'lab.example' }]);
  cert.setIssuer([{ name: 'commonName', value: 'lab.example' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const pem = `${forge.pki.privateKeyToPem(keys.privateKey)}${forge.pki.certificateToPem(cert)}`;
  const pfx = Buffer.from(
    forge.asn1
      .toDer(forge.pkcs12.toPkcs12Asn1(keys.privateKey, [cert], '', { algorithm: '3des' }))
      .getBytes(),
    'binary',
  );

  it.each([
    ['a PEM bundle', 'pem-cert', pem],
    ['a PFX with an empty password', 'pfx-cert', pfx],
  ])('builds a kubernetes.io/tls Secret from %s', async (_name, object, content) => {
    env.provider.set(object, content, 'v1');
    const secretName = `${object}-tls`;
    await spc(env.namespace, object, object, [
      {
        secretName,
        type: 'kubernetes.io/tls',
        data: [
          { objectName: object, key: 'tls.crt' },
          { objectName: object, key: 'tls.key' },
        ],
      },
    ]);
    await createPod(kube, env.namespace, `${object}-app`, {
      nodeName: env.nodeName,
      volumes: [{ spc: object }],
    });
    const secret = await waitForSecret(env.namespace, secretName);
    expect(secret.type).toBe('kubernetes.io/tls');
    const data = decoded(secret);
    expect(data['tls.crt']).toContain('-----BEGIN CERTIFICATE-----');
    expect(data['tls.key']).toContain('-----BEGIN RSA PRIVATE KEY-----');
  });

  it('reports a missing required key in one Event that counts the retries, and writes nothing', async () => {
    await spc(env.namespace, 'basic', 'username', [
      {
        secretName: 'basic-secret',
        type: 'kubernetes.io/basic-auth',
        data: [{ objectName: 'username', key: 'user' }],
      },
    ]);
    const pod = await createPod(kube, env.namespace, 'basic-app', {
      nodeName: env.nodeName,
      volumes: [{ spc: 'basic' }],
    });
    const event = await waitForEvent(
      pod,
      'FailedToCreateSecret',
      /basic-secret of type kubernetes.io\/basic-auth is missing the key username or password/,
    );
    expect(event.type).toBe('Warning');
    // Each retry fails the same way: one Event whose count grows, as kubectl describe shows it.
    const failures = async () =>
      (await podEvents(kube, pod)).filter((e) => e.reason === 'FailedToCreateSecret');
    const seen = await eventually('three failed attempts', async () => {
      const events = await failures();
      return events.reduce((n, e) => n + (e.count ?? 1), 0) >= 3 ? events : undefined;
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.count).toBeGreaterThanOrEqual(3);
    expect(await secretOf(env.namespace, 'basic-secret')).toBeUndefined();
  });

  it('refuses an objectName that tries to leave the mount', async () => {
    await spc(env.namespace, 'escape', 'username', [
      {
        secretName: 'escape-secret',
        type: 'Opaque',
        data: [{ objectName: '../../../../../etc/hostname', key: 'h' }],
      },
    ]);
    const pod = await createPod(kube, env.namespace, 'escape-app', {
      nodeName: env.nodeName,
      volumes: [{ spc: 'escape' }],
    });
    await waitForEvent(
      pod,
      'FailedToCreateSecret',
      /objectName ".*etc\/hostname" must name a file inside the mount/,
    );
    expect(await secretOf(env.namespace, 'escape-secret')).toBeUndefined();
  });
});

describe('statuses that do not match the pod', () => {
  it("refuses a status pointing at the pod's volume of another class", async () => {
    env.provider.set('decoy', 'not-for-this-secret', 'v1');
    await spc(env.namespace, 'guarded', 'username', [
      { secretName: 'guarded-secret', type: 'Opaque', data: [{ objectName: 'username', key: 'username' }] },
    ]);
    // The other class mounts a file of the same name with another value, and syncs nothing.
    await createSecretProviderClass(kube, env.namespace, 'decoy', {
      provider: 'test',
      parameters: { objects: 'decoy', filePath: 'username' },
    });
    const pod = await createPod(kube, env.namespace, 'guarded-app', {
      nodeName: env.nodeName,
      volumes: [
        { name: 'guarded', spc: 'guarded' },
        { name: 'decoy', spc: 'decoy' },
      ],
    });
    await waitForSecret(env.namespace, 'guarded-secret', (s) => decoded(s).username === 'mamezou-tech');
    const decoyPath = env.kubelet.targetPath(pod, 'decoy');
    await eventually('the decoy volume to be mounted', () =>
      fs.existsSync(path.join(decoyPath, 'username')) ? true : undefined,
    );

    // Someone who may write statuses points the guarded class's status at the decoy volume.
    const status = await statusOf(pod, 'guarded');
    await kube.replace(
      resourcePath(Resources.secretProviderClassPodStatuses, env.namespace, status.metadata.name),
      { ...status, status: { ...status.status, targetPath: decoyPath } },
    );
    const outcome = await eventually('the driver to refuse the status, or to copy the decoy', async () => {
      if (decoded(await secretOf(env.namespace, 'guarded-secret')).username === 'not-for-this-secret')
        return 'copied';
      const events = await podEvents(kube, pod);
      return events.some(
        (e) => e.reason === 'FailedToCreateSecret' && /not a volume of class guarded/.test(e.message),
      )
        ? 'refused'
        : undefined;
    });
    expect(outcome).toBe('refused');
    expect(decoded(await secretOf(env.namespace, 'guarded-secret'))).toEqual({ username: 'mamezou-tech' });
  });
});

describe('finished pods', () => {
  it('leaves the Secret of a pod that Succeeded alone', async () => {
    await spc(env.namespace, 'finished', 'username', [
      { secretName: 'finished-secret', type: 'Opaque', data: [{ objectName: 'username', key: 'username' }] },
    ]);
    const pod = await createPod(kube, env.namespace, 'finished-app', {
      nodeName: env.nodeName,
      volumes: [{ spc: 'finished' }],
    });
    await waitForSecret(env.namespace, 'finished-secret');
    const statusName = `finished-app-${env.namespace}-finished`;
    const skipped = () =>
      env.driver
        .logs()
        .split('\n')
        .filter((l) => l.includes(statusName) && l.includes('the pod has finished')).length;

    // The pod's containers ended (a Job's pod): the kubelet reports Succeeded.
    await kube.patch(
      `${resourcePath(Resources.pods, env.namespace, 'finished-app')}/status`,
      { status: { phase: 'Succeeded' } },
      'merge',
    );
    await eventually('the driver to skip the finished pod', () => (skipped() >= 1 ? true : undefined));
    const warningsBefore = await eventCounts([pod]);
    // The Secret deleted, then the status changed, which makes the driver look again: it still
    // leaves the finished pod alone (a deleted Secret alone wakes nothing until the resync).
    await kube.delete(secretPath(env.namespace, 'finished-secret'));
    await kube.patch(
      resourcePath(Resources.secretProviderClassPodStatuses, env.namespace, statusName),
      { metadata: { annotations: { 'e2e.sscsi/touched': 'true' } } },
      'merge',
    );
    await eventually('the driver to look at the finished pod again', () =>
      skipped() >= 2 ? true : undefined,
    );
    expect(await secretOf(env.namespace, 'finished-secret')).toBeUndefined();
    expect(eventsBetween(warningsBefore, await eventCounts([pod]))).toBe(0);
  });
});

describe('rotation', () => {
  it('updates the synced Secret in the same cycle as the mount, with a Normal event', async () => {
    env.provider.set('token', 'token-v1', 'v1');
    await spc(env.namespace, 'rotating', 'token', [
      { secretName: 'rotating-secret', type: 'Opaque', data: [{ objectName: 'token', key: 'token' }] },
    ]);
    const pod = await createPod(kube, env.namespace, 'rotating-app', {
      nodeName: env.nodeName,
      volumes: [{ name: 'v', spc: 'rotating' }],
    });
    await waitForSecret(env.namespace, 'rotating-secret', (s) => decoded(s).token === 'token-v1');
    env.provider.set('token', 'token-v2', 'v2');
    const target = env.kubelet.targetPath(pod, 'v');
    const secret = await waitForSecret(
      env.namespace,
      'rotating-secret',
      (s) => decoded(s).token === 'token-v2',
    );
    expect(fs.readFileSync(path.join(target, 'token'), 'utf8')).toBe('token-v2');
    expect(decoded(secret).token).toBe('token-v2');
    await waitForEvent(pod, 'SecretRotationComplete', /rotating-secret updated with the mounted contents/);
  });
});

describe('driver restarts', () => {
  it('recreates a synced Secret deleted while the driver was down', async () => {
    await spc(env.namespace, 'restart', 'username,password', [dbSecretObject('restart-secret')]);
    await createPod(kube, env.namespace, 'restart-app', {
      nodeName: env.nodeName,
      volumes: [{ spc: 'restart' }],
    });
    await waitForSecret(env.namespace, 'restart-secret');
    await env.driver.stop();
    await kube.delete(secretPath(env.namespace, 'restart-secret'));
    await env.restartDriver();
    const secret = await waitForSecret(env.namespace, 'restart-secret');
    expect(decoded(secret)).toEqual({ username: 'mamezou-tech', password: 'my-super-secret-password' });
  });
});

const RBAC_API = '/apis/rbac.authorization.k8s.io/v1';

/** The API path of RBAC objects of one kind (ClusterRole, Role, and their bindings). */
function rbacPath(kind: string, namespace: string, name?: string): string {
  const scope = kind.startsWith('Cluster') ? '' : `/namespaces/${namespace}`;
  return `${RBAC_API}${scope}/${kind.toLowerCase()}s${name === undefined ? '' : `/${name}`}`;
}

/**
 * What the driver chart grants its ServiceAccount, as `helm template` renders it into `namespace`
 * with syncSecret.enabled as given: each binding naming that ServiceAccount, with its role.
 */
function driverChartGrants(namespace: string, syncSecret: boolean) {
  const rbac = rbacObjectsOf(
    renderChart(env.lab, DRIVER_CHART, {
      release: 'secrets-store-csi-driver',
      namespace,
      set: { 'syncSecret.enabled': String(syncSecret) },
    }).objects,
  );
  const account = objectOf<Manifest>(rbac, 'ServiceAccount').metadata;
  const bindings = rbac.filter(
    (o): o is ClusterRoleBindingManifest =>
      (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') &&
      (o as ClusterRoleBindingManifest).subjects?.some(
        (s) => s.kind === 'ServiceAccount' && s.name === account.name && s.namespace === account.namespace,
      ),
  );
  return bindings.map((binding) => ({
    binding,
    role: objectOf<ClusterRoleManifest>(rbac, binding.roleRef.kind, binding.roleRef.name),
  }));
}

/**
 * A second node whose driver runs as a ServiceAccount granted exactly the driver chart's roles
 * (rendered with syncSecret.enabled as given), and its kubelet stand-in; `close` removes all of it.
 */
async function restrictedNode(o: { syncSecret: boolean }) {
  const ns = env.namespace;
  const sa = `driver-${uniqueSuffix()}`;
  await kube.create(resourcePath(Resources.serviceAccounts, ns), { metadata: { name: sa } });
  // The chart's roles and bindings under names of their own, bound to this node's ServiceAccount
  // instead of the chart's.
  const suffix = uniqueSuffix();
  const created: string[] = [];
  for (const { binding, role } of driverChartGrants(ns, o.syncSecret)) {
    const roleName = `${role.metadata.name}-${suffix}`;
    const rolePath = rbacPath(role.kind, ns, roleName);
    if (!created.includes(rolePath)) {
      created.push(rolePath);
      await kube.create(rbacPath(role.kind, ns), { ...role, metadata: { name: roleName } });
    }
    const bindingName = `${binding.metadata.name}-${suffix}`;
    created.push(rbacPath(binding.kind, ns, bindingName));
    await kube.create(rbacPath(binding.kind, ns), {
      ...binding,
      metadata: { name: bindingName },
      roleRef: { ...binding.roleRef, name: roleName },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    });
  }
  const kubeconfig = await serviceAccountKubeconfig(
    env.lab,
    kube,
    { namespace: ns, name: sa },
    path.join(env.root, `${sa}.kubeconfig`),
  );
  const nodeName = `${sa}-node`;
  const socket = path.join(env.root, sa, 'csi.sock');
  const driverOptions = { nodeId: nodeName, socketPath: socket, providerDir: env.providerDir, kubeconfig };
  const kubelet = new KubeletStandIn({
    kube,
    nodeName,
    driverSocket: socket,
    rootDir: path.join(env.root, `${sa}-kubelet`),
  });
  await kubelet.registerNode();
  const node = {
    nodeName,
    driver: await startDriver(driverOptions),
    kubelet,
    /** Stops the driver, runs `meanwhile`, and starts it again with the same flags. */
    async restartDriver(meanwhile: () => Promise<unknown>) {
      await node.driver.stop();
      await meanwhile();
      node.driver = await startDriver(driverOptions);
    },
    async close() {
      await kubelet.unpublishAll().catch(() => undefined);
      await kubelet.stop();
      await node.driver.stop();
      for (const object of created.reverse()) await kube.delete(object).catch(() => undefined);
      await kube.delete(resourcePath(Resources.nodes, undefined, nodeName)).catch(() => undefined);
    },
  };
  return node;
}

describe("other nodes' Secrets", () => {
  it("syncs under the chart's roles with syncSecret.enabled=true, and leaves the managed Secrets of other nodes unread and untouched", async () => {
    const ns = env.namespace;
    // Managed Secrets as other nodes' drivers write them, in this very namespace.
    const others: Secret[] = [];
    for (let i = 0; i < 20; i++)
      others.push(
        await kube.create<Secret>(resourcePath(Resources.secrets, ns), {
          metadata: { name: `elsewhere-${i}`, labels: { [MANAGED]: 'true' } },
          type: 'Opaque',
          data: { password: Buffer.from(`value-${i}`).toString('base64') },
        }),
      );
    const node = await restrictedNode({ syncSecret: true });
    const forbidden = (logs: string) =>
      logs.split('\n').filter((l) => /forbidden|lacks the sync RBAC/i.test(l));
    // A call the chart's roles do not allow shows in the driver's log at once: stop waiting there.
    const syncedOrRefused = (what: string, check: (s: Secret) => boolean = () => true) =>
      eventually(`${what}, or a refusal in the driver log`, async () => {
        const refused = forbidden(node.driver.logs());
        if (refused.length > 0) return { refused, secret: undefined };
        const secret = await secretOf(ns, 'by-name-secret');
        return secret && check(secret) ? { refused, secret } : undefined;
      });
    try {
      // The Secret as an earlier type of the class left it: a Secret's type is fixed, so the
      // driver replaces it (delete, then create).
      await kube.create(resourcePath(Resources.secrets, ns), {
        metadata: { name: 'by-name-secret', labels: { [MANAGED]: 'true' } },
        type: 'example.com/earlier',
        data: { username: Buffer.from('earlier').toString('base64') },
      });
      await spc(ns, 'by-name', 'username,password', [dbSecretObject('by-name-secret')]);
      const pod = await createPod(kube, ns, 'by-name-app', {
        nodeName: node.nodeName,
        volumes: [{ spc: 'by-name' }],
      });
      await node.kubelet.publish(pod);
      const replaced = await syncedOrRefused('by-name-secret of type Opaque', (s) => s.type === 'Opaque');
      expect(replaced.refused).toEqual([]);
      expect(decoded(replaced.secret)).toEqual({
        username: 'mamezou-tech',
        password: 'my-super-secret-password',
      });
      // A second pod of the class on this node: the Secret gains its owner, an update.
      const second = await createPod(kube, ns, 'by-name-app-2', {
        nodeName: node.nodeName,
        volumes: [{ spc: 'by-name' }],
      });
      await node.kubelet.publish(second);
      const shared = await syncedOrRefused(
        'by-name-secret owned by both pods',
        (s) => s.metadata.ownerReferences?.length === 2,
      );
      expect(shared.refused).toEqual([]);
      // Another node's Secret rotates meanwhile: nothing this driver reads or needs to hear of.
      await kube.replace(resourcePath(Resources.secrets, ns, 'elsewhere-0'), {
        ...others[0],
        data: { password: Buffer.from('rotated elsewhere').toString('base64') },
      });
      expect(forbidden(node.driver.logs())).toEqual([]);
      // A restart reads only what its statuses name, and puts back what was deleted meanwhile.
      await node.restartDriver(() => kube.delete(secretPath(ns, 'by-name-secret')));
      expect((await syncedOrRefused('by-name-secret again')).refused).toEqual([]);
      for (const other of others.slice(1)) {
        const now = await secretOf(ns, other.metadata.name ?? '');
        expect(now?.metadata.resourceVersion).toBe(other.metadata.resourceVersion);
      }
    } finally {
      await node.close();
    }
  });
});

describe('without the sync RBAC', () => {
  it("under the chart's roles with syncSecret.enabled=false, reads no Secrets while no class syncs any, and says that syncSecret.enabled=false is the cause when one does", async () => {
    const ns = env.namespace;
    const node = await restrictedNode({ syncSecret: false });
    const { driver, kubelet, nodeName } = node;
    try {
      // The chart's default: no class syncs anything, so the driver has no reason to read Secrets.
      await spc(ns, 'nosync-plain', 'username', []);
      const plain = await createPod(kube, ns, 'nosync-plain-app', {
        nodeName,
        volumes: [{ spc: 'nosync-plain' }],
      });
      await kubelet.publish(plain);
      const plainStatus = `nosync-plain-app-${ns}-nosync-plain`;
      const first = await eventually('the sync controller to look at the mount, or a Secret read', () => {
        const logs = driver.logs();
        if (/lacks the sync RBAC|forbidden/i.test(logs)) return 'read Secrets';
        return logs.split('\n').some((l) => l.includes(plainStatus) && l.includes('no secretObjects'))
          ? 'nothing to sync'
          : undefined;
      });
      expect(first).toBe('nothing to sync');

      await spc(ns, 'nosync', 'username', [
        { secretName: 'nosync-secret', type: 'Opaque', data: [{ objectName: 'username', key: 'u' }] },
      ]);
      const pod = await createPod(kube, ns, 'nosync-app', { nodeName, volumes: [{ spc: 'nosync' }] });
      await kubelet.publish(pod);
      await waitForEvent(pod, 'FailedToCreateSecret', /syncSecret\.enabled=true/);
      await eventually('the hint in the driver log', () =>
        /lacks the sync RBAC \(install the chart with syncSecret.enabled=true\)/.test(driver.logs())
          ? true
          : undefined,
      );
      expect(await secretOf(ns, 'nosync-secret')).toBeUndefined();
    } finally {
      await node.close();
    }
  });
});
