// Restart on rotation over the fake API server, as a user would check it: how many rollouts a
// workload got (patches that set kubectl's restartedAt), the Events on it, and its record.
import type { Secret } from '@sscsi/common';
import { KubeApiError } from '@sscsi/common';
import { until } from '@sscsi/common/testing';

import { NS, RestartHarness } from '../testing/restart-harness';
import { parseRecord, RESTARTED_AT_ANNOTATION } from './annotations';
import type { PodStatus } from './restart-controller';
import { INVALID_REASON, RESTARTED_REASON } from './restart-controller';

let harnesses: RestartHarness[] = [];

async function started(o: { delayMs?: number; clockStepMs?: number } = {}): Promise<RestartHarness> {
  const h = new RestartHarness(o);
  harnesses.push(h);
  await h.start();
  await h.settle();
  return h;
}

afterEach(async () => {
  await Promise.all(harnesses.map((h) => h.stop()));
  harnesses = [];
});

const refusal = (status: number, reason: string) => () =>
  new KubeApiError('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/web`, status, reason, reason);

describe('restart on rotation', () => {
  it('records what the pods mount at first, without a restart', async () => {
    const h = new RestartHarness();
    harnesses.push(h);
    h.deployment('web', { optIn: 'true', spc: 'db', objects: ['password'] });
    await h.start();
    await h.settle();
    expect(h.restartsOf('web')).toBe(0);
    const record = parseRecord(h.deploymentObject('web')?.metadata.annotations);
    expect(record).toEqual(new Map([['db/password', new Set(['v1'])]]));
  });

  it('restarts once when a mounted object rotates in many pods, with an Event naming it', async () => {
    const h = await started();
    h.deployment('web', { optIn: 'true', replicas: 5, spc: 'db', objects: ['password', 'user'] });
    await h.settle();
    h.rotate('password', 'v2');
    await h.settle();
    expect(h.restartsOf('web')).toBe(1);
    expect(
      h.deploymentObject('web')?.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION],
    ).toMatch(/^2026-12-07T06:\d\d:\d\d\.\d{3}Z$/);
    expect(h.eventsOf('web')).toEqual([
      {
        object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: NS, name: 'web', uid: 'uid-web' },
        type: 'Normal',
        reason: RESTARTED_REASON,
        message: 'rolling restart: mounted objects changed: db/password',
      },
    ]);
  });

  it('does not restart again when the new pods mount the same versions', async () => {
    const h = await started();
    h.deployment('web', { optIn: 'true', replicas: 3, spc: 'db', objects: ['password'] });
    await h.settle();
    h.rotate('password', 'v2');
    await h.settle();
    // Until the deployment controller saw the new template, the old pods are still current.
    h.rotate('password', 'v2');
    await h.settle();
    h.rollout('web');
    await h.settle();
    expect(h.podsOf('web').map((p) => p.metadata.name)).toEqual([
      'web-rev2-p4',
      'web-rev2-p5',
      'web-rev2-p6',
    ]);
    expect(h.restartsOf('web')).toBe(1);
    // The next rotation is a new change: one more restart.
    h.rotate('password', 'v3');
    await h.settle();
    expect(h.restartsOf('web')).toBe(2);
  });

  it('gives one restart when pods rotate at different times, and ignores the pods being replaced', async () => {
    const h = await started();
    h.deployment('web', { optIn: 'true', replicas: 2, spc: 'db', objects: ['password'] });
    await h.settle();
    const [first, second] = h.podsOf('web').map((p) => p.metadata.name ?? '');
    h.rotate('password', 'v2', [first ?? '']);
    await h.settle();
    expect(h.restartsOf('web')).toBe(1);
    h.rollout('web');
    await h.settle();
    // The other node's driver rotates the pod that is going anyway: nothing more.
    h.rotate('password', 'v2', [second ?? '']);
    await h.settle();
    expect(h.restartsOf('web')).toBe(1);
  });

  it('does not restart pods that started with the new version; restarts once an older pod rotates in place', async () => {
    const h = await started();
    h.deployment('web', { optIn: 'true', replicas: 1, spc: 'db', objects: ['password'] });
    await h.settle();
    const [old] = h.podsOf('web').map((p) => p.metadata.name ?? '');
    // v2 is served; a user's rollout (or a scale from zero) starts pods that mount it from the start.
    h.served.set('password', 'v2');
    h.deployment('fresh', { optIn: 'true', replicas: 2, spc: 'db', objects: ['password'] });
    await h.settle();
    h.api.put('deployments', {
      ...h.deploymentObject('fresh'),
      metadata: {
        ...h.deploymentObject('fresh')?.metadata,
        annotations: {
          'secrets-store.csi.x-k8s.io/restart-on-rotation': 'true',
          'secrets-store.csi.x-k8s.io/restarted-for': '{"db/password":["v1"]}',
        },
      },
    });
    await h.settle();
    expect(h.restartsOf('fresh')).toBe(0);
    // The pod that mounted v1 rotates in place: its files changed under it.
    h.rotate('password', 'v2', [old ?? '']);
    await h.settle();
    expect(h.restartsOf('web')).toBe(1);
    expect(h.restartsOf('fresh')).toBe(0);
  });

  it('does not restart a paused Deployment whose pods rotate one after the other, and restarts it once resumed', async () => {
    const h = await started();
    h.deployment('web', { optIn: 'true', replicas: 2, spc: 'db', objects: ['password'], paused: true });
    await h.settle();
    const [a, b] = h.podsOf('web').map((p) => p.metadata.name ?? '');
    h.rotate('password', 'v2', [a ?? '']);
    await h.settle();
    h.rotate('password', 'v3', [b ?? '']);
    // Several delays, the deployment controller observing each generation without rolling out.
    for (let i = 0; i < 5; i++) {
      h.rollout('web');
      await h.settle();
    }
    expect(h.restartsOf('web')).toBe(0);
    expect(h.eventsOf('web')).toEqual([]);

    const d = h.deploymentObject('web');
    h.api.put('deployments', {
      ...d,
      metadata: { ...d?.metadata, generation: (d?.metadata.generation ?? 1) + 1 },
      spec: { ...d?.spec, paused: false },
    });
    for (let i = 0; i < 3; i++) {
      h.rollout('web');
      await h.settle();
    }
    expect(h.restartsOf('web')).toBe(1);
    expect(h.eventsOf('web', RESTARTED_REASON)).toHaveLength(1);
  });

  it('restarts a workload whose name is longer than the 58 characters its pods keep of it', async () => {
    const h = await started();
    const name = `web-${'x'.repeat(56)}`; // 60 characters: its pods start with 58 of `name-rev1-`
    h.deployment(name, { optIn: 'true', replicas: 2, spc: 'db', objects: ['password'] });
    await h.settle();
    expect(h.podsOf(name)[0]?.metadata.name).toBe(`${name.slice(0, 58)}p1`);
    h.rotate('password', 'v2');
    await h.settle();
    expect(h.restartsOf(name)).toBe(1);
  });

  it('rolls out a second restart written within the same second (or millisecond) as the first', async () => {
    const h = await started({ clockStepMs: 0 });
    h.deployment('web', { optIn: 'true', replicas: 1, spc: 'db', objects: ['password'] });
    await h.settle();
    const restartedAtNow = () =>
      h.deploymentObject('web')?.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
    h.rotate('password', 'v2');
    await h.settle();
    h.rollout('web');
    await h.settle();
    const first = restartedAtNow();
    h.rotate('password', 'v3');
    await h.settle();
    expect(h.restartsOf('web')).toBe(2);
    expect(restartedAtNow()).not.toBe(first);
    h.rollout('web');
    await h.settle();
    expect(h.podsOf('web').map((p) => p.metadata.name)).toEqual(['web-rev3-p3']);
  });

  it('does not take a status the driver rewrote for a new pod of the same name as rotated', async () => {
    const h = await started();
    h.deployment('web', { optIn: 'true', replicas: 1, spc: 'db', objects: ['password'] });
    await h.settle();
    const [pod] = h.podsOf('web');
    const podName = pod?.metadata.name ?? '';
    // A StatefulSet's way: the pod recreated under its name before its old status was collected;
    // the driver rewrites that status (a new generation) with the versions served now.
    h.served.set('password', 'v2');
    h.api.remove('pods', NS, podName);
    h.api.put('pods', { ...pod, metadata: { ...pod?.metadata, uid: 'uid-recreated' } });
    const [status] = h.api.objects<PodStatus>('secretproviderclasspodstatuses', NS);
    const owner = { apiVersion: 'v1', kind: 'Pod', name: podName, uid: 'uid-recreated' };
    h.api.put('secretproviderclasspodstatuses', {
      ...status,
      metadata: { ...status?.metadata, generation: 2, ownerReferences: [owner] },
      status: { ...status?.status, objects: [{ id: 'password', version: 'v2' }] },
    });
    await h.settle();
    expect(h.restartsOf('web')).toBe(0);
    // Its files rotating later is a change.
    h.rotate('password', 'v3');
    await h.settle();
    expect(h.restartsOf('web')).toBe(1);
  });

  it('leaves workloads without the opt-in, or with "false", alone', async () => {
    const h = await started();
    h.deployment('plain', { spc: 'db', objects: ['password'] });
    h.deployment('off', { optIn: 'false', spc: 'db', objects: ['password'] });
    await h.settle();
    h.rotate('password', 'v2');
    h.secret('env', { k: 'v2' });
    await h.settle();
    expect(h.patches).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('shows a wrong opt-in value as a Warning Event naming the annotation, and restarts nothing', async () => {
    const h = await started();
    h.deployment('web', { optIn: 'yes', spc: 'db', objects: ['password'] });
    await h.settle();
    h.rotate('password', 'v2');
    await h.settle();
    expect(h.patches).toEqual([]);
    expect(h.eventsOf('web', INVALID_REASON)).toEqual([
      expect.objectContaining({
        type: 'Warning',
        message:
          'annotation secrets-store.csi.x-k8s.io/restart-on-rotation is "yes": want "true" or "false"; no restart on rotation until it is corrected',
      }),
    ]);
  });

  it('restarts a workload reading a synced Secret when its data changes, not when only its metadata does', async () => {
    const h = new RestartHarness();
    harnesses.push(h);
    h.secret('app-env', { password: 'one' });
    h.secret('sync-env', { password: 'one' }, { 'secrets-store.sync.x-k8s.io': '' });
    h.secret('other', { password: 'one' }, { unrelated: 'yes' });
    h.deployment('env', { optIn: 'true', envFrom: 'app-env' });
    h.deployment('sync', { optIn: 'true', envFrom: 'sync-env' });
    h.deployment('other', { optIn: 'true', envFrom: 'other' });
    await h.start();
    await h.settle();
    const record =
      h.deploymentObject('env')?.metadata.annotations?.['secrets-store.csi.x-k8s.io/restarted-for'];
    // A mark of the data, not the data nor a plain hash of it.
    expect(record).toMatch(/^\{"Secret\/app-env":\["[0-9a-f]{32}"\]\}$/);
    expect(record).not.toContain(Buffer.from('one').toString('base64'));

    // Owners or labels added (the driver does so for each new pod): the same data, no restart.
    const s = h.api.object<Secret>('secrets', NS, 'app-env');
    const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'uid-x' };
    h.api.put('secrets', { ...s, metadata: { ...s?.metadata, ownerReferences: [owner] } });
    await h.settle();
    expect(h.restartsOf('env')).toBe(0);

    h.secret('app-env', { password: 'two' });
    h.secret('sync-env', { password: 'two' }, { 'secrets-store.sync.x-k8s.io': '' });
    h.secret('other', { password: 'two' }, { unrelated: 'yes' });
    await h.settle();
    expect([h.restartsOf('env'), h.restartsOf('sync'), h.restartsOf('other')]).toEqual([1, 1, 0]);
    expect(h.eventsOf('env')[0]?.message).toBe('rolling restart: synced Secrets changed: app-env');
    h.rollout('env');
    await h.settle();
    expect(h.restartsOf('env')).toBe(1);
  });

  it('does not restart a workload scaled to zero when a Secret it reads changes', async () => {
    const h = await started();
    h.secret('app-env', { password: 'one' });
    h.deployment('env', { optIn: 'true', replicas: 0, envFrom: 'app-env' });
    await h.settle();
    h.secret('app-env', { password: 'two' });
    await h.settle();
    expect(h.restartsOf('env')).toBe(0);
    expect(h.eventsOf('env')).toEqual([]);
  });

  it('does not restart again after a controller restart: the record is on the workload', async () => {
    const first = await started();
    first.deployment('web', { optIn: 'true', spc: 'db', objects: ['password'] });
    await first.settle();
    first.rotate('password', 'v2');
    await first.settle();
    expect(first.restartsOf('web')).toBe(1);
    first.rollout('web');
    await first.settle();
    await first.stop();

    // A new process (or a new leader) over the same cluster.
    const second = new RestartHarness();
    harnesses.push(second);
    for (const plural of ['deployments', 'replicasets', 'pods', 'secretproviderclasspodstatuses'])
      for (const obj of first.api.objects(plural)) second.api.put(plural, obj);
    await second.start();
    await second.settle();
    expect(second.patches).toEqual([]);
  });

  it('catches up after a restart with a rotation that happened while it was away', async () => {
    const first = await started();
    first.deployment('web', { optIn: 'true', spc: 'db', objects: ['password'] });
    await first.settle();
    await first.stop();
    first.rotate('password', 'v2');
    const second = new RestartHarness();
    harnesses.push(second);
    for (const plural of ['deployments', 'replicasets', 'pods', 'secretproviderclasspodstatuses'])
      for (const obj of first.api.objects(plural)) second.api.put(plural, obj);
    await second.start();
    await second.settle();
    expect(second.restartsOf('web')).toBe(1);
  });

  it.each([
    [409, 'Conflict', 'conflict'],
    [500, 'InternalError', 'failed'],
  ])('retries a restart refused with %i later, and restarts once', async (status, reason, outcome) => {
    const h = await started();
    h.deployment('web', { optIn: 'true', spc: 'db', objects: ['password'] });
    await h.settle();
    h.api.failNext('PATCH', 'deployments', refusal(status, reason));
    h.rotate('password', 'v2');
    await until(() => h.restartsOf('web') === 1, 5000, 'the retried restart');
    await h.settle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await h.settle();
    expect(h.restartsOf('web')).toBe(1);
    expect(h.eventsOf('web', RESTARTED_REASON)).toHaveLength(1);
    // The refusal counted as such (a 409 is no failure), then the one restart.
    expect(h.outcomes.filter((o) => o !== 'unchanged')).toEqual(['recorded', outcome, 'restarted']);
  });

  it('gives one restart for statuses changing within the delay', async () => {
    const h = await started({ delayMs: 50 });
    h.deployment('web', { optIn: 'true', replicas: 4, spc: 'db', objects: ['password'] });
    await h.settle();
    for (const pod of h.podsOf('web')) h.rotate('password', 'v2', [pod.metadata.name ?? '']);
    await h.settle();
    expect(h.restartsOf('web')).toBe(1);
  });

  it('gives one restart when a second status changes while the first restart is being written', async () => {
    const h = await started({ delayMs: 0 });
    h.deployment('web', { optIn: 'true', replicas: 2, spc: 'db', objects: ['password'] });
    await h.settle();
    const [a, b] = h.podsOf('web').map((p) => p.metadata.name ?? '');
    const release = h.api.hold('PATCH', 'deployments');
    h.rotate('password', 'v2', [a ?? '']);
    await until(() => h.api.count('PATCH', 'deployments') === 2, 5000, 'the restart in flight');
    h.rotate('password', 'v2', [b ?? '']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await until(() => h.restartsOf('web') === 1, 5000, 'the restart');
    await h.settle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(h.restartsOf('web')).toBe(1);
    expect(h.eventsOf('web', RESTARTED_REASON)).toHaveLength(1);
  });

  it('refuses a second restart decided on a stale copy of the workload (a cache behind its own write), and does not retry it into one', async () => {
    const h = await started({ delayMs: 0 });
    h.deployment('web', { optIn: 'true', replicas: 2, spc: 'db', objects: ['password'] });
    await h.settle();
    const [a, b] = h.podsOf('web').map((p) => p.metadata.name ?? '');
    const catchUp = h.lagging('deployments');
    h.rotate('password', 'v2', [a ?? '']);
    await until(() => h.restartsOf('web') === 1, 5000, 'the restart');
    // The cache still holds the workload as it was before the restart, without its new record.
    h.rotate('password', 'v3', [b ?? '']);
    await until(() => h.api.count('PATCH', 'deployments') === 3, 5000, 'the second attempt');
    expect(h.restartsOf('web')).toBe(1);
    catchUp();
    await h.settle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await h.settle();
    // Seen afresh: pod b of the template being replaced no longer counts.
    expect(h.restartsOf('web')).toBe(1);
  });
});
