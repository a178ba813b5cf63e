import { CredentialCache } from './credential-cache';

describe('CredentialCache', () => {
  let now = 1_000_000;
  const creds = (expiresInMs: number, id = 'AKID') => ({
    accessKeyId: id,
    secretAccessKey: 's',
    expiration: new Date(now + expiresInMs),
  });

  it('keeps credentials until five minutes before they expire', async () => {
    const cache = new CredentialCache(() => now);
    await cache.fetch('k', async () => creds(3600_000));
    expect(cache.get('k')?.accessKeyId).toBe('AKID');
    now += 3600_000 - 5 * 60_000 - 1;
    expect(cache.get('k')).toBeDefined();
    now += 2;
    expect(cache.get('k')).toBeUndefined();
  });

  it('shares one fetch between concurrent callers', async () => {
    const cache = new CredentialCache(() => now);
    let calls = 0;
    const fetch = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return creds(3600_000);
    };
    const results = await Promise.all(Array.from({ length: 110 }, () => cache.fetch('k', fetch)));
    expect(calls).toBe(1);
    expect(new Set(results.map((r) => r.accessKeyId))).toEqual(new Set(['AKID']));
  });

  it('does not keep failures or credentials without an expiry', async () => {
    const cache = new CredentialCache(() => now);
    await expect(cache.fetch('k', async () => Promise.reject(new Error('denied')))).rejects.toThrow('denied');
    expect(cache.pending('k')).toBeUndefined();
    await cache.fetch('k', async () => ({ accessKeyId: 'x', secretAccessKey: 'y' }));
    expect(cache.get('k')).toBeUndefined();
  });
});
