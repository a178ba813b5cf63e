import fc from 'fast-check';

import { DEFAULT_VALUE_CACHE_IDLE_MS, DEFAULT_VALUE_CACHE_MAX_BYTES, ValueCache } from './value-cache';

const KiB = 1024;
const MiB = 1024 * KiB;
const MINUTE = 60_000;

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const value = (text: string) => ({ version: 'v1', value: Buffer.from(text) });

describe('ValueCache limits', () => {
  it('does not keep 2,000 volumes of 64 KiB values', () => {
    const cache = new ValueCache();
    for (let i = 0; i < 2000; i++) {
      cache.set(`/pods/${i}/mount`, 'us-east-1', 's', { version: 'v1', value: Buffer.alloc(64 * KiB, i) });
    }
    let retained = 0;
    for (let i = 0; i < 2000; i++)
      retained += cache.get(`/pods/${i}/mount`, 'us-east-1', 's', 'v1')?.length ?? 0;
    expect(retained).toBeLessThanOrEqual(DEFAULT_VALUE_CACHE_MAX_BYTES);
    expect(cache.bytes).toBeLessThanOrEqual(DEFAULT_VALUE_CACHE_MAX_BYTES);
    // The newest volumes are the ones kept.
    expect(cache.get('/pods/1999/mount', 'us-east-1', 's', 'v1')?.[0]).toBe(1999 & 0xff);
    expect(cache.get('/pods/0/mount', 'us-east-1', 's', 'v1')).toBeUndefined();
  });

  it('drops a value left unused for longer than the idle time, without any other use of the cache', () => {
    const time = clock();
    const cache = new ValueCache({ now: time.now });
    cache.set('/pods/a/mount', 'us-east-1', 's', value('x'));
    time.advance(DEFAULT_VALUE_CACHE_IDLE_MS + 1);
    cache.sweep();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('does not serve an idle value even before a sweep', () => {
    const time = clock();
    const cache = new ValueCache({ idleMs: 10 * MINUTE, now: time.now });
    cache.set('/pods/a/mount', 'us-east-1', 's', value('x'));
    time.advance(10 * MINUTE + 1);
    expect(cache.get('/pods/a/mount', 'us-east-1', 's', 'v1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps a value that every remount uses, however long the pod lives', () => {
    const time = clock();
    const cache = new ValueCache({ idleMs: 10 * MINUTE, now: time.now });
    cache.set('/pods/a/mount', 'us-east-1', 's', value('x'));
    for (let i = 0; i < 30; i++) {
      time.advance(2 * MINUTE);
      cache.sweep();
      expect(cache.get('/pods/a/mount', 'us-east-1', 's', 'v1')?.toString()).toBe('x');
    }
  });

  it('drops the least recently used entries first when over the byte limit', () => {
    const time = clock();
    const evictions: string[] = [];
    const cache = new ValueCache({ maxBytes: 3 * KiB, now: time.now, onEvict: (r) => evictions.push(r) });
    const kib = (n: number) => ({ version: 'v1', value: Buffer.alloc(KiB - 400, n) });
    cache.set('/a', 'r', 's', kib(1));
    time.advance(1);
    cache.set('/b', 'r', 's', kib(2));
    time.advance(1);
    expect(cache.get('/a', 'r', 's', 'v1')).toBeDefined(); // /a is now the most recently used
    time.advance(1);
    cache.set('/c', 'r', 's', kib(3));
    time.advance(1);
    cache.set('/d', 'r', 's', kib(4));
    expect(cache.get('/b', 'r', 's', 'v1')).toBeUndefined();
    expect(cache.get('/a', 'r', 's', 'v1')).toBeDefined();
    expect(cache.get('/d', 'r', 's', 'v1')).toBeDefined();
    expect(evictions).toEqual(['size']);
    expect(cache.bytes).toBeLessThanOrEqual(3 * KiB);
  });

  it('does not cache a value larger than the whole budget, and forgets the older one it replaces', () => {
    const cache = new ValueCache({ maxBytes: 1 * MiB });
    cache.set('/a', 'r', 's', value('small'));
    cache.set('/b', 'r', 's', value('other'));
    cache.set('/a', 'r', 's', { version: 'v2', value: Buffer.alloc(2 * MiB) });
    expect(cache.get('/a', 'r', 's', 'v1')).toBeUndefined();
    expect(cache.get('/a', 'r', 's', 'v2')).toBeUndefined();
    expect(cache.get('/b', 'r', 's', 'v1')?.toString()).toBe('other');
  });
});

describe('ValueCache contents', () => {
  it('serves a value only to its own volume, region, object and version', () => {
    const cache = new ValueCache();
    cache.set('/pods/a/mount', 'us-east-1', 'db', value('secret-a'));
    expect(cache.get('/pods/a/mount', 'us-east-1', 'db', 'v1')?.toString()).toBe('secret-a');
    expect(cache.get('/pods/b/mount', 'us-east-1', 'db', 'v1')).toBeUndefined();
    expect(cache.get('/pods/a/mount', 'us-west-2', 'db', 'v1')).toBeUndefined();
    expect(cache.get('/pods/a/mount', 'us-east-1', 'db2', 'v1')).toBeUndefined();
    expect(cache.get('/pods/a/mount', 'us-east-1', 'db', 'v2')).toBeUndefined();
  });

  it('cannot be confused by separators inside names', () => {
    const cache = new ValueCache();
    cache.set('/a', 'r\0x', 's', value('one'));
    expect(cache.get('/a\0r', 'x', 's', 'v1')).toBeUndefined();
  });

  it('keeps its own copy, not a view that pins a larger buffer', () => {
    const cache = new ValueCache();
    const body = Buffer.alloc(64 * KiB, 'z');
    const slice = body.subarray(10, 20);
    cache.set('/a', 'r', 's', { version: 'v1', value: slice });
    body.fill('y');
    const cached = cache.get('/a', 'r', 's', 'v1');
    expect(cached?.toString()).toBe('zzzzzzzzzz');
    expect(cached?.buffer.byteLength).toBe(10);
  });

  it('the latest set wins when two remounts of one volume finish out of order', () => {
    const cache = new ValueCache();
    cache.set('/a', 'r', 's', { version: 'v2', value: Buffer.from('new') });
    cache.set('/a', 'r', 's', { version: 'v1', value: Buffer.from('old') });
    // The volume now shows whatever its last Mount answered; a value is served only for its version.
    expect(cache.get('/a', 'r', 's', 'v2')).toBeUndefined();
    expect(cache.get('/a', 'r', 's', 'v1')?.toString()).toBe('old');
    expect(cache.size).toBe(1);
  });

  it('property: under any sequence of operations it stays within its limits and never serves a wrong value', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        volume: fc.integer({ min: 0, max: 7 }),
        version: fc.constantFrom('v1', 'v2', 'v3'),
        size: fc.integer({ min: 0, max: 3000 }),
      }),
      fc.record({
        kind: fc.constant('get' as const),
        volume: fc.integer({ min: 0, max: 7 }),
        version: fc.constantFrom('v1', 'v2', 'v3'),
      }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }),
      fc.constant({ kind: 'sweep' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const time = clock();
        const cache = new ValueCache({ maxBytes: 8 * KiB, idleMs: 1000, now: time.now });
        // What each volume last stored: the only thing it may ever get back.
        const model = new Map<number, { version: string; value: Buffer }>();
        for (const o of ops) {
          if (o.kind === 'set') {
            const v = { version: o.version, value: Buffer.alloc(o.size, `${o.volume}${o.version}`) };
            cache.set(`/pods/${o.volume}`, 'r', 's', v);
            model.set(o.volume, v);
          } else if (o.kind === 'get') {
            const got = cache.get(`/pods/${o.volume}`, 'r', 's', o.version);
            if (got !== undefined) {
              const last = model.get(o.volume);
              expect(last?.version).toBe(o.version);
              expect(got.equals(last!.value)).toBe(true);
            }
          } else if (o.kind === 'advance') {
            time.advance(o.ms);
          } else {
            cache.sweep();
          }
          expect(cache.bytes).toBeLessThanOrEqual(8 * KiB);
          expect(cache.bytes).toBeGreaterThanOrEqual(0);
          if (cache.size === 0) expect(cache.bytes).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
