import { ProviderCallError, Status } from '@sscsi/common';
import { silentLogger, until } from '@sscsi/common/testing';

import type { SecretSync } from '../api/secret-sync';
import { answer } from '../testing/fake-provider-gateway';
import { secretProviderClass, secretSync } from '../testing/objects';
import { ReconcileHarness } from '../testing/reconcile-harness';
import type { ReconcileOutcome } from './reconciler';
import { type ControllerOptions, SecretSyncController } from './secret-sync-controller';

const NS = 'test-v1alpha1';

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** A controller over stand-ins for the SecretSyncs and the reconciler: no fetch cycles, nothing to forget. */
function bareController(
  o: Pick<ControllerOptions, 'secretSyncs' | 'reconciler' | 'pollIntervalMs' | 'concurrency'>,
): SecretSyncController {
  return new SecretSyncController({
    ...o,
    cycles: {
      startCycle: () => undefined,
      exclude: () => undefined,
      begin: () => undefined,
      finished: () => undefined,
    },
    forget: () => undefined,
    logger: silentLogger(),
  });
}

/** SecretSyncs ss-0..ss-(n-1), over ServiceAccounts app and web in turn, all of one class. */
function many(h: ReconcileHarness, n: number): void {
  h.kube.put('serviceaccounts', { metadata: { name: 'app', namespace: NS } });
  h.kube.put('serviceaccounts', { metadata: { name: 'web', namespace: NS } });
  for (let i = 0; i < n; i++)
    h.kube.put(
      'secretsyncs',
      secretSync({ name: `ss-${i}`, uid: `uid-${i}`, serviceAccountName: i % 2 === 0 ? 'app' : 'web' }),
    );
}

describe('SecretSyncController', () => {
  it('does nothing before it leads, then syncs every SecretSync once, sharing provider calls', async () => {
    const h = new ReconcileHarness({ secretSync: null });
    many(h, 20);
    const { controller, stop } = h.controller();
    await settle();
    expect(h.outcomes).toEqual([]);
    expect(controller.depth).toBe(20);
    await controller.start();
    await until(() => h.outcomes.length === 20);
    expect(h.kube.objects('secrets')).toHaveLength(20);
    // One call per ServiceAccount and class: the first sync of all is a poll cycle.
    expect(h.providers.calls).toHaveLength(2);
    expect(controller.depth).toBe(0);
    await stop();
  });

  it('makes 2 provider calls per poll for 20 SecretSyncs over 2 ServiceAccounts, and writes nothing unchanged', async () => {
    const h = new ReconcileHarness({ secretSync: null });
    many(h, 20);
    const { controller, stop } = h.controller();
    await controller.start();
    await until(() => h.outcomes.length === 20);
    for (let poll = 1; poll <= 3; poll++) {
      const writes = h.writes().length;
      controller.syncAll('poll');
      await until(() => h.outcomes.length === 20 * (poll + 1));
      expect(h.providers.calls).toHaveLength(2 * (poll + 1));
      // Unchanged data: nothing written, and no PBKDF2 either.
      expect(h.writes()).toHaveLength(writes);
    }
    expect(h.outcomes.slice(20).every(([o]) => o === 'unchanged')).toBe(true);
    expect(h.kdfCalls).toBe(20);
    await stop();
  });

  it("starts a poll's calls for one ServiceAccount's classes together, so the provider can share their AWS reads", async () => {
    const h = new ReconcileHarness({ secretSync: null });
    h.kube.put('serviceaccounts', { metadata: { name: 'app', namespace: NS } });
    h.kube.put('secretproviderclasses', secretProviderClass({ name: 'other', uid: 'other-uid' }));
    // Created class by class: five of the first class, then five of the other.
    for (const [i, spc] of ['e2e-providerspc', 'other'].flatMap((c) => Array<string>(5).fill(c)).entries())
      h.kube.put(
        'secretsyncs',
        secretSync({
          name: `ss-${i}`,
          uid: `uid-${i}`,
          serviceAccountName: 'app',
          secretProviderClassName: spc,
        }),
      );
    const { controller, stop } = h.controller({ concurrency: 2 });
    await controller.start();
    await until(() => h.outcomes.length === 10);
    const before = h.providers.calls.length;
    const release = h.providers.hold();
    controller.syncAll('poll');
    // Both classes' calls are in flight at once, though the two workers could be busy with the first class.
    await until(() => h.providers.calls.length === before + 2);
    expect(
      h.providers.calls.slice(before).map((c) => c.attributes['csi.storage.k8s.io/serviceAccount.name']),
    ).toEqual(['app', 'app']);
    release();
    await until(() => h.outcomes.length === 20);
    expect(h.providers.calls).toHaveLength(before + 2);
    await stop();
  });

  it('polls every --rotation-poll-interval, the first one interval after the start', async () => {
    const h = new ReconcileHarness();
    const { controller, stop } = h.controller({ pollIntervalMs: 40 });
    const started = Date.now();
    await controller.start();
    await until(() => h.outcomes.length >= 3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
    expect(h.outcomes.slice(1).map(([o]) => o)).toEqual(h.outcomes.slice(1).map(() => 'unchanged'));
    await stop();
  });

  it('syncs a SecretSync created or whose spec changed, with a call of its own; not a status or label change', async () => {
    const h = new ReconcileHarness({ secretSync: null });
    const { controller, stop } = h.controller();
    await controller.start();
    h.kube.put('secretsyncs', secretSync());
    await until(() => h.outcomes.length === 1);
    expect(h.secret()).toBeDefined();
    // A label on the SecretSync (no new generation): nothing.
    const labelled = h.secretSync();
    labelled.metadata.labels = { team: 'a' };
    h.kube.put('secretsyncs', labelled);
    await settle();
    expect(h.outcomes).toHaveLength(1);
    h.editSecretSync((ss) => (ss.spec.forceSynchronization = 'now'));
    await until(() => h.outcomes.length === 2);
    expect(h.outcomes[1]).toEqual(['synced', undefined]);
    expect(h.providers.calls).toHaveLength(2);
    await stop();
  });

  it('retries a failure with backoff until the provider recovers, then writes nothing more', async () => {
    const h = new ReconcileHarness();
    let failures = 3;
    h.providers.behaviours.set('e2e-provider', () => {
      if (failures-- > 0)
        throw new ProviderCallError('CallFailed', 'x', {
          code: Status.UNAVAILABLE,
          attempts: 3,
          cause: { details: 'down' },
        });
      return answer({ foo: 'secret' });
    });
    const { controller, stop } = h.controller();
    await controller.start();
    await until(() => h.outcomes.some(([o]) => o === 'synced'));
    await settle();
    expect(h.outcomes.map(([o]) => o)).toEqual(['failed', 'failed', 'failed', 'synced']);
    expect(h.conditions().map((c) => c.status)).toEqual(['True', 'True']);
    await stop();
  });

  it('forgets a deleted SecretSync, and is done with it (no retries)', async () => {
    const h = new ReconcileHarness();
    const { controller, stop } = h.controller();
    await controller.start();
    await until(() => h.outcomes.length === 1);
    expect(h.hashes.size).toBe(1);
    h.kube.remove('secretsyncs', NS, 'sse2esecret');
    await until(() => h.hashes.size === 0);
    await stop();
  });

  it('never reconciles one SecretSync twice at once, however the triggers pile up', async () => {
    const running = new Map<string, number>();
    let clash = false;
    let runs = 0;
    const reconciler = {
      async reconcile(namespace: string, name: string): Promise<ReconcileOutcome> {
        const key = `${namespace}/${name}`;
        running.set(key, (running.get(key) ?? 0) + 1);
        if ((running.get(key) ?? 0) > 1) clash = true;
        await new Promise((resolve) => setTimeout(resolve, 1));
        running.set(key, (running.get(key) ?? 0) - 1);
        runs++;
        return 'unchanged';
      },
    };
    const objects = Array.from({ length: 5 }, (_, i) => secretSync({ name: `s${i}`, uid: `u${i}` }));
    let added: ((ss: SecretSync) => void) | undefined;
    let updated: ((ss: SecretSync, old: SecretSync) => void) | undefined;
    const controller = bareController({
      secretSyncs: {
        addHandlers: (h) => {
          added = h.added?.bind(h);
          updated = h.updated?.bind(h);
        },
        list: () => objects,
        waitForSync: async () => undefined,
      },
      reconciler,
      pollIntervalMs: 3,
      concurrency: 3,
    });
    await controller.start();
    for (let round = 0; round < 50; round++) {
      for (const ss of objects) {
        added?.(ss);
        updated?.({ ...ss, metadata: { ...ss.metadata, generation: round + 2 } }, ss);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await settle();
    await controller.stop(true);
    expect(clash).toBe(false);
    expect(runs).toBeGreaterThan(5);
  });

  it('cancels reconciles under way when it stops for a lost Lease, and lets them finish on a shutdown', async () => {
    for (const graceful of [false, true]) {
      let signalSeen: AbortSignal | undefined;
      let finished = false;
      const controller = bareController({
        secretSyncs: {
          addHandlers: () => undefined,
          list: () => [secretSync()],
          waitForSync: async () => undefined,
        },
        reconciler: {
          async reconcile(_ns, _name, signal): Promise<ReconcileOutcome> {
            signalSeen = signal;
            await new Promise((resolve) => setTimeout(resolve, 50));
            finished = !signal?.aborted;
            return 'synced';
          },
        },
        pollIntervalMs: 0,
        concurrency: 1,
      });
      await controller.start();
      await until(() => signalSeen !== undefined);
      await controller.stop(graceful);
      expect(finished).toBe(graceful);
    }
  });
});
