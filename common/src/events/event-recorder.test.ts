import { KubeApiError } from '../kube/errors';
import type { CoreEvent } from '../kube/types';
import { capturingLogger, FakeKube } from '../testing';
import type { CorrelationLimits } from './event-recorder';
import {
  CLIENT_GO_LIMITS,
  CorrelatingEventRecorder,
  MAX_EVENT_MESSAGE_LENGTH,
  podReference,
} from './event-recorder';

const pod = podReference({ name: 'app', namespace: 'default', uid: 'uid-1' });

/** An answer of the API server that refuses a call. */
const refusal = (method: string, status: number, reason: string, message: string) => () =>
  new KubeApiError(method, '/api/v1/namespaces/default/events', status, reason, message);

function setup(limits: CorrelationLimits = CLIENT_GO_LIMITS) {
  const api = new FakeKube();
  const { logger, lines } = capturingLogger(5);
  let now = Date.parse('2026-01-01T00:00:00Z');
  const recorder = new CorrelatingEventRecorder(api, {
    component: 'csi-secrets-store-controller',
    host: 'node-1',
    logger,
    limits,
    now: () => now,
  });
  const logged = (msg: string) =>
    lines.map((l) => JSON.parse(l) as { msg: string; err?: string }).filter((l) => l.msg === msg);
  /** What `kubectl get events -A` lists, oldest first. */
  const events = () => api.objects<CoreEvent>('events');
  /** The writes of Events, in order: `create` or `patch`. */
  const writes = () =>
    api.calls.flatMap((c) => (c.verb === 'POST' ? ['create'] : c.verb === 'PATCH' ? ['patch'] : []));
  return { api, recorder, logged, events, writes, advance: (ms: number) => (now += ms) };
}

describe('CorrelatingEventRecorder', () => {
  it('shows the same reason and message on one pod as one Event with a count', async () => {
    const { api, recorder, events, writes, advance } = setup();
    for (let i = 0; i < 5; i++) {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'secret x is missing the key tls.key');
      await recorder.flush();
      advance(1000);
    }
    expect(events()).toHaveLength(1);
    expect(events()[0]).toMatchObject({
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
    expect(writes()).toEqual(['create', 'patch', 'patch', 'patch', 'patch']);
    expect(api.calls[0]).toMatchObject({ verb: 'POST', path: '/api/v1/namespaces/default/events' });
  });

  it('keeps Events apart by object, type, reason and message', async () => {
    const { recorder, events } = setup();
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
    expect(events()).toHaveLength(7);
    expect(events().every((e) => e.count === 1)).toBe(true);
  });

  it('records on objects other than pods, without looking a uid up', async () => {
    const { api, recorder, events } = setup();
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
    expect(events().map((e) => e.involvedObject)).toEqual([secretSync, { ...secretSync, uid: undefined }]);
    expect(events()[0]?.metadata.generateName).toBe('db.');
    expect(api.calls.filter((c) => c.verb === 'GET')).toEqual([]);
  });

  it('writes a burst recorded while the first write is in flight as one create and one patch', async () => {
    const { api, recorder, events, writes } = setup();
    const open = api.hold('POST', 'events');
    recorder.record(pod, 'Normal', 'SecretRotationComplete', 'updated');
    while (api.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 49; i++) recorder.record(pod, 'Normal', 'SecretRotationComplete', 'updated');
    open();
    await recorder.flush();
    expect(writes()).toEqual(['create', 'patch']);
    expect(events()).toEqual([expect.objectContaining({ count: 50 })]);
  });

  it('never delays the caller: recording returns while the API server has not answered', () => {
    const { api, recorder, events } = setup();
    api.hold('POST', 'events'); // never let go
    const started = performance.now();
    for (let i = 0; i < 100; i++) recorder.record(pod, 'Warning', 'R', `m${i % 3}`);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(events()).toEqual([]);
  });

  it('combines more than 10 different messages of one reason on one pod within 10 minutes', async () => {
    const { recorder, events, advance } = setup();
    for (let i = 1; i <= 14; i++) {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', `attempt ${i} failed`);
      advance(1000);
    }
    await recorder.flush();
    expect(events().filter((e) => !e.message.startsWith('(combined'))).toHaveLength(10);
    const combined = events().filter((e) => e.message.startsWith('(combined from similar events): '));
    expect(combined).toHaveLength(1);
    expect(combined[0]).toMatchObject({
      count: 4,
      message: '(combined from similar events): attempt 14 failed',
    });

    // A quiet window later, messages stand alone again.
    advance(CLIENT_GO_LIMITS.similarWindowMs + 1);
    recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'attempt 15 failed');
    await recorder.flush();
    expect(events().some((e) => e.message === 'attempt 15 failed')).toBe(true);
  });

  it('lets each object have 25 Events at once, then one more every 5 minutes', async () => {
    const { recorder, events, advance } = setup();
    for (let i = 0; i < 40; i++) recorder.record(pod, 'Normal', `Reason${i}`, 'm');
    recorder.record({ ...pod, name: 'other', uid: 'uid-2' }, 'Normal', 'Reason', 'm');
    await recorder.flush();
    expect(events().filter((e) => e.involvedObject.name === 'app')).toHaveLength(25);
    expect(events().filter((e) => e.involvedObject.name === 'other')).toHaveLength(1);

    advance(CLIENT_GO_LIMITS.refillMs);
    recorder.record(pod, 'Normal', 'Later1', 'm');
    recorder.record(pod, 'Normal', 'Later2', 'm');
    await recorder.flush();
    const reasons = events().map((e) => e.reason);
    expect(reasons).toContain('Later1');
    expect(reasons).not.toContain('Later2');
  });

  it('recovers from failed writes and from an expired Event', async () => {
    const { api, recorder, logged, events, writes } = setup();
    const again = async () => {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'x');
      await recorder.flush();
    };
    api.failNext('POST', 'events', refusal('POST', 500, 'InternalError', 'etcd is away'));
    await again(); // lost, logged
    expect(events()).toHaveLength(0);
    await again(); // created, with both sightings counted
    expect(events()).toEqual([expect.objectContaining({ count: 2 })]);
    api.failNext('PATCH', 'events', refusal('PATCH', 500, 'InternalError', 'etcd is away'));
    await again(); // lost, logged
    await again();
    expect(events()).toEqual([expect.objectContaining({ count: 4 })]);
    const [expired] = events();
    api.remove('events', 'default', expired?.metadata.name ?? '');
    await again(); // the Event expired meanwhile: a new one, still counting
    expect(events()).toEqual([expect.objectContaining({ count: 5 })]);
    expect(writes().filter((c) => c === 'create')).toHaveLength(3);
    expect(logged('failed to record event')).toHaveLength(2);
  });

  it('forgets the least recently used Events beyond its cache size', async () => {
    const { recorder, events } = setup({ ...CLIENT_GO_LIMITS, cacheEntries: 2 });
    for (const message of ['a', 'b', 'c', 'a']) recorder.record(pod, 'Normal', 'R', message);
    await recorder.flush();
    // `a` was forgotten when `c` came: its second sighting is a new Event.
    expect(events().filter((e) => e.message === 'a')).toHaveLength(2);
  });

  it('shortens long messages, and counts the same long message as one Event', async () => {
    const { recorder, events } = setup();
    const long = `${'x'.repeat(2000)}`;
    recorder.record(pod, 'Warning', 'R', long);
    recorder.record(pod, 'Warning', 'R', long);
    await recorder.flush();
    const [event] = events();
    expect(event?.message).toHaveLength(MAX_EVENT_MESSAGE_LENGTH);
    expect(event?.message.endsWith('...')).toBe(true);
    expect(event?.count).toBe(2);
  });

  describe('a pod referred to without its uid (the provider may not be told it)', () => {
    const noUid = podReference({ namespace: 'shop', name: 'app' });

    it('looks the uid up, so that kubectl describe pod shows the Event', async () => {
      const { api, recorder, events } = setup();
      api.put('pods', { metadata: { namespace: 'shop', name: 'app', uid: 'uid-from-api' } });
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      expect(api.calls).toContainEqual(
        expect.objectContaining({ verb: 'GET', path: '/api/v1/namespaces/shop/pods/app' }),
      );
      expect(events()[0]?.involvedObject).toMatchObject({ kind: 'Pod', uid: 'uid-from-api' });
    });

    it('still writes the Event, without a uid, when the pod cannot be read (chart with awsRegion grants no pods get)', async () => {
      const { api, recorder, logged, events } = setup();
      api.put('pods', { metadata: { namespace: 'shop', name: 'app', uid: 'uid-from-api' } });
      api.failNext('GET', 'pods', refusal('GET', 403, 'Forbidden', 'pods "app" is forbidden'));
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      expect(events()).toHaveLength(1);
      expect(events()[0]?.involvedObject).toMatchObject({ kind: 'Pod', namespace: 'shop', name: 'app' });
      expect(events()[0]?.involvedObject.uid).toBeUndefined();
      expect(logged('failed to record event')).toEqual([]);
      expect(logged('pod uid unknown; recording the event without it')).toHaveLength(1);
    });

    it('does not look it up again to update the Event', async () => {
      const { api, recorder, events } = setup();
      api.put('pods', { metadata: { namespace: 'shop', name: 'app', uid: 'uid-from-api' } });
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      recorder.record(noUid, 'Warning', 'R', 'm');
      await recorder.flush();
      expect(api.count('GET', 'pods')).toBe(1);
      expect(events()).toEqual([expect.objectContaining({ count: 2 })]);
    });
  });

  it('never throws: a refused write (no RBAC) is logged with what to grant', async () => {
    const { api, recorder, logged } = setup();
    api.failNext('POST', 'events', refusal('POST', 403, 'Forbidden', 'events is forbidden'));
    expect(() => recorder.record(pod, 'Warning', 'R', 'm')).not.toThrow();
    await recorder.flush();
    const [line] = logged('failed to record event');
    expect(line?.err).toContain('403 Forbidden');
    expect(line?.err).toContain('needs "create" and "patch" on "events"');
  });

  it('never throws when the API server is unreachable', async () => {
    const { api, recorder, logged } = setup();
    api.failNext('POST', 'events', () =>
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
    );
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
    expect(api.calls.map((c) => [c.verb, c.timeoutMs])).toEqual([
      ['GET', 5000],
      ['POST', 5000],
      ['PATCH', 5000],
    ]);
  });
});
