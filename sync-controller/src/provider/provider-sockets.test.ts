import { capturingLogger } from '@sscsi/common/testing';

import type { SecretProviderClassView, SecretSync } from '../api/secret-sync';
import { FakeClock } from '../testing/fake-clock';
import { secretProviderClass, secretSync } from '../testing/objects';
import {
  PROVIDER_SOCKETS_SETTLE_MS,
  PROVIDER_SOCKETS_WAIT_MS,
  providersInUse,
  waitForProviderSockets,
} from './provider-sockets';

function caches(syncs: SecretSync[], classes: SecretProviderClassView[]) {
  return {
    secretSyncs: { list: () => syncs },
    classes: {
      get: (namespace: string, name: string) =>
        classes.find((c) => c.metadata.namespace === namespace && c.metadata.name === name),
    },
  };
}

describe('providersInUse', () => {
  it("names each provider of the SecretSyncs' classes once, read in each SecretSync's namespace", () => {
    const syncs = [
      secretSync({ name: 'a', namespace: 'one', secretProviderClassName: 'aws' }),
      secretSync({ name: 'b', namespace: 'one', secretProviderClassName: 'aws' }),
      secretSync({ name: 'c', namespace: 'two', secretProviderClassName: 'vault' }),
      // Its class is in another namespace: the reconcile does not find it either.
      secretSync({ name: 'd', namespace: 'three', secretProviderClassName: 'gcp' }),
      secretSync({ name: 'e', namespace: 'two', secretProviderClassName: 'bad' }),
    ];
    const classes = [
      secretProviderClass({ name: 'aws', namespace: 'one', provider: 'aws' }),
      secretProviderClass({ name: 'vault', namespace: 'two', provider: 'vault' }),
      secretProviderClass({ name: 'gcp', namespace: 'one', provider: 'gcp' }),
      // No socket can have this name: nothing to wait for.
      secretProviderClass({ name: 'bad', namespace: 'two', provider: '../aws' }),
      // Used by pods only (the CSI driver's), not by a SecretSync.
      secretProviderClass({ name: 'pods', namespace: 'one', provider: 'azure' }),
    ];
    expect(providersInUse(caches(syncs, classes))).toEqual(['aws', 'vault']);
  });
});

describe('waitForProviderSockets', () => {
  const syncs = [
    secretSync({ secretProviderClassName: 'c1' }),
    secretSync({ secretProviderClassName: 'c2' }),
  ];
  const classes = [
    secretProviderClass({ name: 'c1', provider: 'aws' }),
    secretProviderClass({ name: 'c2', provider: 'vault' }),
  ];

  function start(present: Set<string>, options: { syncs?: SecretSync[]; waitMs?: number } = {}) {
    const clock = new FakeClock();
    const { logger, lines } = capturingLogger();
    const abort = new AbortController();
    let done = false;
    const waiting = waitForProviderSockets(
      {
        ...caches(options.syncs ?? syncs, classes),
        present: (p) => present.has(p),
        logger,
        clock,
        waitMs: options.waitMs,
      },
      abort.signal,
    ).then(() => {
      done = true;
    });
    return { clock, lines, abort, waiting, done: () => done };
  }

  it('goes on at once when every provider in use is listening, or none is in use', async () => {
    const all = start(new Set(['aws', 'vault']));
    await all.waiting;
    expect(all.lines).toEqual([]);
    const none = start(new Set(), { syncs: [] });
    await none.waiting;
    expect(none.lines).toEqual([]);
  });

  it('waits until the last missing socket appears, and says which it waits for', async () => {
    const present = new Set(['aws']);
    const w = start(present);
    await w.clock.advance(5_000);
    expect(w.done()).toBe(false);
    present.add('vault');
    await w.clock.advance(250);
    expect(w.done()).toBe(true);
    const messages = w.lines.map((l) => JSON.parse(l) as { msg: string; providers?: string[] });
    expect(messages).toEqual([
      expect.objectContaining({
        msg: 'waiting for the sockets of the providers in use',
        providers: ['vault'],
      }),
      expect.objectContaining({ msg: 'the providers in use are listening' }),
    ]);
  });

  it('looks again at what is in use: a SecretSync of another provider created meanwhile is waited for too', async () => {
    const list = [syncs[0] as SecretSync];
    const present = new Set<string>();
    const w = start(present, { syncs: list });
    await w.clock.advance(1_000);
    list.push(syncs[1] as SecretSync);
    present.add('aws');
    await w.clock.advance(1_000);
    expect(w.done()).toBe(false);
    present.add('vault');
    await w.clock.advance(250);
    expect(w.done()).toBe(true);
  });

  it('gives up on a missing provider 10 s after the last of the others appeared: a typo costs no 30 s', async () => {
    const present = new Set<string>();
    const w = start(present);
    await w.clock.advance(4_000);
    present.add('aws');
    await w.clock.advance(PROVIDER_SOCKETS_SETTLE_MS - 250);
    expect(w.done()).toBe(false);
    await w.clock.advance(500);
    expect(w.done()).toBe(true);
    const last = JSON.parse(w.lines.at(-1) ?? '{}') as { msg: string; providers: string[] };
    expect(last).toMatchObject({
      msg: 'going on without these providers: their sockets did not appear',
      providers: ['vault'],
    });
  });

  it('gives up after the wait when no provider listens, naming the providers missing: one that never comes blocks nobody', async () => {
    const w = start(new Set());
    await w.clock.advance(PROVIDER_SOCKETS_WAIT_MS - 1);
    expect(w.done()).toBe(false);
    await w.clock.advance(1);
    expect(w.done()).toBe(true);
    const last = JSON.parse(w.lines.at(-1) ?? '{}') as { msg: string; level: number; providers: string[] };
    expect(last).toMatchObject({
      msg: 'going on without these providers: their sockets did not appear',
      providers: ['aws', 'vault'],
    });
  });

  it('ends at once when stopped', async () => {
    const w = start(new Set());
    await w.clock.advance(1_000);
    w.abort.abort();
    await w.waiting;
    expect(w.done()).toBe(true);
  });
});
