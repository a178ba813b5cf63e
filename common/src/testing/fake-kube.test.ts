// The fake API server keeps the promises of the real one that code under test relies on; a fake that
// drifted would let those tests pass against behaviour no cluster has.
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors';
import type { KubeList, KubeObject, Secret, TokenRequest, WatchEvent } from '../kube/types';
import { FakeKube } from './fake-kube';

interface ConfigMap extends KubeObject {
  list?: number[];
}

const NS = 'default';
const secrets = `/api/v1/namespaces/${NS}/secrets`;
const secret = (name: string) => `${secrets}/${name}`;

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('FakeKube: objects', () => {
  it('gives each write the next resource version and keeps the uid of an object', async () => {
    const api = new FakeKube();
    const created = await api.create<Secret>(secrets, { metadata: { name: 'a' }, data: { k: 'MQ==' } });
    expect(created.metadata).toMatchObject({ name: 'a', namespace: NS, resourceVersion: '1' });
    const replaced = await api.replace<Secret>(secret('a'), { ...created, data: { k: 'Mg==' } });
    expect(replaced.metadata.resourceVersion).toBe('2');
    expect(replaced.metadata.uid).toBe(created.metadata.uid);
    expect(isAlreadyExists(await failure(api.create(secrets, { metadata: { name: 'a' } })))).toBe(true);
    expect(isNotFound(await failure(api.get(secret('b'))))).toBe(true);
    expect((await api.create<Secret>(secrets, { metadata: { generateName: 'a-' } })).metadata.name).toMatch(
      /^a-./,
    );
  });

  it('refuses a replace or a patch from a stale copy, and a delete whose precondition fails', async () => {
    const api = new FakeKube();
    const first = await api.create<Secret>(secrets, { metadata: { name: 'a' } });
    await api.replace(secret('a'), { ...first, type: 'Opaque' });
    expect(isConflict(await failure(api.replace(secret('a'), first)))).toBe(true);
    expect(isConflict(await failure(api.patch(secret('a'), first, 'merge')))).toBe(true);
    const stale = { body: { preconditions: { resourceVersion: first.metadata.resourceVersion } } };
    expect(isConflict(await failure(api.delete(secret('a'), stale)))).toBe(true);
    // Without a resourceVersion a replace is unconditional, as the API server's own types allow.
    const { resourceVersion: _, ...metadata } = first.metadata;
    await expect(api.replace(secret('a'), { ...first, metadata })).resolves.toBeDefined();
    await api.delete(secret('a'));
    expect(api.object('secrets', NS, 'a')).toBeUndefined();
  });

  it('merges a merge patch: objects key by key, null removes, lists replaced', async () => {
    const api = new FakeKube();
    api.put('configmaps', {
      metadata: { name: 'c', namespace: NS, labels: { a: '1', b: '2' } },
      list: [1, 2],
    });
    const patched = await api.patch<ConfigMap>(
      `/api/v1/namespaces/${NS}/configmaps/c`,
      { metadata: { labels: { a: null, c: '3' } }, list: [3] },
      'merge',
    );
    expect(patched.metadata.labels).toEqual({ b: '2', c: '3' });
    expect(patched.list).toEqual([3]);
    await expect(api.patch(`/api/v1/namespaces/${NS}/configmaps/c`, [], 'json')).rejects.toThrow('415');
  });

  it('replaces only the status through the status subresource, with optimistic concurrency', async () => {
    const api = new FakeKube();
    const path = `/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/${NS}/secretsyncs/s`;
    const stored = api.put('secretsyncs', { metadata: { name: 's', namespace: NS }, spec: { a: 1 } });
    const updated = await api.replace<KubeObject & { spec: unknown; status: unknown }>(`${path}/status`, {
      ...stored,
      spec: { a: 2 },
      status: { syncHash: 'h' },
    });
    expect(updated).toMatchObject({ spec: { a: 1 }, status: { syncHash: 'h' } });
    expect(isConflict(await failure(api.replace(`${path}/status`, { ...stored, status: {} })))).toBe(true);
    // A fault for the resource catches its status writes; one for the subresource only those.
    api.failNext('PUT', 'secretsyncs/status', () => new Error('status refused'));
    await expect(api.replace(`${path}/status`, updated)).rejects.toThrow('status refused');
    await expect(api.replace(path, updated)).resolves.toBeDefined();
  });

  it('checks a dry run without storing it, and applies: creating, then merging', async () => {
    const api = new FakeKube();
    const dry = { query: { dryRun: 'All' } };
    await api.create(secrets, { metadata: { name: 'a' }, data: { k: 'MQ==' } }, dry);
    expect(api.object('secrets', NS, 'a')).toBeUndefined();
    await api.patch(secret('a'), { metadata: { name: 'a' }, data: { k: 'MQ==' } }, 'apply', dry);
    expect(api.object('secrets', NS, 'a')).toBeUndefined();
    await api.patch(secret('a'), { metadata: { name: 'a' }, data: { k: 'MQ==' } }, 'apply');
    await api.patch(secret('a'), { metadata: { labels: { l: '' } }, data: { j: 'Mg==' } }, 'apply');
    expect(api.object<Secret>('secrets', NS, 'a')).toMatchObject({
      metadata: { labels: { l: '' } },
      data: { k: 'MQ==', j: 'Mg==' },
    });
    const seen = await api.patch<Secret>(secret('a'), {}, 'merge', dry);
    expect(seen.data).toEqual({ k: 'MQ==', j: 'Mg==' });
    expect(api.object('secrets', NS, 'a')?.metadata.resourceVersion).toBe(seen.metadata.resourceVersion);
    expect(isAlreadyExists(await failure(api.create(secrets, { metadata: { name: 'a' } }, dry)))).toBe(true);
  });

  it("issues a ServiceAccount's tokens, and answers 404 for a ServiceAccount that does not exist", async () => {
    const api = new FakeKube();
    api.put('serviceaccounts', { metadata: { name: 'app', namespace: NS } });
    const request = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['aud'], expirationSeconds: 600 },
    };
    const answer = await api.create<TokenRequest>(
      `/api/v1/namespaces/${NS}/serviceaccounts/app/token`,
      request,
    );
    expect(answer.spec).toEqual({ audiences: ['aud'], expirationSeconds: 600 });
    expect(answer.status?.token).toMatch(/^fake-token-/);
    expect(Date.parse(answer.status?.expirationTimestamp ?? '') - Date.now()).toBeGreaterThan(590_000);
    const missing = await failure(api.create(`/api/v1/namespaces/${NS}/serviceaccounts/none/token`, request));
    expect(isNotFound(missing)).toBe(true);
    expect((missing as Error).message).toContain('serviceaccounts "none" not found');
  });

  it('lists with equality selectors on labels and fields', async () => {
    const api = new FakeKube();
    api.put('pods', {
      metadata: { name: 'a', namespace: NS, labels: { app: 'web' } },
      spec: { nodeName: 'n1' },
    });
    api.put('pods', {
      metadata: { name: 'b', namespace: NS, labels: { app: 'db' } },
      spec: { nodeName: 'n2' },
    });
    api.put('pods', { metadata: { name: 'c', namespace: 'other' }, spec: { nodeName: 'n1' } });
    const names = async (path: string, query: Record<string, string>) =>
      (await api.get<KubeList<Secret>>(path, { query })).items.map((o) => o.metadata.name);
    expect(await names('/api/v1/pods', { fieldSelector: 'spec.nodeName=n1' })).toEqual(['a', 'c']);
    expect(await names('/api/v1/pods', { labelSelector: 'app!=web' })).toEqual(['b', 'c']);
    expect(await names('/api/v1/pods', { labelSelector: 'app' })).toEqual(['a', 'b']);
    expect(await names(`/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=web' })).toEqual(['a']);
  });

  it('reads objects back as a list would, in the order they were created; calls keep their deadline', async () => {
    const api = new FakeKube();
    await api.create(secrets, { metadata: { name: 'b' } }, { timeoutMs: 5000 });
    await api.create('/api/v1/namespaces/other/secrets', { metadata: { name: 'a' } });
    await api.patch(secret('b'), { type: 'Opaque' }, 'merge');
    const names = (namespace?: string) => api.objects('secrets', namespace).map((o) => o.metadata.name);
    expect(names()).toEqual(['b', 'a']);
    expect(names(NS)).toEqual(['b']);
    expect(names(NS)).toEqual((await api.get<KubeList<Secret>>(secrets)).items.map((o) => o.metadata.name));
    expect(api.calls.map((c) => c.timeoutMs)).toEqual([5000, undefined, undefined, undefined]);
  });
});

describe('FakeKube: watches', () => {
  /** The name of an object, the version of a bookmark, the code and reason of an ERROR's Status. */
  const summary = (e: WatchEvent<Secret>): string => {
    if (e.type === 'BOOKMARK') return e.object.metadata.resourceVersion ?? '';
    if (e.type !== 'ERROR') return e.object.metadata.name ?? '';
    return `${e.object.code ?? ''} ${e.object.reason ?? ''}`;
  };
  const watch = (api: FakeKube, query: Record<string, string | boolean>, signal?: AbortSignal) => {
    const events: string[] = [];
    const done = api.watch<Secret>(
      secrets,
      query,
      (e: WatchEvent<Secret>) => events.push(`${e.type} ${summary(e)}`),
      signal,
    );
    return { events, done };
  };

  it('starts after the version it is given, replaying what changed since; without one, with the state', async () => {
    const api = new FakeKube();
    api.put('secrets', { metadata: { name: 'a', namespace: NS } });
    const listed = api.resourceVersion;
    api.put('secrets', { metadata: { name: 'b', namespace: NS } });
    api.remove('secrets', NS, 'a');
    const fromList = watch(api, { resourceVersion: listed });
    const fromNow = watch(api, {});
    await new Promise((resolve) => setImmediate(resolve));
    api.put('secrets', { metadata: { name: 'c', namespace: NS } });
    expect(fromList.events).toEqual(['ADDED b', 'DELETED a', 'ADDED c']);
    expect(fromNow.events).toEqual(['ADDED b', 'ADDED c']);
    api.endWatches();
    await expect(Promise.all([fromList.done, fromNow.done])).resolves.toBeDefined();
  });

  it('answers a version older than the last compaction with 410 Gone, and ends the watch', async () => {
    const api = new FakeKube();
    api.put('secrets', { metadata: { name: 'a', namespace: NS } });
    api.compact();
    const old = watch(api, { resourceVersion: '0' });
    await old.done;
    expect(old.events).toEqual(['ERROR 410 Expired']);
    // A handler that throws on the ERROR event, as the informer does, ends the watch with its error.
    const rejected = api.watch(secrets, { resourceVersion: '0' }, () => {
      throw new Error('gone');
    });
    await expect(rejected).rejects.toThrow('gone');
    expect(api.watching('secrets')).toBe(0);
  });

  it('sends bookmarks only to watches that asked for them, and ends quietly when aborted', async () => {
    const api = new FakeKube();
    const controller = new AbortController();
    const asked = watch(api, { resourceVersion: '0', allowWatchBookmarks: true }, controller.signal);
    const not = watch(api, { resourceVersion: '0' });
    await new Promise((resolve) => setImmediate(resolve));
    api.put('configmaps', { metadata: { name: 'x', namespace: NS } });
    api.bookmark('secrets');
    expect(asked.events).toEqual(['BOOKMARK 1']);
    expect(not.events).toEqual([]);
    controller.abort();
    await expect(asked.done).resolves.toBeUndefined();
    expect(api.watching('secrets')).toBe(1);
    api.endWatches('secrets');
    await not.done;
  });
});
