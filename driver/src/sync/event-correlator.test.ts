import type { CoreEvent } from '@sscsi/common';
import { KubeApiError } from '@sscsi/common';
import { capturingLogger } from '@sscsi/common/testing';

import type { EventSink } from './event-correlator';
import { CLIENT_GO_LIMITS, CorrelatingEventRecorder } from './event-correlator';

/** An in-memory Events API: what `kubectl get events` would list, and the calls it received. */
class FakeEvents implements EventSink {
  readonly stored = new Map<string, CoreEvent>();
  readonly calls: string[] = [];
  failNext: Array<'create' | 'patch' | 'patch-not-found'> = [];
  /** While set, creates wait for it: writes in flight. */
  gate?: Promise<void>;
  private n = 0;

  async create(namespace: string, event: CoreEvent): Promise<CoreEvent> {
    this.calls.push('create');
    await this.gate;
    if (this.failNext[0] === 'create') {
      this.failNext.shift();
      throw new KubeApiError('POST', '/events', 500, 'InternalError', 'etcd is away');
    }
    const name = `${event.metadata.generateName ?? ''}${++this.n}`;
    const stored = { ...event, metadata: { ...event.metadata, name, namespace } };
    this.stored.set(name, stored);
    return stored;
  }

  async patch(_namespace: string, name: string, change: Partial<CoreEvent>): Promise<CoreEvent> {
    this.calls.push('patch');
    const failure = this.failNext[0];
    if (failure === 'patch' || failure === 'patch-not-found') {
      this.failNext.shift();
      if (failure === 'patch-not-found') this.stored.delete(name);
      throw failure === 'patch'
        ? new KubeApiError('PATCH', `/events/${name}`, 500, 'InternalError', 'etcd is away')
        : new KubeApiError('PATCH', `/events/${name}`, 404, 'NotFound', 'expired');
    }
    const existing = this.stored.get(name);
    if (!existing) throw new KubeApiError('PATCH', `/events/${name}`, 404, 'NotFound', 'gone');
    const updated = { ...existing, ...change };
    this.stored.set(name, updated);
    return updated;
  }

  events(): CoreEvent[] {
    return [...this.stored.values()];
  }
}

const pod = { name: 'app', namespace: 'default', uid: 'uid-1' };
const { logger, lines: logged } = capturingLogger();

function setup(limits = CLIENT_GO_LIMITS) {
  const sink = new FakeEvents();
  let now = Date.parse('2026-01-01T00:00:00Z');
  const recorder = new CorrelatingEventRecorder(
    sink,
    'csi-secrets-store-controller',
    'node-1',
    logger,
    limits,
    () => now,
  );
  return { sink, recorder, advance: (ms: number) => (now += ms) };
}

describe('CorrelatingEventRecorder', () => {
  it('shows the same reason and message on one pod as one Event with a count', async () => {
    const { sink, recorder, advance } = setup();
    for (let i = 0; i < 5; i++) {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'secret x is missing the key tls.key');
      await recorder.flush();
      advance(1000);
    }
    const events = sink.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      reason: 'FailedToCreateSecret',
      type: 'Warning',
      count: 5,
      firstTimestamp: '2026-01-01T00:00:00.000Z',
      lastTimestamp: '2026-01-01T00:00:04.000Z',
      involvedObject: { kind: 'Pod', name: 'app', namespace: 'default', uid: 'uid-1' },
      source: { component: 'csi-secrets-store-controller', host: 'node-1' },
    });
    expect(sink.calls).toEqual(['create', 'patch', 'patch', 'patch', 'patch']);
  });

  it('keeps Events apart by pod, type, reason and message', async () => {
    const { sink, recorder } = setup();
    recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'a');
    recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'b');
    recorder.record(pod, 'Normal', 'FailedToCreateSecret', 'a');
    recorder.record(pod, 'Normal', 'SecretRotationComplete', 'a');
    recorder.record({ ...pod, name: 'other', uid: 'uid-2' }, 'Warning', 'FailedToCreateSecret', 'a');
    recorder.record({ ...pod, uid: 'uid-3' }, 'Warning', 'FailedToCreateSecret', 'a'); // a new pod of that name
    await recorder.flush();
    expect(sink.events()).toHaveLength(6);
    expect(sink.events().every((e) => e.count === 1)).toBe(true);
  });

  it('writes a burst recorded while the first write is in flight as one create and one patch', async () => {
    const { sink, recorder } = setup();
    let open: () => void = () => undefined;
    sink.gate = new Promise<void>((resolve) => (open = resolve));
    recorder.record(pod, 'Normal', 'SecretRotationComplete', 'updated');
    while (sink.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 49; i++) recorder.record(pod, 'Normal', 'SecretRotationComplete', 'updated');
    open();
    await recorder.flush();
    expect(sink.calls).toEqual(['create', 'patch']);
    expect(sink.events()).toEqual([expect.objectContaining({ count: 50 })]);
  });

  it('combines more than 10 different messages of one reason on one pod within 10 minutes', async () => {
    const { sink, recorder, advance } = setup();
    for (let i = 1; i <= 14; i++) {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', `attempt ${i} failed`);
      advance(1000);
    }
    await recorder.flush();
    const events = sink.events();
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
    expect(sink.events().some((e) => e.message === 'attempt 15 failed')).toBe(true);
  });

  it('lets each pod have 25 Events at once, then one more every 5 minutes', async () => {
    const { sink, recorder, advance } = setup();
    for (let i = 0; i < 40; i++) recorder.record(pod, 'Normal', `Reason${i}`, 'm');
    recorder.record({ ...pod, name: 'other', uid: 'uid-2' }, 'Normal', 'Reason', 'm');
    await recorder.flush();
    expect(sink.events().filter((e) => e.involvedObject.name === 'app')).toHaveLength(25);
    expect(sink.events().filter((e) => e.involvedObject.name === 'other')).toHaveLength(1);

    advance(CLIENT_GO_LIMITS.refillMs);
    recorder.record(pod, 'Normal', 'Later1', 'm');
    recorder.record(pod, 'Normal', 'Later2', 'm');
    await recorder.flush();
    const reasons = sink.events().map((e) => e.reason);
    expect(reasons).toContain('Later1');
    expect(reasons).not.toContain('Later2');
  });

  it('recovers from failed writes and from an expired Event', async () => {
    const { sink, recorder } = setup();
    const again = async () => {
      recorder.record(pod, 'Warning', 'FailedToCreateSecret', 'x');
      await recorder.flush();
    };
    sink.failNext = ['create'];
    await again(); // lost, logged
    expect(sink.events()).toHaveLength(0);
    await again(); // created, with both sightings counted
    expect(sink.events()).toEqual([expect.objectContaining({ count: 2 })]);
    sink.failNext = ['patch'];
    await again(); // lost, logged
    await again();
    expect(sink.events()).toEqual([expect.objectContaining({ count: 4 })]);
    sink.failNext = ['patch-not-found'];
    await again(); // the Event expired meanwhile: a new one, still counting
    expect(sink.events()).toEqual([expect.objectContaining({ count: 5 })]);
    expect(sink.calls.filter((c) => c === 'create')).toHaveLength(3);
    expect(logged.filter((l) => l.includes('failed to record event'))).toHaveLength(2);
  });

  it('forgets the least recently used Events beyond its cache size', async () => {
    const { sink, recorder } = setup({ ...CLIENT_GO_LIMITS, cacheEntries: 2 });
    for (const message of ['a', 'b', 'c', 'a']) recorder.record(pod, 'Normal', 'R', message);
    await recorder.flush();
    // `a` was forgotten when `c` came: its second sighting is a new Event.
    expect(sink.events().filter((e) => e.message === 'a')).toHaveLength(2);
  });
});
