import { LoadingCache } from './loading-cache';

/** A load the test finishes when it wants: the order of events is the test's, not the clock's. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('LoadingCache', () => {
  let now = 0;
  const cache = () => new LoadingCache<string>({ ttlMs: 1000, maxEntries: 3, now: () => now });
  beforeEach(() => {
    now = 0;
  });

  it('serves a loaded value until its time is up', async () => {
    const c = cache();
    let loads = 0;
    const load = async () => `v${++loads}`;
    expect(await c.get('role/a', load)).toBe('v1');
    now = 999;
    expect(await c.get('role/a', load)).toBe('v1');
    now = 1000;
    expect(await c.get('role/a', load)).toBe('v2');
  });

  it('concurrency: fifty callers of one key share one load', async () => {
    const c = cache();
    const d = deferred<string>();
    let loads = 0;
    const callers = Array.from({ length: 50 }, () =>
      c.get('role/a', () => {
        loads += 1;
        return d.promise;
      }),
    );
    d.resolve('loaded');
    expect(await Promise.all(callers)).toEqual(Array(50).fill('loaded'));
    expect(loads).toBe(1);
  });

  it('concurrency: a load that started before a write never fills the cache, and callers after the write load again', async () => {
    const c = cache();
    const before = deferred<string>();
    const first = c.get('role/a', () => before.promise);
    c.invalidate(); // a PutRolePolicy went through the gate while the load was under way
    let afterLoads = 0;
    const second = c.get('role/a', async () => {
      afterLoads += 1;
      return 'after the write';
    });
    before.resolve('before the write');
    expect(await first).toBe('before the write');
    expect(await second).toBe('after the write');
    expect(await c.get('role/a', async () => 'unused')).toBe('after the write');
    expect(afterLoads).toBe(1);
  });

  it('fault: a failed load reaches its callers, is not kept, and the next caller loads again', async () => {
    const c = cache();
    const d = deferred<string>();
    const callers = [c.get('k', () => d.promise), c.get('k', () => d.promise)];
    d.reject(new Error('moto is down'));
    for (const caller of callers) await expect(caller).rejects.toThrow('moto is down');
    expect(c.size).toBe(0);
    expect(await c.get('k', async () => 'recovered')).toBe('recovered');
  });

  it('keeps at most maxEntries, dropping the oldest', async () => {
    const c = cache();
    for (const key of ['a', 'b', 'c', 'd']) await c.get(key, async () => key);
    expect(c.size).toBe(3);
    let reloaded = false;
    await c.get('a', async () => {
      reloaded = true;
      return 'a';
    });
    expect(reloaded).toBe(true);
  });
});
