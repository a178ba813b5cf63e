// For unit tests: an in-memory Events API (create with generateName, merge patch) with the pod
// lookup the recorder makes for a missing uid: what `kubectl get events` would list, the calls it
// received, and faults on request.
import type { EventsApi } from '../events/event-recorder';
import type { RequestOptions } from '../kube/api';
import { KubeApiError } from '../kube/errors';
import type { CoreEvent, Pod } from '../kube/types';

type Fault = 'create' | 'create-forbidden' | 'create-unreachable' | 'patch' | 'patch-not-found' | 'get';

const EVENTS = /^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/;
const PODS = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/;

export class FakeEventsApi implements EventsApi {
  /** Every request, as `VERB path`. */
  readonly calls: string[] = [];
  /** The timeout each request was given. */
  readonly timeouts: Array<number | undefined> = [];
  readonly stored = new Map<string, CoreEvent>();
  /** The pods a uid lookup finds, by `namespace/name`. */
  readonly podUids = new Map<string, string>();
  /** The next calls of these kinds fail, one fault each. */
  failNext: Fault[] = [];
  /** While set, creates wait for it: writes in flight. */
  gate?: Promise<void>;
  private n = 0;

  async get<T>(path: string, opts?: RequestOptions): Promise<T> {
    this.request(`GET ${path}`, opts);
    const [, namespace, name] = PODS.exec(path) ?? [];
    if (this.fault('get')) throw new KubeApiError('GET', path, 403, 'Forbidden', 'pods is forbidden');
    const uid = this.podUids.get(`${namespace}/${name}`);
    if (!uid) throw new KubeApiError('GET', path, 404, 'NotFound', `pods "${name}" not found`);
    return { metadata: { name, namespace, uid } } satisfies Pod as T;
  }

  async create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    this.request(`POST ${path}`, opts);
    await this.gate;
    if (this.fault('create')) throw new KubeApiError('POST', path, 500, 'InternalError', 'etcd is away');
    if (this.fault('create-forbidden'))
      throw new KubeApiError('POST', path, 403, 'Forbidden', 'events is forbidden');
    if (this.fault('create-unreachable'))
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' });
    const [, namespace] = EVENTS.exec(path) ?? [];
    const event = body as CoreEvent;
    const name = `${event.metadata.generateName ?? ''}${++this.n}`;
    const stored = { ...event, metadata: { ...event.metadata, name, namespace } };
    this.stored.set(name, stored);
    return stored as T;
  }

  async patch<T>(path: string, body: unknown, _type: string, opts?: RequestOptions): Promise<T> {
    this.request(`PATCH ${path}`, opts);
    const [, , name = ''] = EVENTS.exec(path) ?? [];
    if (this.fault('patch')) throw new KubeApiError('PATCH', path, 500, 'InternalError', 'etcd is away');
    if (this.fault('patch-not-found')) {
      this.stored.delete(name);
      throw new KubeApiError('PATCH', path, 404, 'NotFound', 'expired');
    }
    const existing = this.stored.get(name);
    if (!existing) throw new KubeApiError('PATCH', path, 404, 'NotFound', 'gone');
    const updated = { ...existing, ...(body as Partial<CoreEvent>) };
    this.stored.set(name, updated);
    return updated as T;
  }

  /** The Events stored, in the order they were created. */
  events(): CoreEvent[] {
    return [...this.stored.values()];
  }

  /** The kinds of writes received, in order: `create` or `patch`. */
  writes(): string[] {
    return this.calls.flatMap((c) =>
      c.startsWith('POST') ? ['create'] : c.startsWith('PATCH') ? ['patch'] : [],
    );
  }

  private request(call: string, opts: RequestOptions | undefined): void {
    this.calls.push(call);
    this.timeouts.push(opts?.timeoutMs);
  }

  private fault(kind: Fault): boolean {
    if (this.failNext[0] !== kind) return false;
    this.failNext.shift();
    return true;
  }
}
