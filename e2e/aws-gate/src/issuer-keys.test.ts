import crypto from 'node:crypto';

import type { JsonFetcher } from './issuer-keys';
import { IssuerKeys, IssuerUnreachable } from './issuer-keys';

const ISSUER = 'https://kubernetes.default.svc';
const jwk = (kid: string) => ({
  ...crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }),
  kid,
});

/** The API server's two documents, counting fetches; `fail` makes it unreachable. */
function apiServer(kids: string[]) {
  const state = { kids, fetches: 0, fail: false, discoveryIssuer: ISSUER };
  const get: JsonFetcher = async (path) => {
    if (state.fail) throw new Error('connect ECONNREFUSED 127.0.0.1:16443');
    if (path === '/.well-known/openid-configuration')
      return { issuer: state.discoveryIssuer, jwks_uri: 'https://10.201.0.10:443/openid/v1/jwks' };
    if (path === '/openid/v1/jwks') {
      state.fetches += 1;
      return { keys: state.kids.map(jwk) };
    }
    throw new Error(`404 ${path}`);
  };
  return { state, get };
}

describe('IssuerKeys', () => {
  let now = 0;
  const keysOf = (get: JsonFetcher) =>
    new IssuerKeys(new Map([[ISSUER, get]]), { ttlMs: 60_000, refetchMinMs: 10_000, now: () => now });
  beforeEach(() => {
    now = 1_000_000;
  });

  it("finds a key by kid through the discovery document's jwks_uri path on the lab's API server", async () => {
    const server = apiServer(['a']);
    const keys = keysOf(server.get);
    expect(await keys.key(ISSUER, 'a')).toBeDefined();
    expect(await keys.key(ISSUER, 'b')).toBeUndefined();
    expect(keys.knows(ISSUER)).toBe(true);
    expect(keys.knows('https://other.example')).toBe(false);
  });

  it('concurrency: twenty tokens at once fetch the keys once', async () => {
    const server = apiServer(['a']);
    const keys = keysOf(server.get);
    const found = await Promise.all(Array.from({ length: 20 }, () => keys.key(ISSUER, 'a')));
    expect(found.every(Boolean)).toBe(true);
    expect(server.state.fetches).toBe(1);
  });

  it('fetches again for an unknown kid (a rotated key), at most every refetchMinMs', async () => {
    const server = apiServer(['a']);
    const keys = keysOf(server.get);
    await keys.key(ISSUER, 'a');
    server.state.kids = ['a', 'b'];
    expect(await keys.key(ISSUER, 'b')).toBeUndefined();
    expect(server.state.fetches).toBe(1);
    now += 10_000;
    expect(await keys.key(ISSUER, 'b')).toBeDefined();
    expect(server.state.fetches).toBe(2);
  });

  it('fault: the API server down at the first token is IssuerUnreachable, then backs off, then recovers', async () => {
    const server = apiServer(['a']);
    server.state.fail = true;
    const keys = keysOf(server.get);
    await expect(keys.key(ISSUER, 'a')).rejects.toThrow(IssuerUnreachable);
    await expect(keys.key(ISSUER, 'a')).rejects.toThrow(/ECONNREFUSED/);
    server.state.fail = false;
    // Still backing off: the issuer is not asked again yet.
    await expect(keys.key(ISSUER, 'a')).rejects.toThrow(IssuerUnreachable);
    expect(server.state.fetches).toBe(0);
    now += 10_000;
    expect(await keys.key(ISSUER, 'a')).toBeDefined();
  });

  it('fault: keys fetched before keep serving while the API server is down', async () => {
    const server = apiServer(['a']);
    const keys = keysOf(server.get);
    await keys.key(ISSUER, 'a');
    server.state.fail = true;
    now += 120_000;
    expect(await keys.key(ISSUER, 'a')).toBeDefined();
  });

  it('refuses a discovery document that names another issuer', async () => {
    const server = apiServer(['a']);
    server.state.discoveryIssuer = 'https://evil.example';
    await expect(keysOf(server.get).key(ISSUER, 'a')).rejects.toThrow(
      /names the issuer https:\/\/evil.example/,
    );
  });
});
