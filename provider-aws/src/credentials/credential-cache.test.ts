import { HeldCall } from '@sscsi/common/testing';

import type { AwsCredentials, CredentialRequest } from './credential-cache';
import { CredentialCache } from './credential-cache';

jest.setTimeout(10_000);

let now = 1_000_000;
const creds = (expiresInMs: number, id = 'AKID'): AwsCredentials => ({
  accessKeyId: id,
  secretAccessKey: 's',
  expiration: new Date(now + expiresInMs),
});

/** A fetch the test settles by hand; it records the signal it was given. */
class HeldFetch extends HeldCall<AwsCredentials> {
  request(proof: string, signal?: AbortSignal): CredentialRequest {
    return { proof, signal, fetch: this.call };
  }
}

const immediate = (proof: string, fetch: () => Promise<AwsCredentials>): CredentialRequest => ({
  proof,
  fetch,
});

describe('CredentialCache', () => {
  it('keeps credentials until five minutes before they expire', async () => {
    const cache = new CredentialCache(() => now);
    await cache.fetch(
      'k',
      immediate('t', async () => creds(3600_000)),
    );
    expect(cache.get('k')?.accessKeyId).toBe('AKID');
    now += 3600_000 - 5 * 60_000 - 1;
    expect(cache.get('k')).toBeDefined();
    now += 2;
    expect(cache.get('k')).toBeUndefined();
  });

  it('keeps short-lived credentials for four fifths of their life only', async () => {
    const cache = new CredentialCache(() => now);
    await cache.fetch(
      'k',
      immediate('t', async () => creds(10 * 60_000)),
    );
    now += 8 * 60_000 - 1;
    expect(cache.get('k')).toBeDefined();
    now += 2;
    expect(cache.get('k')).toBeUndefined();
  });

  it('shares one fetch between concurrent callers', async () => {
    const cache = new CredentialCache(() => now);
    const held = new HeldFetch();
    const results = Promise.all(
      Array.from({ length: 110 }, (_, i) => cache.fetch('k', held.request(`t${i}`))),
    );
    held.answer(creds(3600_000));
    expect(new Set((await results).map((r) => r.accessKeyId))).toEqual(new Set(['AKID']));
    expect(held.calls).toBe(1);
    expect(cache.fetching).toBe(0);
  });

  it('does not keep failures or credentials without an expiry', async () => {
    const cache = new CredentialCache(() => now);
    await expect(
      cache.fetch(
        'k',
        immediate('t', async () => Promise.reject(new Error('denied'))),
      ),
    ).rejects.toThrow('denied');
    expect(cache.fetching).toBe(0);
    await cache.fetch(
      'k',
      immediate('t', async () => ({ accessKeyId: 'x', secretAccessKey: 'y' })),
    );
    expect(cache.get('k')).toBeUndefined();
  });

  it("tries once with a caller's own proof when a fetch started with another proof failed", async () => {
    const cache = new CredentialCache(() => now);
    const shared = new HeldFetch();
    const first = cache.fetch('k', shared.request('token-a'));
    const sameProof = cache.fetch('k', shared.request('token-a'));
    let ownCalls = 0;
    const otherProof = cache.fetch(
      'k',
      immediate('token-b', async () => {
        ownCalls++;
        return creds(3600_000, 'B');
      }),
    );
    shared.fail(new Error('token-a refused'));
    await expect(first).rejects.toThrow('token-a refused');
    await expect(sameProof).rejects.toThrow('token-a refused');
    await expect(otherProof).resolves.toMatchObject({ accessKeyId: 'B' });
    expect(ownCalls).toBe(1);
    expect(cache.get('k')?.accessKeyId).toBe('B');
  });

  it('lets a caller stop waiting on its own signal while the others are served', async () => {
    const cache = new CredentialCache(() => now);
    const held = new HeldFetch();
    const leaving = new AbortController();
    const left = cache.fetch('k', held.request('a', leaving.signal));
    const staying = cache.fetch('k', held.request('b'));
    leaving.abort(new Error('deadline'));
    await expect(left).rejects.toThrow('deadline');
    expect(held.signal?.aborted).toBe(false);
    held.answer(creds(3600_000));
    await expect(staying).resolves.toMatchObject({ accessKeyId: 'AKID' });
  });

  it('stops the shared fetch when the last caller gives up; the next caller starts afresh', async () => {
    const cache = new CredentialCache(() => now);
    const held = new HeldFetch();
    let caller = 0;
    await held.expectCancelledOnceAllLeave((signal) =>
      cache.fetch('k', held.request(`caller-${++caller}`, signal)),
    );
    expect(cache.fetching).toBe(0);
    await expect(
      cache.fetch(
        'k',
        immediate('c', async () => creds(3600_000, 'C')),
      ),
    ).resolves.toMatchObject({
      accessKeyId: 'C',
    });
  });

  it('rejects at once a caller whose signal is already aborted, without a fetch', async () => {
    const cache = new CredentialCache(() => now);
    const held = new HeldFetch();
    const gone = AbortSignal.abort(new Error('too late'));
    await expect(cache.fetch('k', held.request('a', gone))).rejects.toThrow('too late');
    expect(held.calls).toBe(0);
    expect(cache.fetching).toBe(0);
  });

  it("aborts a caller's own retry on that caller's signal", async () => {
    const cache = new CredentialCache(() => now);
    const shared = new HeldFetch();
    const own = new HeldFetch();
    const mount = new AbortController();
    const first = cache.fetch('k', shared.request('a'));
    const second = cache.fetch('k', own.request('b', mount.signal));
    shared.fail(new Error('throttled'));
    await expect(first).rejects.toThrow('throttled');
    while (own.calls === 0) await new Promise((resolve) => setImmediate(resolve));
    mount.abort(new Error('deadline'));
    await expect(second).rejects.toThrow('deadline');
    expect(own.signal?.aborted).toBe(true);
  });

  it('stays bounded when pods come and go: expired credentials first, then the oldest', async () => {
    const cache = new CredentialCache(() => now);
    for (let i = 0; i < 3000; i++)
      await cache.fetch(
        `short-${i}`,
        immediate('t', async () => creds(10 * 60_000)),
      );
    now += 9 * 60_000;
    for (let i = 0; i < 3000; i++)
      await cache.fetch(
        `pod-${i}`,
        immediate('t', async () => creds(3600_000)),
      );
    expect(cache.size).toBe(3000);
    for (let i = 3000; i < 5000; i++)
      await cache.fetch(
        `pod-${i}`,
        immediate('t', async () => creds(3600_000)),
      );
    expect(cache.size).toBe(4096);
    expect(cache.get('pod-0')).toBeUndefined();
    expect(cache.get('pod-4999')).toBeDefined();
  });
});
