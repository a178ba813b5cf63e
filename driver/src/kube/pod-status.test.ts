// The SecretProviderClassPodStatus the driver writes for a mounted volume, against the in-memory
// API server: what a user sees with kubectl, how a status that exists already is updated (a
// StatefulSet pod back on another node), what is read back on a republish, and failures.
import type { SecretProviderClassPodStatus } from '@sscsi/common';
import { isConflict, isForbidden, KubeApiError } from '@sscsi/common';
import { FakeKube } from '@sscsi/common/testing';

import type { PodStatusInput } from './pod-status';
import { KubePodStatusStore, NODE_LABEL, podStatusName } from './pod-status';

const STATUSES = 'secretproviderclasspodstatuses';
const NS = 'shop';

const input = (over: Partial<PodStatusInput> = {}): PodStatusInput => ({
  podName: 'web-0',
  podUid: 'uid-web-0',
  namespace: NS,
  secretProviderClassName: 'db',
  targetPath: '/var/lib/kubelet/pods/uid-web-0/volumes/kubernetes.io~csi/secrets/mount',
  nodeId: 'node-1',
  objects: [
    { id: 'password', version: 'v2' },
    { id: 'api-key', version: 'v7' },
  ],
  ...over,
});

function setup() {
  const api = new FakeKube();
  const store = new KubePodStatusStore(api);
  const stored = () => api.object<SecretProviderClassPodStatus>(STATUSES, NS, 'web-0-shop-db');
  return { api, store, stored };
}

describe('KubePodStatusStore.record', () => {
  it('creates the status named <pod>-<namespace>-<class>, labelled with the node, owned by the pod', async () => {
    const { api, store, stored } = setup();
    await store.record(input());
    expect(podStatusName('web-0', NS, 'db')).toBe('web-0-shop-db');
    expect(api.calls.map((c) => `${c.verb} ${c.path}`)).toEqual([
      `POST /apis/secrets-store.csi.x-k8s.io/v1/namespaces/${NS}/${STATUSES}`,
    ]);
    expect(stored()).toMatchObject({
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClassPodStatus',
      metadata: {
        name: 'web-0-shop-db',
        namespace: NS,
        labels: { [NODE_LABEL]: 'node-1' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: 'uid-web-0' }],
      },
      status: {
        podName: 'web-0',
        secretProviderClassName: 'db',
        mounted: true,
        targetPath: input().targetPath,
        // Sorted by id, whatever order the provider answered in.
        objects: [
          { id: 'api-key', version: 'v7' },
          { id: 'password', version: 'v2' },
        ],
      },
    });
    expect(NODE_LABEL).toBe('internal.secrets-store.csi.k8s.io/node-name');
  });

  it('updates a status that exists: node label, owner and status replaced, the rest kept', async () => {
    const { api, store, stored } = setup();
    // Left by the pod's previous life on another node, with what others added to it.
    api.put<SecretProviderClassPodStatus>(STATUSES, {
      metadata: {
        name: 'web-0-shop-db',
        namespace: NS,
        labels: { [NODE_LABEL]: 'node-0', team: 'payments' },
        annotations: { note: 'kept' },
        finalizers: ['example.com/audit'],
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: 'uid-old' }],
      },
      status: { podName: 'web-0', secretProviderClassName: 'db', mounted: true, objects: [] },
    });
    await store.record(input({ nodeId: 'node-2', objects: [{ id: 'password', version: 'v3' }] }));

    expect(api.calls.map((c) => c.verb)).toEqual(['POST', 'GET', 'PUT']);
    const status = stored();
    expect(status?.metadata.labels).toEqual({ [NODE_LABEL]: 'node-2', team: 'payments' });
    expect(status?.metadata.annotations).toEqual({ note: 'kept' });
    expect(status?.metadata.finalizers).toEqual(['example.com/audit']);
    expect(status?.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: 'uid-web-0' },
    ]);
    expect(status?.status?.objects).toEqual([{ id: 'password', version: 'v3' }]);
    expect(status?.status?.targetPath).toBe(input().targetPath);
  });

  it('records again on every publish: the second record of a volume updates the first', async () => {
    const { store, stored } = setup();
    await store.record(input());
    await store.record(input({ objects: [{ id: 'password', version: 'v3' }] }));
    expect(stored()?.status?.objects).toEqual([{ id: 'password', version: 'v3' }]);
  });

  it('reads again and records when the status changed between its read and its update, keeping that change', async () => {
    const { api, store } = setup();
    await store.record(input());
    const release = api.hold('PUT', STATUSES);
    const recording = store.record(input({ objects: [] }));
    await new Promise((resolve) => setImmediate(resolve));
    const current = api.object<SecretProviderClassPodStatus>(STATUSES, NS, 'web-0-shop-db');
    if (current) api.put(STATUSES, { ...current, metadata: { ...current.metadata, labels: { other: 'x' } } });
    release();
    await recording;
    const stored = api.object<SecretProviderClassPodStatus>(STATUSES, NS, 'web-0-shop-db');
    expect(stored?.metadata.labels).toEqual({ other: 'x', [NODE_LABEL]: 'node-1' });
    expect(stored?.status?.objects).toEqual([]);
  });

  it('records every one of concurrent records of one status (a pod with several volumes of one class)', async () => {
    const { store, stored } = setup();
    await store.record(input());
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        store.record(input({ objects: [{ id: 'password', version: `v${i}` }] })),
      ),
    );
    expect(stored()?.status?.objects?.[0]?.version).toMatch(/^v[0-3]$/);
  });

  it('gives up with the conflict after 5 tries that each lost to another writer', async () => {
    const { api, store } = setup();
    await store.record(input());
    for (let i = 0; i < 5; i++)
      api.failNext('PUT', STATUSES, () => new KubeApiError('PUT', '/apis/x', 409, 'Conflict', 'modified'));
    const err = await store.record(input()).catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect(api.calls.filter((c) => c.verb === 'PUT')).toHaveLength(5);
  });

  it('fails with any other refusal of the create, without reading or updating', async () => {
    const { api, store } = setup();
    api.failNext(
      'POST',
      STATUSES,
      () =>
        new KubeApiError('POST', '/apis/x', 403, 'Forbidden', 'cannot create secretproviderclasspodstatuses'),
    );
    const err = await store.record(input()).catch((e: unknown) => e);
    expect(isForbidden(err)).toBe(true);
    expect(api.calls.map((c) => c.verb)).toEqual(['POST']);
  });

  it('fails when the existing status cannot be read', async () => {
    const { api, store } = setup();
    await store.record(input());
    api.failNext('GET', STATUSES, () => new KubeApiError('GET', '/apis/x', 500, 'InternalError', 'etcd'));
    await expect(store.record(input())).rejects.toThrow('500 InternalError');
  });

  it('stops when its signal is aborted', async () => {
    const { api, store } = setup();
    const controller = new AbortController();
    const release = api.hold('POST', STATUSES);
    const recording = store.record(input(), controller.signal).catch((e: unknown) => e);
    controller.abort();
    release();
    expect(((await recording) as Error).name).toBe('AbortError');
    expect(api.object(STATUSES, NS, 'web-0-shop-db')).toBeUndefined();
  });
});

describe('KubePodStatusStore.objects', () => {
  it('reads back the versions recorded for the volume', async () => {
    const { store } = setup();
    await store.record(input());
    expect(await store.objects(NS, 'web-0', 'db')).toEqual([
      { id: 'api-key', version: 'v7' },
      { id: 'password', version: 'v2' },
    ]);
  });

  it('answers undefined when no status exists, and no objects as an empty list', async () => {
    const { api, store } = setup();
    expect(await store.objects(NS, 'web-0', 'db')).toBeUndefined();
    api.put<SecretProviderClassPodStatus>(STATUSES, {
      metadata: { name: 'web-0-shop-db', namespace: NS },
      status: { podName: 'web-0', mounted: true },
    });
    expect(await store.objects(NS, 'web-0', 'db')).toEqual([]);
  });

  it('fails with any other error than NotFound', async () => {
    const { api, store } = setup();
    api.failNext('GET', STATUSES, () => new KubeApiError('GET', '/apis/x', 403, 'Forbidden', 'no get'));
    await expect(store.objects(NS, 'web-0', 'db')).rejects.toThrow('403 Forbidden');
  });
});
