import { ProviderCallError } from '@sscsi/common';

import type { SecretProviderClassView } from '../api/secret-sync';
import { SyncFailure } from '../sync/failure';
import { answer, FakeProviderGateway } from '../testing/fake-provider-gateway';
import type { FetchOutcome, FetchRequest, TokenSource } from './secret-fetcher';
import { SecretFetcher } from './secret-fetcher';

const spc = (generation = 1, provider = 'aws'): SecretProviderClassView => ({
  metadata: { name: 'spc', namespace: 'ns', uid: 'spc-uid', generation },
  spec: { provider, parameters: { objects: 'o' } },
});

function setUp(tokens: TokenSource = { attribute: async () => undefined }) {
  const providers = new FakeProviderGateway({
    aws: (attributes) => answer({ foo: `value for ${attributes['csi.storage.k8s.io/serviceAccount.name']}` }),
  });
  const outcomes: FetchOutcome[] = [];
  const fetcher = new SecretFetcher({
    providers,
    tokens,
    pod: { name: 'controller-pod', uid: 'pod-uid' },
    timeoutMs: 120_000,
    maxCallRecvMsgSize: 4194304,
    counted: (o) => outcomes.push(o),
  });
  /** One reconcile's fetch, as the controller brackets it. */
  const run = async (r: FetchRequest) => {
    fetcher.begin(r.key);
    try {
      return await fetcher.fetch(r);
    } finally {
      fetcher.finished(r.key);
    }
  };
  return { providers, fetcher, outcomes, run };
}

const request = (i: number, serviceAccountName: string, cls = spc()): FetchRequest => ({
  key: `ns/ss-${i}`,
  namespace: 'ns',
  serviceAccountName,
  spc: cls,
});

/** Runs `work` over `items`, `concurrency` at a time, as the work queue's workers do. */
async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

describe('SecretFetcher', () => {
  it("calls the class's provider with the SecretSync's request and gives the files by path", async () => {
    const { providers, fetcher } = setUp({ attribute: async (ns, sa) => `{"aud":"${ns}/${sa}"}` });
    providers.behaviours.set('aws', () => answer({ foo: 'first', bar: 'x', 'dir/foo': 'y' }));
    const files = await fetcher.fetch(request(1, 'app'));
    expect([...files.keys()]).toEqual(['foo', 'bar', 'dir/foo']);
    expect(files.get('foo')?.toString()).toBe('first');
    const [call] = providers.calls;
    expect(call?.provider).toBe('aws');
    expect(call?.attributes).toEqual({
      objects: 'o',
      'csi.storage.k8s.io/pod.name': 'controller-pod',
      'csi.storage.k8s.io/pod.uid': 'pod-uid',
      'csi.storage.k8s.io/pod.namespace': 'ns',
      'csi.storage.k8s.io/serviceAccount.name': 'app',
      'csi.storage.k8s.io/serviceAccount.tokens': '{"aud":"ns/app"}',
    });
    // --provider-timeout sets each call's deadline (upstream's calls have none: its bug B6).
    expect((call?.deadline.getTime() ?? 0) - Date.now()).toBeGreaterThan(110_000);
  });

  it('takes the last of several files with one path, as upstream', async () => {
    const { providers, fetcher } = setUp();
    providers.behaviours.set('aws', () => ({
      objects: [{ id: 'a', version: '1' }],
      files: [
        { path: 'foo', mode: 0o644, contents: Buffer.from('one') },
        { path: 'foo', mode: 0o644, contents: Buffer.from('two') },
      ],
    }));
    expect((await fetcher.fetch(request(1, 'app'))).get('foo')?.toString()).toBe('two');
  });

  it('makes one provider call per ServiceAccount and class in a poll cycle: 20 SecretSyncs, 2 ServiceAccounts', async () => {
    const { providers, fetcher, outcomes, run } = setUp();
    const requests = Array.from({ length: 20 }, (_, i) => request(i, i % 2 === 0 ? 'app' : 'web'));
    for (let round = 1; round <= 2; round++) {
      fetcher.startCycle(requests.map((r) => r.key));
      await pool(requests, 4, async (r) => {
        const files = await run(r);
        expect(files.get('foo')?.toString()).toBe(`value for ${r.serviceAccountName}`);
      });
      expect(providers.calls).toHaveLength(2 * round);
      // The cycle is over: its answers are gone.
      expect(fetcher.heldAnswers).toBe(0);
    }
    expect(outcomes.filter((o) => o === 'called')).toHaveLength(4);
    expect(outcomes.filter((o) => o !== 'called')).toHaveLength(36);
  });

  it('joins a call in flight within a cycle', async () => {
    const { providers, fetcher, outcomes, run } = setUp();
    const release = providers.hold();
    fetcher.startCycle(['ns/ss-1', 'ns/ss-2', 'ns/ss-3']);
    const all = [1, 2, 3].map((i) => run(request(i, 'app')));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await Promise.all(all);
    expect(providers.calls).toHaveLength(1);
    expect(outcomes).toEqual(['called', 'joined', 'joined']);
  });

  it('never calls twice when a SecretSync of the cycle begins just as the call settles', async () => {
    // The second reconcile begins 0, 1, 2, ... microtasks after the provider answered: whatever the
    // moment, it finds the call in flight or its kept answer.
    for (let hops = 0; hops < 12; hops++) {
      const { providers, fetcher, run } = setUp();
      fetcher.startCycle(['ns/ss-1', 'ns/ss-2']);
      let second: Promise<unknown> | undefined;
      providers.behaviours.set('aws', () => {
        let later = Promise.resolve();
        for (let i = 0; i < hops; i++) later = later.then(() => undefined);
        second = later.then(() => run(request(2, 'app')));
        return answer({ foo: 'value' });
      });
      await run(request(1, 'app'));
      await second;
      expect({ hops, calls: providers.calls.length }).toEqual({ hops, calls: 1 });
    }
  });

  it('keeps classes, generations and namespaces apart', async () => {
    const { providers, fetcher, run } = setUp();
    const requests = [
      request(1, 'app', spc(1)),
      request(2, 'app', spc(2)),
      { ...request(3, 'app'), namespace: 'other', key: 'other/ss-3' },
      request(4, 'app', { ...spc(1), metadata: { ...spc(1).metadata, uid: 'recreated' } }),
    ];
    fetcher.startCycle(requests.map((r) => r.key));
    for (const r of requests) await run(r);
    expect(providers.calls).toHaveLength(4);
  });

  it('makes a call of its own for a sync a user asked for, and outside a cycle', async () => {
    const { providers, fetcher, run } = setUp();
    fetcher.startCycle(['ns/ss-1', 'ns/ss-2', 'ns/ss-3']);
    await run(request(1, 'app'));
    fetcher.exclude('ns/ss-2');
    await run(request(2, 'app'));
    await run(request(9, 'app'));
    await run(request(3, 'app'));
    // A retry of ss-1 is no part of the cycle any more.
    await run(request(1, 'app'));
    expect(providers.calls).toHaveLength(4);
  });

  it('reuses no failure: the next SecretSync of the cycle calls again', async () => {
    const { providers, fetcher, run } = setUp();
    let fail = true;
    providers.behaviours.set('aws', () => {
      if (fail)
        throw new ProviderCallError('ProviderError', 'x', { providerCode: 'Throttled', provider: 'aws' });
      return answer({ foo: 'ok' });
    });
    fetcher.startCycle(['ns/ss-1', 'ns/ss-2']);
    const err = await run(request(1, 'app')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncFailure);
    expect((err as SyncFailure).message).toBe(
      'fetching secrets from the provider failed: mount request failed with provider error code Throttled',
    );
    fail = false;
    expect((await run(request(2, 'app'))).get('foo')?.toString()).toBe('ok');
    expect(providers.calls).toHaveLength(2);
  });

  it('calls no provider when the token cannot be had', async () => {
    const { providers, fetcher } = setUp({
      attribute: async () => {
        throw new SyncFailure({
          kind: 'token',
          detail: 'failed to fetch token: serviceaccounts "app" not found',
        });
      },
    });
    const err = (await fetcher.fetch(request(1, 'app')).catch((e: unknown) => e)) as SyncFailure;
    expect(err.reason).toBe('ControllerSyncError');
    expect(providers.calls).toHaveLength(0);
  });

  it('reports an unknown provider as upstream does', async () => {
    const { fetcher } = setUp();
    const err = (await fetcher
      .fetch(request(1, 'app', spc(1, 'vault')))
      .catch((e: unknown) => e)) as SyncFailure;
    expect([err.reason, err.message]).toEqual([
      'SecretProviderClassMisconfigured',
      'fetching secrets from the provider failed: provider not found: provider "vault"',
    ]);
  });

  it('drops the answers of a cycle with the last of its reconciles, a next cycle begun or not', async () => {
    const { fetcher, run } = setUp();
    fetcher.startCycle(['ns/ss-1', 'ns/ss-2']);
    fetcher.begin('ns/ss-1');
    await fetcher.fetch(request(1, 'app'));
    expect(fetcher.heldAnswers).toBe(1);
    fetcher.startCycle(['ns/ss-3']);
    expect(fetcher.heldAnswers).toBe(1);
    fetcher.finished('ns/ss-1');
    expect(fetcher.heldAnswers).toBe(0);
    await run(request(3, 'app'));
    expect(fetcher.heldAnswers).toBe(0);
  });

  it('lets a SecretSync still running when the next poll comes join that next cycle', async () => {
    const { providers, fetcher, run } = setUp();
    fetcher.startCycle(['ns/ss-1', 'ns/ss-2']);
    fetcher.begin('ns/ss-1');
    await fetcher.fetch(request(1, 'app'));
    // The next poll, while ss-1 still runs: its rerun and ss-2 share the new cycle's call.
    fetcher.startCycle(['ns/ss-1', 'ns/ss-2']);
    fetcher.finished('ns/ss-1');
    await run(request(1, 'app'));
    await run(request(2, 'app'));
    expect(providers.calls).toHaveLength(2);
  });
});
