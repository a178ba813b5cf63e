// The informer against the in-memory API server: the first list, the watch that follows from its
// resource version, a watch the server ends (resumed, not listed again), an expired version (410:
// listed again at once), bookmarks, failures (listed again after a pause), and the handlers' view.
import { FakeKube } from '../testing';
import { KubeApiError } from './errors';
import { Informer } from './informer';
import { Resources } from './resources';
import type { Pod } from './types';

const PODS = 'pods';
const NS = 'default';

/** Lets the fake server and the informer run until nothing is left to do but wait. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

function setup(options: { labelSelector?: string; namespace?: string } = {}) {
  const api = new FakeKube();
  const seen: string[] = [];
  const errors: unknown[] = [];
  const informer = new Informer<Pod>(api, Resources.pods, { ...options, onError: (err) => errors.push(err) });
  informer.addHandlers({
    added: (pod) => seen.push(`added ${pod.metadata.name} ${pod.status?.phase ?? ''}`),
    updated: (pod, old) =>
      seen.push(`updated ${pod.metadata.name} ${old.status?.phase ?? ''}->${pod.status?.phase ?? ''}`),
    deleted: (pod) => seen.push(`deleted ${pod.metadata.name}`),
  });
  const put = (name: string, phase: string, labels?: Record<string, string>) =>
    api.put<Pod>(PODS, { metadata: { name, namespace: NS, labels }, status: { phase } });
  const watches = () => api.calls.filter((c) => c.verb === 'WATCH');
  const lastWatch = () => watches().at(-1)?.query ?? {};
  /** Starts and waits until the informer has listed and its watch is open. */
  const started = async () => {
    informer.start();
    await informer.waitForSync();
    await until('the watch', () => api.watching(PODS) === 1);
  };
  return { api, informer, seen, errors, put, watches, lastWatch, started };
}

let stopping: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stopping) await stop();
  stopping = [];
  jest.useRealTimers();
});

function running(s: ReturnType<typeof setup>): ReturnType<typeof setup> {
  stopping.push(() => s.informer.stop());
  return s;
}

describe('Informer: the first list and the watch', () => {
  it('lists, reports what it found, then watches from the list resource version', async () => {
    const s = running(setup({ labelSelector: 'app=web' }));
    s.put('a', 'Running', { app: 'web' });
    s.put('other', 'Running', { app: 'db' });
    expect(s.informer.hasSynced).toBe(false);
    await s.started();

    expect(s.informer.hasSynced).toBe(true);
    expect(s.seen).toEqual(['added a Running']);
    expect(s.api.count('LIST', PODS)).toBe(1);
    const query = s.lastWatch();
    expect(query).toMatchObject({
      labelSelector: 'app=web',
      resourceVersion: s.api.resourceVersion,
      allowWatchBookmarks: true,
    });
    // The server ends a watch at a random time between 4 and 6 minutes: re-watches spread out.
    expect(Number(query.timeoutSeconds)).toBeGreaterThanOrEqual(240);
    expect(Number(query.timeoutSeconds)).toBeLessThan(360);

    s.put('b', 'Pending', { app: 'web' });
    s.put('b', 'Running', { app: 'web' });
    s.api.remove(PODS, NS, 'a');
    expect(s.seen).toEqual(['added a Running', 'added b Pending', 'updated b Pending->Running', 'deleted a']);
    expect(s.informer.get(NS, 'b')?.status?.phase).toBe('Running');
    expect(s.informer.get(NS, 'a')).toBeUndefined();
    expect(s.informer.list().map((p) => p.metadata.name)).toEqual(['b']);
  });

  it('misses nothing that changes between the list and the watch', async () => {
    const s = running(setup());
    s.put('a', 'Pending');
    const release = s.api.hold('WATCH', PODS);
    s.informer.start();
    await s.informer.waitForSync();
    s.put('a', 'Running');
    s.put('b', 'Pending');
    release();
    await until('the watch', () => s.api.watching(PODS) === 1);
    expect(s.seen).toEqual(['added a Pending', 'updated a Pending->Running', 'added b Pending']);
  });

  it('lists in its namespace only when given one', async () => {
    const s = running(setup({ namespace: 'shop' }));
    s.api.put<Pod>(PODS, { metadata: { name: 'cart', namespace: 'shop' } });
    s.put('a', 'Running');
    await s.started();
    expect(s.informer.list().map((p) => p.metadata.name)).toEqual(['cart']);
    expect(s.watches()[0]?.path).toBe('/api/v1/namespaces/shop/pods');
  });

  it('resolves waitForSync for every waiter once, and a waiter whose signal aborts stops waiting', async () => {
    const s = running(setup());
    const release = s.api.hold('LIST', PODS);
    s.informer.start();
    const gaveUp = new AbortController();
    const impatient = s.informer.waitForSync(gaveUp.signal);
    const patient = [s.informer.waitForSync(), s.informer.waitForSync()];
    gaveUp.abort(new Error('shutting down'));
    await expect(impatient).rejects.toThrow('shutting down');
    release();
    await expect(Promise.all(patient)).resolves.toEqual([undefined, undefined]);
    await expect(s.informer.waitForSync()).resolves.toBeUndefined();
  });
});

describe('Informer: when the watch ends', () => {
  it('resumes a watch the server ended from the last version it saw, without listing again', async () => {
    const s = running(setup());
    s.put('a', 'Pending');
    await s.started();
    s.put('a', 'Running');
    const seenVersion = s.api.resourceVersion;
    const release = s.api.hold('WATCH', PODS);
    s.api.endWatches(PODS);
    await until('the second watch', () => s.watches().length === 2);
    // Changes while no watch is open come with the next one.
    s.put('b', 'Pending');
    release();
    await until('the watch', () => s.api.watching(PODS) === 1);

    expect(s.watches()[1]?.query?.resourceVersion).toBe(seenVersion);
    expect(s.api.count('LIST', PODS)).toBe(1);
    expect(s.seen).toEqual(['added a Pending', 'updated a Pending->Running', 'added b Pending']);
    expect(s.errors).toEqual([]);
  });

  it('lists again at once when its version has expired (410), and reports only what differs', async () => {
    const s = running(setup());
    s.put('kept', 'Running');
    s.put('changed', 'Pending');
    s.put('gone', 'Running');
    await s.started();
    const release = s.api.hold('WATCH', PODS);
    s.api.endWatches(PODS);
    await until('the second watch', () => s.watches().length === 2);
    // Missed while not watching, and then forgotten by the server.
    s.put('changed', 'Running');
    s.api.remove(PODS, NS, 'gone');
    s.put('new', 'Pending');
    s.api.compact();
    s.seen.length = 0;
    release();
    await until('a watch after the second list', () => s.api.count('LIST', PODS) === 2);
    await until('the watch', () => s.api.watching(PODS) === 1);

    expect(s.seen.sort()).toEqual(['added new Pending', 'deleted gone', 'updated changed Pending->Running']);
    expect(
      s.informer
        .list()
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['changed', 'kept', 'new']);
    expect(s.lastWatch().resourceVersion).toBe(s.api.resourceVersion);
    // Expected of any long watch: neither an error to report nor a reason to wait.
    expect(s.errors).toEqual([]);
  });

  it('lists again at once when the watch request itself is answered 410 Gone', async () => {
    const s = running(setup());
    s.put('a', 'Running');
    await s.started();
    s.api.failNext('WATCH', PODS, () => new KubeApiError('WATCH', '/api/v1/pods', 410, 'Gone', 'expired'));
    s.api.endWatches(PODS);
    await until('a second list', () => s.api.count('LIST', PODS) === 2);
    await until('the watch', () => s.api.watching(PODS) === 1);
    expect(s.errors).toEqual([]);
    expect(s.seen).toEqual(['added a Running']);
  });

  it('moves its version on with bookmarks, so a resumed watch needs no list after compaction', async () => {
    const s = running(setup());
    s.put('a', 'Running');
    await s.started();
    // Other resources change: the pods' watch sees none of it, only the bookmark's version.
    for (let i = 0; i < 5; i++) s.api.put('secrets', { metadata: { name: `s${i}`, namespace: NS } });
    s.api.bookmark(PODS);
    s.api.compact();
    s.api.endWatches(PODS);
    await until('the second watch', () => s.watches().length === 2 && s.api.watching(PODS) === 1);

    expect(s.watches()[1]?.query?.resourceVersion).toBe(s.api.resourceVersion);
    expect(s.api.count('LIST', PODS)).toBe(1);
    expect(s.seen).toEqual(['added a Running']);
    expect(s.errors).toEqual([]);
  });

  it('without a bookmark, the same compaction costs a list', async () => {
    const s = running(setup());
    s.put('a', 'Running');
    await s.started();
    for (let i = 0; i < 5; i++) s.api.put('secrets', { metadata: { name: `s${i}`, namespace: NS } });
    s.api.compact();
    s.api.endWatches(PODS);
    await until('a second list', () => s.api.count('LIST', PODS) === 2);
    await until('the watch', () => s.api.watching(PODS) === 1);
    expect(s.seen).toEqual(['added a Running']);
  });
});

describe('Informer: faults', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));

  it('reports a failed first list and tries again after a pause, then syncs', async () => {
    const s = running(setup());
    s.put('a', 'Running');
    s.api.failNext('LIST', PODS, () => new KubeApiError('GET', '/api/v1/pods', 500, 'InternalError', 'etcd'));
    s.informer.start();
    await until('the error', () => s.errors.length === 1);
    expect((s.errors[0] as KubeApiError).status).toBe(500);
    expect(s.informer.hasSynced).toBe(false);

    await jest.advanceTimersByTimeAsync(499);
    expect(s.api.count('LIST', PODS)).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    await s.informer.waitForSync();
    expect(s.api.count('LIST', PODS)).toBe(2);
    expect(s.seen).toEqual(['added a Running']);
  });

  it('after a failed watch, lists again after a pause that doubles with each failure', async () => {
    const s = running(setup());
    await s.started();
    const down = () => new KubeApiError('WATCH', '/api/v1/pods', 503, 'ServiceUnavailable', 'restarting');
    s.api.failNext('WATCH', PODS, down);
    s.api.failNext('WATCH', PODS, down);
    s.api.endWatches(PODS);
    await until('the first error', () => s.errors.length === 1);
    expect(s.api.count('LIST', PODS)).toBe(1);

    await jest.advanceTimersByTimeAsync(500);
    await until('the second error', () => s.errors.length === 2);
    expect(s.api.count('LIST', PODS)).toBe(2);
    await jest.advanceTimersByTimeAsync(999);
    expect(s.api.count('LIST', PODS)).toBe(2);
    await jest.advanceTimersByTimeAsync(1);
    await until('the watch', () => s.api.watching(PODS) === 1);
    expect(s.api.count('LIST', PODS)).toBe(3);
  });

  it('treats an ERROR event other than 410 as a failure: reported, then listed again after a pause', async () => {
    const s = running(setup());
    s.put('a', 'Running');
    await s.started();
    s.api.watchError(PODS, 500, 'InternalError', 'etcd leader changed');
    await until('the error', () => s.errors.length === 1);
    expect((s.errors[0] as KubeApiError).status).toBe(500);
    await jest.advanceTimersByTimeAsync(500);
    await until('the watch', () => s.api.watching(PODS) === 1);
    expect(s.api.count('LIST', PODS)).toBe(2);
  });

  it('reports a handler that throws, and the other handlers and the cache carry on', async () => {
    const s = running(setup());
    s.informer.addHandlers({
      added: () => {
        throw new Error('handler bug');
      },
    });
    await s.started();
    s.put('a', 'Running');
    expect(s.seen).toEqual(['added a Running']);
    expect(s.errors).toEqual([new Error('handler bug')]);
    expect(s.informer.get(NS, 'a')).toBeDefined();
    s.put('a', 'Succeeded');
    expect(s.informer.get(NS, 'a')?.status?.phase).toBe('Succeeded');
    expect(s.api.count('LIST', PODS)).toBe(1);
  });

  it('stops: the watch ends, no pause is waited out and nothing more is asked', async () => {
    const s = setup();
    await s.started();
    await s.informer.stop();
    expect(s.api.watching(PODS)).toBe(0);
    const calls = s.api.calls.length;
    await jest.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(s.api.calls.length).toBe(calls);

    const failing = setup();
    failing.api.failNext('LIST', PODS, () => new Error('connect ECONNREFUSED'));
    failing.informer.start();
    await until('the error', () => failing.errors.length === 1);
    // Stopping during the pause after a failure returns at once.
    await failing.informer.stop();
    expect(failing.api.count('LIST', PODS)).toBe(1);
  });

  it('keeps and hands on only what its transform returns, from the list and from the watch', async () => {
    const api = new FakeKube();
    api.put<Pod>(PODS, { metadata: { name: 'a', namespace: NS }, spec: { nodeName: 'n1' } });
    const handed: Array<Pod['spec']> = [];
    const informer = new Informer<Pod>(api, Resources.pods, {
      transform: (pod) => ({ metadata: pod.metadata, spec: { nodeName: 'kept' } }),
    });
    informer.addHandlers({
      added: (pod) => handed.push(pod.spec),
      updated: (pod) => handed.push(pod.spec),
    });
    stopping.push(() => informer.stop());
    informer.start();
    await informer.waitForSync();
    await until('the watch', () => api.watching(PODS) === 1);
    api.put<Pod>(PODS, { metadata: { name: 'b', namespace: NS }, spec: { nodeName: 'n2' } });
    api.put<Pod>(PODS, { metadata: { name: 'a', namespace: NS }, spec: { nodeName: 'n3' } });
    await until('both events', () => handed.length === 3);
    expect(handed).toEqual([{ nodeName: 'kept' }, { nodeName: 'kept' }, { nodeName: 'kept' }]);
    expect(informer.list().map((p) => p.spec)).toEqual([{ nodeName: 'kept' }, { nodeName: 'kept' }]);
  });
});
