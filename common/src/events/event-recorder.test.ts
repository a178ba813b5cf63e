import { createLogger } from '../logger';
import { FakeEventsApi } from '../testing/fake-events-api';
import type { CorrelationLimits } from './event-recorder';
import {
  CLIENT_GO_LIMITS,
  CorrelatingEventRecorder,
  MAX_EVENT_MESSAGE_LENGTH,
  podReference,
} from './event-recorder';

const pod = podReference({ name: 'app', namespace: 'default', uid: 'uid-1' });

function setup(limits: CorrelationLimits = CLIENT_GO_LIMITS) {
  const api = new FakeEventsApi();
  const logs: string[] = [];
  let now = Date.parse('2026-01-01T00:00:00Z');
  const recorder = new CorrelatingEventRecorder(api, {
    component: 'csi-secrets-store-controller',
    host: 'node-1',
    logger: createLogger({
      name: 'test',
      json: true,
      verbosity: 5,
      destination: { write: (l: string) => logs.push(l) },
    }),
    limits,
    now: () => now,
  });
  const logged = (msg: string) =>
    logs.map((l) => JSON.parse(l) as { msg: string; err?: string }).filter((l) => l.msg === msg);
  return { api, recorder, logged, advance: (ms: number) => (now += ms) };
}

describe('CorrelatingEventRecorder', () => {
  it('shows the same reason and message on one pod as one Event with a count', async () => {
    const { api, recorder, advance } = setup();
    for (let i = 0; i < 5; i++) {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'secret x is missing the key tls.key');
      await recorder.flush();
      advance(1000);
    }
    const events = api.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      metadata: { namespace: 'default' },
      reason: 'FailedToCreateSecret',
      type: 'Warning',
      count: 5,
      firstTimestamp: '2026-01-01T00:00:00.000Z',
      lastTimestamp: '2026-01-01T00:00:04.000Z',
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'app', namespace: 'default', uid: 'uid-1' },
      source: { component: 'csi-secrets-store-controller', host: 'node-1' },
      reportingComponent: 'csi-secrets-store-controller',
      reportingInstance: 'node-1',
    });
    expect(api.writes()).toEqual(['create', 'patch', 'patch', 'patch', 'patch']);
    expect(api.calls[0]).toBe('POST /api/v1/namespaces/default/events');
  });

  it('keeps Events apart by object, type, reason and message', async () => {
    const { api, recorder } = setup();
    recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'a');
    recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'b');
    recorder.record(pod, 'Normal', 'FailedToCreateSecret', 'a');
    recorder.record(pod, 'Normal', 'SecretRotationComplete', 'a');
    recorder.record({ ...pod, name: 'other', uid: 'uid-2' }, 'Warning', 'FailedToCreateSecret', 'a');
    recorder.record({ ...pod, uid: 'uid-3' }, 'Warning', 'FailedToCreateSecret', 'a'); // a new pod of that name
    recorder.record(
      { apiVersion: 'secret-sync.x-k8s.io/v1alpha1', kind: 'SecretSync', namespace: 'default', name: 'app' },
      'Warning',
      'FailedToCreateSecret',
      'a',
    );
    await recorder.flush();
    expect(api.events()).toHaveLength(7);
    expect(api.events().every((e) => e.count === 1)).toBe(true);
  });

  it('records on objects other than pods, without looking a uid up', async () => {
    const { api, recorder } = setup();
    const secretSync = {
      apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
      kind: 'SecretSync',
      namespace: 'shop',
      name: 'db',
      uid: 'uid-9',
    };
    recorder.record(secretSync, 'Normal', 'SecretSynced', 'synced');
    recorder.record({ ...secretSync, uid: undefined }, 'Normal', 'SecretSynced', 'synced');
    await recorder.flush();
    expect(api.events().map((e) => e.involvedObject)).toEqual([
      secretSync,
      { ...secretSync, uid: undefined },
    ]);
    expect(api.events()[0]?.metadata.generateName).toBe('db.');
    expect(api.calls.filter((c) => c.startsWith('GET'))).toEqual([]);
  });

  it('writes a burst recorded while the first write is in flight as one create and one patch', async () => {
    const { api, recorder } = setup();
    let open: () => void = () => undefined;
    api.gate = new Promise<void>((resolve) => (open = resolve));
    recorder.record(pod, 'Normal', 'SecretRotationComplete', 'updated');
    while (api.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 49; i++) recorder.record(pod, 'Normal', 'SecretRotationComplete', 'updated');
    open();
    await recorder.flush();
    expect(api.writes()).toEqual(['create', 'patch']);
    expect(api.events()).toEqual([expect.objectContaining({ count: 50 })]);
  });

  it('never delays the caller: recording returns while the API server has not answered', () => {
    const { api, recorder } = setup();
    api.gate = new Promise<void>(() => undefined);
    const started = performance.now();
    for (let i = 0; i < 100; i++) recorder.record(pod, 'Warning', 'R', `m${i % 3}`);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(api.events()).toEqual([]);
  });

  it('combines more than 10 different messages of one reason on one pod within 10 minutes', async () => {
    const { api, recorder, advance } = setup();
    for (let i = 1; i <= 14; i++) {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', `attempt ${i} failed`);
      advance(1000);
    }
    await recorder.flush();
    const events = api.events();
    expect(events.filter((e) => !e.message.startsWith('(combined'))).toHaveLength(10);
    const combined = events.filter((e) => e.message.startsWith('(combined from similar events): '));
    expect(combined).toHaveLength(1);
    expect(combined[0]).toMatchObject({
      count: 4,
      message: '(combined from similar events): attempt 14 failed',
    });

    // A quiet window later, messages stand alone again.
    advance(CLIENT_GO_LIMITS.similarWindowMs + 1);
    recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'attempt 15 failed');
    await recorder.flush();
    expect(api.events().some((e) => e.message === 'attempt 15 failed')).toBe(true);
  });

  it('lets each object have 25 Events at once, then one more every 5 minutes', async () => {
    const { api, recorder, advance } = setup();
    for (let i = 0; i < 40; i++) recorder.record(pod, 'Normal', `Reason${i}`, 'm');
    recorder.record({ ...pod, name: 'other', uid: 'uid-2' }, 'Normal', 'Reason', 'm');
    await recorder.flush();
    expect(api.events().filter((e) => e.involvedObject.name === 'app')).toHaveLength(25);
    expect(api.events().filter((e) => e.involvedObject.name === 'other')).toHaveLength(1);

    advance(CLIENT_GO_LIMITS.refillMs);
    recorder.record(pod, 'Normal', 'Later1', 'm');
    recorder.record(pod, 'Normal', 'Later2', 'm');
    await recorder.flush();
    const reasons = api.events().map((e) => e.reason);
    expect(reasons).toContain('Later1');
    expect(reasons).not.toContain('Later2');
  });

  it('recovers from failed writes and from an expired Event', async () => {
    const { api, recorder, logged } = setup();
    const again = async () => {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'x');
      await recorder.flush();
    };
    api.failNext = ['create'];
    await again(); // lost, logged
    expect(api.events()).toHaveLength(0);
    await again(); // created, with both sightings counted
    expect(api.events()).toEqual([expect.objectContaining({ count: 2 })]);
    api.failNext = ['patch'];
    await again(); // lost, logged
    await again();
    expect(api.events()).toEqual([expect.objectContaining({ count: 4 })]);
    api.failNext = ['patch-not-found'];
    await again(); // the Event expired meanwhile: a new one, still counting
    expect(api.events()).toEqual([expect.objectContaining({ count: 5 })]);
    expect(api.writes().filter((c) => c === 'create')).toHaveLength(3);
    expect(logged('failed to record event')).toHaveLength(2);
  });

  it('forgets the least recently used Events beyond its cache size', async () => {
    const { api, recorder } = setup({ ...CLIENT_GO_LIMITS, cacheEntries: 2 });
    for (const message of ['a', 'b', 'c', 'a']) recorder.record(pod, 'Normal', 'R', message);
    await recorder.flush();
    // `a` was forgotten when `c` came: its second sighting is a new Event.
    expect(api.events().filter((e) => e.message === 'a')).toHaveLength(2);
  });

  it('shortens long messages, and counts the same long message as one Event', async () => {
    const { api, recorder } = setup();
    const long = `${'x'.repeat(2000)}`;
    recorder.record(pod, 'Warning', 'R', long);
    recorder.record(pod, 'Warning', 'R', long);
    await recorder.flush();
    const [event] = api.events();
    expect(event?.message).toHaveLength(MAX_EVENT_MESSAGE_LENGTH);
    expect(event?.message.endsWith('...')).toBe(true);
    expect(event?.count).toBe(2);
  });

  describe('a pod referred to without its uid (the provider may not be told it)', () => {
    const noUid = podReference({ namespace: 'shop', name: 'app' });

    it('looks the uid up, so that kubectl describe pod shows the Event', async () => {
      const { api, recorder } = setup();
      api.podUids.set('shop/app', 'uid-from-api');
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      expect(api.calls).toContain('GET /api/v1/namespaces/shop/pods/app');
      expect(api.events()[0]?.involvedObject).toMatchObject({ kind: 'Pod', uid: 'uid-from-api' });
    });

    it('still writes the Event, without a uid, when the pod cannot be read (chart with awsRegion grants no pods get)', async () => {
      const { api, recorder, logged } = setup();
      api.failNext = ['get'];
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      expect(api.events()).toHaveLength(1);
      expect(api.events()[0]?.involvedObject).toMatchObject({ kind: 'Pod', namespace: 'shop', name: 'app' });
      expect(api.events()[0]?.involvedObject.uid).toBeUndefined();
      expect(logged('failed to record event')).toEqual([]);
      expect(logged('pod uid unknown; recording the event without it')).toHaveLength(1);
    });

    it('does not look it up again to update the Event', async () => {
      const { api, recorder } = setup();
      api.podUids.set('shop/app', 'uid-from-api');
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      expect(api.calls.filter((c) => c.startsWith('GET'))).toHaveLength(1);
      expect(api.events()).toEqual([expect.objectContaining({ count: 2 })]);
    });
  });

  it('never throws: a refused write (no RBAC) is logged with what to grant', async () => {
    const { api, recorder, logged } = setup();
    api.failNext = ['create-forbidden'];
    expect(() => recorder.record(pod, 'Warning', 'R', 'm')).not.toThrow();
    await recorder.flush();
    const [line] = logged('failed to record event');
    expect(line?.err).toContain('403 Forbidden');
    expect(line?.err).toContain('needs "create" and "patch" on "events"');
  });

  it('never throws when the API server is unreachable', async () => {
    const { api, recorder, logged } = setup();
    api.failNext = ['create-unreachable'];
    recorder.record(pod, 'Warning', 'R', 'm');
    await expect(recorder.flush()).resolves.toBeUndefined();
    expect(logged('failed to record event')[0]?.err).toContain('ECONNREFUSED');
  });

  it('gives the API server a short deadline: an Event is not worth a long wait', async () => {
    const { api, recorder } = setup();
    recorder.record(podReference({ namespace: 'shop', name: 'app' }), 'Warning', 'R', 'm');
    await recorder.flush();
    recorder.record(podReference({ namespace: 'shop', name: 'app' }), 'Warning', 'R', 'm');
    await recorder.flush();
    expect(api.calls.map((c) => c.split(' ')[0])).toEqual(['GET', 'POST', 'PATCH']);
    expect(api.timeouts).toEqual([5000, 5000, 5000]);
  });
});
