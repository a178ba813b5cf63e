// For unit tests: an in-memory Kubernetes API with the verbs the sync controller and its informers
// use (list, watch, get, create, replace, delete), resource versions and their conflicts, label and
// field selectors of the simple `key=value` kind, and faults on request: a failing call, or a call
// held until the test lets it go.
import type { KubeClient } from '../kube/client';
import { KubeApiError } from '../kube/errors';
import type { KubeList, KubeObject, WatchEvent } from '../kube/types';

type Verb = 'LIST' | 'WATCH' | 'GET' | 'POST' | 'PUT' | 'DELETE';

interface Parsed {
  plural: string;
  namespace?: string;
  name?: string;
}

/** `/api/v1/namespaces/ns/secrets/name`, `/apis/group/v1/pods`, ... */
function parse(path: string): Parsed {
  const m = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (!m) throw new Error(`fake API: unexpected path ${path}`);
  return { namespace: m[1], plural: m[2] as string, name: m[3] };
}

function matches(obj: KubeObject, query: Record<string, unknown> | undefined): boolean {
  const pairs = (selector: unknown) =>
    typeof selector === 'string' && selector
      ? selector.split(',').map((p) => p.split('=') as [string, string])
      : [];
  for (const [k, v] of pairs(query?.labelSelector)) if (obj.metadata.labels?.[k] !== v) return false;
  for (const [field, v] of pairs(query?.fieldSelector)) {
    const value = field
      .split('.')
      .reduce<unknown>((o, part) => (o as Record<string, unknown> | undefined)?.[part], obj);
    if (value !== v) return false;
  }
  return true;
}

interface Watcher {
  plural: string;
  namespace?: string;
  query: Record<string, unknown>;
  onEvent: (event: WatchEvent<KubeObject>) => void;
}

export interface Call {
  verb: Verb;
  path: string;
  query?: Record<string, unknown>;
}

export class FakeKube {
  readonly calls: Call[] = [];
  private readonly store = new Map<string, KubeObject>();
  private readonly watchers = new Set<Watcher>();
  private readonly faults: Array<{ verb: Verb; plural: string; error: () => Error }> = [];
  private readonly holds: Array<{ verb: Verb; plural: string; until: Promise<void> }> = [];
  private version = 0;
  private uids = 0;

  /** This fake as the client type the code under test takes. */
  get client(): KubeClient {
    return this as unknown as KubeClient;
  }

  /** The next `verb` on `plural` fails with `error`. */
  failNext(verb: Verb, plural: string, error: () => Error): void {
    this.faults.push({ verb, plural, error });
  }

  /** Calls of `verb` on `plural` wait until the returned function is called. */
  hold(verb: Verb, plural: string): () => void {
    let release: () => void = () => undefined;
    this.holds.push({ verb, plural, until: new Promise<void>((resolve) => (release = resolve)) });
    return () => release();
  }

  count(verb: Verb, plural: string): number {
    return this.calls.filter((c) => c.verb === verb && parseSafe(c.path)?.plural === plural).length;
  }

  /**
   * Stores an object as an admin would, with a watch event unless `silently` (an event the
   * watchers miss); returns it with its uid and resource version.
   */
  put<T extends KubeObject>(plural: string, obj: T, silently = false): T {
    const key = this.key(plural, obj.metadata.namespace, obj.metadata.name);
    const existing = this.store.get(key);
    const stored = {
      ...obj,
      metadata: {
        ...obj.metadata,
        uid: existing?.metadata.uid ?? obj.metadata.uid ?? `uid-${++this.uids}`,
        resourceVersion: String(++this.version),
      },
    } as T;
    this.store.set(key, stored);
    if (!silently) this.emit(plural, existing ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  /** Removes an object; with `silently`, no watch event goes out (a missed event). */
  remove(plural: string, namespace: string | undefined, name: string, silently = false): void {
    const key = this.key(plural, namespace, name);
    const existing = this.store.get(key);
    this.store.delete(key);
    if (existing && !silently)
      this.emit(plural, 'DELETED', { ...existing, metadata: { ...existing.metadata } });
  }

  object<T extends KubeObject>(plural: string, namespace: string | undefined, name: string): T | undefined {
    return this.store.get(this.key(plural, namespace, name)) as T | undefined;
  }

  // The KubeClient surface.

  async get<T>(path: string, opts: { query?: Record<string, unknown> } = {}): Promise<T> {
    const p = parse(path);
    if (!p.name) {
      await this.enter('LIST', path, p.plural);
      const prefix = p.namespace ? `${p.plural}|${p.namespace}|` : `${p.plural}|`;
      const items = [...this.store.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .map(([, v]) => v)
        .filter((o) => matches(o, opts.query));
      return { items, metadata: { resourceVersion: String(this.version) } } as KubeList<KubeObject> as T;
    }
    await this.enter('GET', path, p.plural, opts.query);
    const obj = this.store.get(this.key(p.plural, p.namespace, p.name));
    if (!obj) throw new KubeApiError('GET', path, 404, 'NotFound', `${p.plural} "${p.name}" not found`);
    return structuredClone(obj) as T;
  }

  async create<T>(path: string, body: KubeObject): Promise<T> {
    const p = parse(path);
    await this.enter('POST', path, p.plural);
    const name = body.metadata.name ?? '';
    if (this.store.has(this.key(p.plural, p.namespace, name)))
      throw new KubeApiError('POST', path, 409, 'AlreadyExists', `${p.plural} "${name}" already exists`);
    return this.put(p.plural, { ...body, metadata: { ...body.metadata, namespace: p.namespace } }) as T;
  }

  async replace<T>(path: string, body: KubeObject): Promise<T> {
    const p = parse(path);
    await this.enter('PUT', path, p.plural);
    const existing = this.store.get(this.key(p.plural, p.namespace, p.name));
    if (!existing) throw new KubeApiError('PUT', path, 404, 'NotFound', `${p.plural} "${p.name}" not found`);
    if (body.metadata.resourceVersion !== existing.metadata.resourceVersion)
      throw new KubeApiError('PUT', path, 409, 'Conflict', 'the object has been modified');
    return this.put(p.plural, body) as T;
  }

  async delete<T>(
    path: string,
    opts: { body?: { preconditions?: { resourceVersion?: string } } } = {},
  ): Promise<T> {
    const p = parse(path);
    await this.enter('DELETE', path, p.plural);
    const existing = this.store.get(this.key(p.plural, p.namespace, p.name));
    if (!existing)
      throw new KubeApiError('DELETE', path, 404, 'NotFound', `${p.plural} "${p.name}" not found`);
    const wanted = opts.body?.preconditions?.resourceVersion;
    if (wanted !== undefined && wanted !== existing.metadata.resourceVersion)
      throw new KubeApiError('DELETE', path, 409, 'Conflict', 'precondition failed');
    this.remove(p.plural, p.namespace, p.name ?? '');
    return {} as T;
  }

  async watch<T>(
    path: string,
    query: Record<string, unknown>,
    onEvent: (event: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const p = parse(path);
    await this.enter('WATCH', path, p.plural);
    const watcher: Watcher = {
      plural: p.plural,
      namespace: p.namespace,
      query,
      onEvent: onEvent as (event: WatchEvent<KubeObject>) => void,
    };
    this.watchers.add(watcher);
    await new Promise<void>((resolve) => {
      if (signal?.aborted) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    this.watchers.delete(watcher);
  }

  private key(plural: string, namespace: string | undefined, name: string | undefined): string {
    return `${plural}|${namespace ?? ''}|${name ?? ''}`;
  }

  private async enter(
    verb: Verb,
    path: string,
    plural: string,
    query?: Record<string, unknown>,
  ): Promise<void> {
    this.calls.push(query ? { verb, path, query } : { verb, path });
    const hold = this.holds.find((h) => h.verb === verb && h.plural === plural);
    if (hold) await hold.until;
    const i = this.faults.findIndex((f) => f.verb === verb && f.plural === plural);
    if (i >= 0) {
      const [fault] = this.faults.splice(i, 1);
      throw fault?.error();
    }
  }

  private emit(plural: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void {
    for (const w of this.watchers) {
      if (w.plural !== plural) continue;
      if (w.namespace !== undefined && w.namespace !== obj.metadata.namespace) continue;
      if (!matches(obj, w.query)) continue;
      w.onEvent({ type, object: structuredClone(obj) });
    }
  }
}

function parseSafe(path: string): Parsed | undefined {
  try {
    return parse(path);
  } catch {
    return undefined;
  }
}
