// The copies of the Secrets a node's statuses name: one read per Secret per resync round, whatever
// the number of statuses sharing it; nothing kept for a Secret no status names; failures not kept.
import type { Secret } from '@sscsi/common';
import { KubeApiError } from '@sscsi/common';
import { FakeKube } from '@sscsi/common/testing';

import { NamedSecrets } from './named-secrets';

const NS = 'default';
const SECRETS = 'secrets';

function setup() {
  const api = new FakeKube();
  const secrets = new NamedSecrets(api);
  const put = (name: string, value: string) =>
    api.put<Secret>(SECRETS, { metadata: { name, namespace: NS }, data: { v: value } });
  return { api, secrets, put };
}

describe('NamedSecrets', () => {
  it('reads a Secret once per round for every status that names it', async () => {
    const { api, secrets, put } = setup();
    put('db', 'one');
    for (let i = 0; i < 5; i++) secrets.name(`${NS}/status-${i}`, [`${NS}/db`]);
    const reads = await Promise.all(
      Array.from({ length: 5 }, async () => (await secrets.read(NS, 'db', false))?.data?.v),
    );
    // Callers serialise per Secret; unserialised readers may each ask, never more than once each.
    expect(reads).toEqual(['one', 'one', 'one', 'one', 'one']);
    const first = api.count('GET', SECRETS);
    expect(first).toBeLessThanOrEqual(5);
    for (let i = 0; i < 5; i++) await secrets.read(NS, 'db', false);
    expect(api.count('GET', SECRETS)).toBe(first);

    put('db', 'two');
    expect((await secrets.read(NS, 'db', false))?.data?.v).toBe('one');
    secrets.startRound();
    for (let i = 0; i < 5; i++) expect((await secrets.read(NS, 'db', false))?.data?.v).toBe('two');
    expect(api.count('GET', SECRETS)).toBe(first + 1);
  });

  it('reads again when asked for the API server itself, and keeps what a write returned', async () => {
    const { api, secrets, put } = setup();
    secrets.name(`${NS}/s`, [`${NS}/db`]);
    put('db', 'one');
    await secrets.read(NS, 'db', false);
    put('db', 'two');
    expect((await secrets.read(NS, 'db', true))?.data?.v).toBe('two');
    expect(api.count('GET', SECRETS)).toBe(2);
    // A round's read may be answered by the API server's cache; the read after a clash may not.
    expect(api.calls.map((c) => c.query?.resourceVersion)).toEqual(['0', undefined]);
    secrets.written(NS, 'db', put('db', 'three'));
    expect((await secrets.read(NS, 'db', false))?.data?.v).toBe('three');
    secrets.written(NS, 'db', undefined);
    expect(await secrets.read(NS, 'db', false)).toBeUndefined();
    expect(api.count('GET', SECRETS)).toBe(2);
  });

  it('remembers that a Secret does not exist, but not a failed read', async () => {
    const { api, secrets } = setup();
    secrets.name(`${NS}/s`, [`${NS}/db`]);
    expect(await secrets.read(NS, 'db', false)).toBeUndefined();
    expect(await secrets.read(NS, 'db', false)).toBeUndefined();
    expect(api.count('GET', SECRETS)).toBe(1);

    secrets.startRound();
    api.failNext(
      'GET',
      SECRETS,
      () => new KubeApiError('GET', '/secrets', 500, 'InternalError', 'etcd is away'),
    );
    await expect(secrets.read(NS, 'db', false)).rejects.toThrow(/etcd is away/);
    await expect(secrets.read(NS, 'db', false)).resolves.toBeUndefined();
    expect(api.count('GET', SECRETS)).toBe(3);
  });

  it('does not count a read that was out when a round started as a read of that round', async () => {
    const { api, secrets, put } = setup();
    secrets.name(`${NS}/s`, [`${NS}/db`]);
    put('db', 'one');
    const release = api.hold('GET', SECRETS);
    const early = secrets.read(NS, 'db', false);
    await new Promise((resolve) => setImmediate(resolve));
    secrets.startRound();
    release();
    await early;
    await secrets.read(NS, 'db', false);
    expect(api.count('GET', SECRETS)).toBe(2);
  });

  it('keeps copies only while a status names them, also when the status goes during a read', async () => {
    const { api, secrets, put } = setup();
    put('a', '1');
    put('b', '2');
    secrets.name(`${NS}/s1`, [`${NS}/a`, `${NS}/b`]);
    secrets.name(`${NS}/s2`, [`${NS}/a`]);
    await secrets.read(NS, 'a', false);
    await secrets.read(NS, 'b', false);
    expect(secrets.size).toBe(2);
    secrets.forget(`${NS}/s1`);
    expect(secrets.size).toBe(1);
    // The class of s2 now syncs b instead of a.
    secrets.name(`${NS}/s2`, [`${NS}/b`]);
    expect(secrets.size).toBe(0);

    const release = api.hold('GET', SECRETS);
    const reading = secrets.read(NS, 'b', false);
    secrets.forget(`${NS}/s2`);
    release();
    await reading;
    secrets.written(NS, 'b', put('b', '3'));
    expect(secrets.size).toBe(0);
  });
});
