import type { CoreEvent } from '@sscsi/common';
import { KubeApiError } from '@sscsi/common';
import { capturingLogger } from '@sscsi/common/testing';

import type { EventsApi } from './pod-events';
import { MAX_EVENTS_PER_MOUNT, PodEventRecorder } from './pod-events';

class FakeEventsApi implements EventsApi {
  readonly created: Array<{ path: string; event: CoreEvent }> = [];
  readonly gets: string[] = [];
  createError: Error | undefined;
  getError: Error | undefined;

  async get<T>(path: string): Promise<T> {
    this.gets.push(path);
    if (this.getError) throw this.getError;
    return { metadata: { name: 'app', uid: 'uid-from-api' } } as T;
  }

  async create<T>(path: string, body: unknown): Promise<T> {
    if (this.createError) throw this.createError;
    this.created.push({ path, event: body as CoreEvent });
    return body as T;
  }
}

function recorder() {
  const api = new FakeEventsApi();
  const { logger, lines: logs } = capturingLogger();
  return { api, logs, events: new PodEventRecorder(api, 'secrets-store-csi-driver-provider-aws', logger) };
}

const pod = { namespace: 'shop', name: 'app', uid: 'uid-1' };

describe('PodEventRecorder', () => {
  it('writes one Warning Event per message on the pod, with its uid so that kubectl describe shows it', async () => {
    const { api, events } = recorder();
    await events.warn(pod, 'SecretProviderClassWarning', ['first', 'second']);
    expect(api.created.map((c) => c.path)).toEqual([
      '/api/v1/namespaces/shop/events',
      '/api/v1/namespaces/shop/events',
    ]);
    expect(api.created[0]?.event).toMatchObject({
      metadata: { namespace: 'shop' },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'app', uid: 'uid-1' },
      type: 'Warning',
      reason: 'SecretProviderClassWarning',
      message: 'first',
      source: { component: 'secrets-store-csi-driver-provider-aws' },
      count: 1,
    });
    expect(api.created[1]?.event.message).toBe('second');
    expect(api.gets).toEqual([]);
  });

  it('looks the pod uid up when the driver did not send it', async () => {
    const { api, events } = recorder();
    await events.warn({ ...pod, uid: undefined }, 'R', ['m']);
    expect(api.gets).toEqual(['/api/v1/namespaces/shop/pods/app']);
    expect(api.created[0]?.event.involvedObject.uid).toBe('uid-from-api');
  });

  it('still writes the Event, without a uid, when the pod cannot be read (chart with awsRegion grants no pods get)', async () => {
    const { api, events, logs } = recorder();
    api.getError = new KubeApiError(
      'GET',
      '/api/v1/namespaces/shop/pods/app',
      403,
      'Forbidden',
      'cannot get',
    );
    await events.warn({ ...pod, uid: undefined }, 'R', ['m']);
    expect(api.created).toHaveLength(1);
    expect(api.created[0]?.event.involvedObject).toMatchObject({
      kind: 'Pod',
      namespace: 'shop',
      name: 'app',
    });
    expect(api.created[0]?.event.involvedObject.uid).toBeUndefined();
    expect(logs).toEqual([]);
  });

  it('writes at most a bounded number of Events for one mount and shortens long messages', async () => {
    const { api, events } = recorder();
    await events.warn(
      pod,
      'R',
      Array.from({ length: 25 }, (_, i) => `${i}:${'x'.repeat(2000)}`),
    );
    expect(api.created).toHaveLength(MAX_EVENTS_PER_MOUNT);
    expect(api.created[0]?.event.message.length).toBeLessThanOrEqual(1024);
  });

  it('writes nothing without messages', async () => {
    const { api, events } = recorder();
    await events.warn(pod, 'R', []);
    expect([api.created, api.gets]).toEqual([[], []]);
  });

  it('never rejects: a refused write (no RBAC) is logged with what to grant', async () => {
    const { api, events, logs } = recorder();
    api.createError = new KubeApiError(
      'POST',
      '/api/v1/namespaces/shop/events',
      403,
      'Forbidden',
      'cannot create',
    );
    await expect(events.warn(pod, 'R', ['m'])).resolves.toBeUndefined();
    const logged = JSON.parse(logs[0] ?? '{}') as { msg?: string; err?: string };
    expect(logged.msg).toBe('failed to record a warning event on the pod');
    expect(logged.err).toContain('needs "create" on "events"');
  });

  it('never rejects when the API server is unreachable', async () => {
    const { api, events, logs } = recorder();
    api.createError = new Error('connect ECONNREFUSED');
    await expect(events.warn(pod, 'R', ['m'])).resolves.toBeUndefined();
    expect(logs.join('')).toContain('ECONNREFUSED');
  });
});
