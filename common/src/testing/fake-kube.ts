// For unit tests: an in-memory Kubernetes API server behind KubeApi, the interface every program's
// code takes. It keeps what an API server promises that code relies on: resource versions from one
// counter (as etcd's revision), optimistic concurrency on replace, patch and delete preconditions,
// AlreadyExists and NotFound, label and field selectors of the equality kind, watches that start
// where a list left off (replaying the events since), bookmarks, 410 Gone once the history is
// compacted, and watches the server ends; the status subresource (a replace of the status alone),
// ServiceAccount tokens (`serviceaccounts/<name>/token`), `dryRun=All` (checked, not stored), and
// server-side apply as far as a single field manager sees it (creates, or merges into what exists).
// Faults on request: a failing call, or a call held until the test lets it go. Not modelled:
// finalizers (a delete removes at once), admission, defaulting, generations, strategic merge by list
// keys (a strategic patch merges as a merge patch: lists are replaced), apply's field ownership
// (no conflicts between managers, fields left out of an apply are not removed).
import type { KubeApi, PatchType, RequestOptions } from '../kube/api';
import { KubeApiError } from '../kube/errors';
import type { KubeList, KubeObject, TokenRequest, WatchEvent } from '../kube/types';

export type Verb = 'LIST' | 'WATCH' | 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

type Query = RequestOptions['query'];

interface Parsed {
  plural: string;
  namespace?: string;
  name?: string;
  /** `status`, `token`, ... */
  subresource?: string;
}

/** `/api/v1/namespaces/ns/secrets/name`, `/apis/group/v1/pods`, `.../secretsyncs/name/status` ... */
function parse(path: string): Parsed {
  const m =
    /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(
      path,
    );
  if (!m) throw new Error(`fake API: unexpected path ${path}`);
  const decode = (part: string | undefined) => (part === undefined ? undefined : decodeURIComponent(part));
  const parsed: Parsed = { namespace: decode(m[1]), plural: m[2] as string, name: decode(m[3]) };
  if (m[4] !== undefined) parsed.subresource = m[4];
  return parsed;
}

const isDryRun = (opts: RequestOptions) => opts.query?.dryRun === 'All';

function parseSafe(path: string): Parsed | undefined {
  try {
    return parse(path);
  } catch {
    return undefined;
  }
}

/** `a=b,c!=d,e,!f`: the equality-based selectors (no `in`, `notin`). */
function requirements(selector: unknown): Array<(value: (key: string) => unknown) => boolean> {
  if (typeof selector !== 'string' || selector === '') return [];
  return selector.split(',').map((term) => {
    const [, key, op, wanted] = /^\s*(!?[^!=\s]+)\s*(!=|==|=)?\s*(.*?)\s*$/.exec(term) ?? [];
    if (key === undefined) throw new Error(`fake API: unsupported selector ${selector}`);
    if (op === undefined)
      return key.startsWith('!')
        ? (value) => value(key.slice(1)) === undefined
        : (value) => value(key) !== undefined;
    return op === '!=' ? (value) => value(key) !== wanted : (value) => value(key) === wanted;
  });
}

function matches(obj: KubeObject, query: Query): boolean {
  const label = (key: string) => obj.metadata.labels?.[key];
  const field = (path: string) =>
    path.split('.').reduce<unknown>((o, part) => (o as Record<string, unknown> | undefined)?.[part], obj);
  return (
    requirements(query?.labelSelector).every((ok) => ok(label)) &&
    requirements(query?.fieldSelector).every((ok) => ok(field))
  );
}

/** RFC 7386: objects merge key by key, null removes a key, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const result: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function isKubeObject(body: unknown): body is KubeObject {
  return (
    body !== null &&
    typeof body === 'object' &&
    typeof (body as { metadata?: unknown }).metadata === 'object' &&
    (body as { metadata?: unknown }).metadata !== null
  );
}

function abortError(method: string, path: string): Error {
  return Object.assign(new Error(`${method} ${path}: aborted`), { name: 'AbortError', code: 'ABORT_ERR' });
}

interface Watcher {
  plural: string;
  namespace?: string;
  query: Query;
  onEvent: (event: WatchEvent<KubeObject>) => void;
  /** Ends the watch: resolved without `err`, rejected with it. */
  end: (err?: unknown) => void;
}

interface Change {
  plural: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  version: number;
}

export interface Call {
  verb: Verb;
  path: string;
  query?: Query;
  /** The deadline the caller gave the request, when it gave one. */
  timeoutMs?: number;
}

export class FakeKube implements KubeApi {
  readonly calls: Call[] = [];
  private readonly store = new Map<string, KubeObject>();
  private readonly watchers = new Set<Watcher>();
  /** Every change since the last compaction, for watches that start at an older version. */
  private history: Change[] = [];
  /** Watches from a version older than this are answered 410 Gone. */
  private compactedAt = 0;
  private readonly faults: Array<{ verb: Verb; plural: string; error: () => Error }> = [];
  private readonly holds: Array<{ verb: Verb; plural: string; until: Promise<void> }> = [];
  private version = 0;
  private uids = 0;
  private names = 0;
  private tokens = 0;

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

  /** The resource version of the latest change, as a list would answer it. */
  get resourceVersion(): string {
    return String(this.version);
  }

  /** Open watches on `plural`. */
  watching(plural: string): number {
    return [...this.watchers].filter((w) => w.plural === plural).length;
  }

  /** The server ends the open watches on `plural` (all, without it), as at their timeout. */
  endWatches(plural?: string): void {
    for (const w of this.watchers) if (plural === undefined || w.plural === plural) w.end();
  }

  /** Sends a BOOKMARK at the current version to the watches on `plural` that allow them. */
  bookmark(plural: string): void {
    for (const w of this.watchers) {
      if (w.plural !== plural || !w.query?.allowWatchBookmarks) continue;
      this.deliver(w, { type: 'BOOKMARK', object: { metadata: { resourceVersion: this.resourceVersion } } });
    }
  }

  /** Sends an ERROR event with this Status to the open watches on `plural`, then closes them. */
  watchError(plural: string, code: number, reason: string, message = reason): void {
    for (const w of this.watchers) if (w.plural === plural) this.fail(w, code, reason, message);
  }

  /** Forgets the changes so far, as etcd's compaction: a watch from an older version gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedAt = this.version;
  }

  /**
   * Stores an object as an admin would, with a watch event unless `silently` (an event the
   * watchers miss: it is not in the history either); returns it with its uid and resource version.
   */
  put<T extends KubeObject>(plural: string, obj: T, silently = false): T {
    const key = this.key(plural, obj.metadata.namespace, obj.metadata.name);
    const existing = this.store.get(key);
    const stored = {
      ...structuredClone(obj),
      metadata: {
        ...structuredClone(obj.metadata),
        uid: existing?.metadata.uid ?? obj.metadata.uid ?? `uid-${++this.uids}`,
        resourceVersion: String(++this.version),
      },
    };
    this.store.set(key, stored);
    if (!silently) this.changed(plural, existing ? 'MODIFIED' : 'ADDED', stored);
    return structuredClone(stored);
  }

  /** Removes an object; with `silently`, no watch event goes out (a missed event). */
  remove(plural: string, namespace: string | undefined, name: string, silently = false): void {
    const key = this.key(plural, namespace, name);
    const existing = this.store.get(key);
    this.store.delete(key);
    if (!existing) return;
    // A deleted object's last state carries the version of its deletion.
    const gone = { ...existing, metadata: { ...existing.metadata, resourceVersion: String(++this.version) } };
    if (!silently) this.changed(plural, 'DELETED', gone);
  }

  object<T extends KubeObject>(plural: string, namespace: string | undefined, name: string): T | undefined {
    const obj = this.store.get(this.key(plural, namespace, name));
    return obj && (structuredClone(obj) as T);
  }

  /** The objects of `plural` (in `namespace`, or in all), in the order they were created. */
  objects<T extends KubeObject>(plural: string, namespace?: string): T[] {
    const prefix = namespace === undefined ? `${plural}|` : `${plural}|${namespace}|`;
    return [...this.store.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, obj]) => structuredClone(obj) as T);
  }

  // KubeApi.

  async get<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const p = parse(path);
    if (!p.name) {
      await this.enter('LIST', path, p.plural, opts);
      const prefix = p.namespace ? `${p.plural}|${p.namespace}|` : `${p.plural}|`;
      const items = [...this.store.entries()]
        .filter(([k, v]) => k.startsWith(prefix) && matches(v, opts.query))
        .map(([, v]) => structuredClone(v));
      const list: KubeList<KubeObject> = { items, metadata: { resourceVersion: this.resourceVersion } };
      return list as T;
    }
    await this.enter('GET', path, p.plural, opts);
    return structuredClone(this.existing('GET', path, p)) as T;
  }

  async create<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    const p = parse(path);
    await this.enter('POST', path, p.plural, opts, p.subresource);
    if (p.plural === 'serviceaccounts' && p.subresource === 'token') return this.token(path, p, body) as T;
    if (p.name) throw new KubeApiError('POST', path, 405, 'MethodNotAllowed', 'POST to an object');
    const obj = this.bodyOf('POST', path, body, p);
    const name =
      obj.metadata.name || (obj.metadata.generateName && `${obj.metadata.generateName}${++this.names}`);
    if (!name) throw new KubeApiError('POST', path, 422, 'Invalid', 'metadata.name: Required value');
    if (this.store.has(this.key(p.plural, p.namespace, name)))
      throw new KubeApiError('POST', path, 409, 'AlreadyExists', `${p.plural} "${name}" already exists`);
    const { resourceVersion: _ignored, ...metadata } = obj.metadata;
    const created = { ...obj, metadata: { ...metadata, name, namespace: p.namespace } };
    if (isDryRun(opts)) return created as T;
    return this.put(p.plural, created) as T;
  }

  async replace<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    const p = parse(path);
    await this.enter('PUT', path, p.plural, opts, p.subresource);
    const obj = this.bodyOf('PUT', path, body, p);
    const existing = this.existing('PUT', path, p);
    // Without a resourceVersion a replace is unconditional, as for the API server's built-in types.
    const wanted = obj.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== existing.metadata.resourceVersion)
      throw new KubeApiError('PUT', path, 409, 'Conflict', 'the object has been modified');
    if (p.subresource !== undefined && p.subresource !== 'status')
      throw new Error(`fake API: no PUT on the ${p.subresource} subresource`);
    // The status subresource changes the status alone, whatever else the body holds.
    const replaced =
      p.subresource === 'status'
        ? { ...existing, status: (obj as { status?: unknown }).status }
        : { ...obj, metadata: { ...obj.metadata, name: p.name, namespace: p.namespace } };
    if (isDryRun(opts)) return structuredClone(replaced) as T;
    return this.put(p.plural, replaced) as T;
  }

  async patch<T>(path: string, body: unknown, type: PatchType, opts: RequestOptions = {}): Promise<T> {
    const p = parse(path);
    await this.enter('PATCH', path, p.plural, opts, p.subresource);
    if (type === 'json')
      throw new KubeApiError('PATCH', path, 415, 'UnsupportedMediaType', 'the fake API has no JSON patch');
    if (p.subresource !== undefined)
      throw new Error(`fake API: no PATCH on the ${p.subresource} subresource`);
    if (type === 'apply' && !this.store.has(this.key(p.plural, p.namespace, p.name))) {
      // An apply of an object that does not exist creates it.
      const obj = this.bodyOf('PATCH', path, body, p);
      const created = { ...obj, metadata: { ...obj.metadata, name: p.name, namespace: p.namespace } };
      return (isDryRun(opts) ? created : this.put(p.plural, created)) as T;
    }
    const existing = this.existing('PATCH', path, p);
    const wanted = isKubeObject(body) ? body.metadata.resourceVersion : undefined;
    if (wanted !== undefined && wanted !== existing.metadata.resourceVersion)
      throw new KubeApiError('PATCH', path, 409, 'Conflict', 'the object has been modified');
    const patched = mergePatch(existing, body);
    if (!isKubeObject(patched))
      throw new KubeApiError('PATCH', path, 422, 'Invalid', 'the patch removes the metadata');
    const { name, namespace, uid } = existing.metadata;
    const result = { ...patched, metadata: { ...patched.metadata, name, namespace, uid } };
    if (isDryRun(opts)) return structuredClone(result) as T;
    return this.put(p.plural, result) as T;
  }

  async delete<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const p = parse(path);
    await this.enter('DELETE', path, p.plural, opts);
    const existing = this.existing('DELETE', path, p);
    const preconditions = (opts.body as { preconditions?: { resourceVersion?: string; uid?: string } })
      ?.preconditions;
    if (
      (preconditions?.resourceVersion !== undefined &&
        preconditions.resourceVersion !== existing.metadata.resourceVersion) ||
      (preconditions?.uid !== undefined && preconditions.uid !== existing.metadata.uid)
    )
      throw new KubeApiError('DELETE', path, 409, 'Conflict', 'precondition failed');
    this.remove(p.plural, p.namespace, p.name ?? '');
    return { kind: 'Status', apiVersion: 'v1', status: 'Success' } as T;
  }

  async watch<T>(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const p = parse(path);
    await this.enter('WATCH', path, p.plural, { query, signal });
    let end!: (err?: unknown) => void;
    const ended = new Promise<void>((resolve, reject) => {
      end = (err) => {
        this.watchers.delete(watcher);
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined || signal?.aborted) resolve();
        else reject(err);
      };
    });
    const onAbort = () => end();
    const watcher: Watcher = {
      plural: p.plural,
      namespace: p.namespace,
      query,
      onEvent: onEvent as (event: WatchEvent<KubeObject>) => void,
      end,
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.watchers.add(watcher);
    this.replay(watcher, query?.resourceVersion);
    return ended;
  }

  /** What a watch from `from` receives first: the state (no version), the changes since, or 410. */
  private replay(w: Watcher, from: string | number | boolean | undefined): void {
    if (from === undefined || from === '') {
      for (const [k, obj] of this.store)
        if (k.startsWith(`${w.plural}|`))
          this.deliverChange(w, { plural: w.plural, type: 'ADDED', object: obj });
      return;
    }
    const version = Number(from);
    if (!Number.isInteger(version) || version < this.compactedAt) {
      this.fail(w, 410, 'Expired', `too old resource version: ${String(from)} (${this.compactedAt})`);
      return;
    }
    for (const change of this.history) if (change.version > version) this.deliverChange(w, change);
  }

  /** An ERROR event carries a Status; the server closes the stream after it. */
  private fail(w: Watcher, code: number, reason: string, message: string): void {
    this.deliver(w, { type: 'ERROR', object: { kind: 'Status', status: 'Failure', code, reason, message } });
    if (this.watchers.has(w)) w.end();
  }

  private changed(plural: string, type: Change['type'], obj: KubeObject): void {
    const change: Change = { plural, type, object: structuredClone(obj), version: this.version };
    this.history.push(change);
    for (const w of this.watchers) this.deliverChange(w, change);
  }

  private deliverChange(w: Watcher, change: Pick<Change, 'plural' | 'type' | 'object'>): void {
    if (w.plural !== change.plural) return;
    if (w.namespace !== undefined && w.namespace !== change.object.metadata.namespace) return;
    if (!matches(change.object, w.query)) return;
    this.deliver(w, { type: change.type, object: structuredClone(change.object) });
  }

  /** As the real client: an exception of the handler ends its watch with that error. */
  private deliver(w: Watcher, event: WatchEvent<KubeObject>): void {
    try {
      w.onEvent(event);
    } catch (err) {
      w.end(err);
    }
  }

  private key(plural: string, namespace: string | undefined, name: string | undefined): string {
    return `${plural}|${namespace ?? ''}|${name ?? ''}`;
  }

  private existing(method: string, path: string, p: Parsed): KubeObject {
    const obj = this.store.get(this.key(p.plural, p.namespace, p.name));
    if (!obj) throw new KubeApiError(method, path, 404, 'NotFound', `${p.plural} "${p.name}" not found`);
    return obj;
  }

  /** The body of a create or replace, checked as the API server does. */
  private bodyOf(method: string, path: string, body: unknown, p: Parsed): KubeObject {
    if (!isKubeObject(body)) throw new KubeApiError(method, path, 400, 'BadRequest', 'the body is no object');
    const { namespace, name } = body.metadata;
    if (namespace !== undefined && namespace !== p.namespace)
      throw new KubeApiError(method, path, 400, 'BadRequest', 'the namespace of the object does not match');
    if (p.name !== undefined && name !== undefined && name !== p.name)
      throw new KubeApiError(method, path, 400, 'BadRequest', 'the name of the object does not match');
    return structuredClone(body);
  }

  /** A ServiceAccount's token: 600 s unless asked otherwise, its audiences as asked. */
  private token(path: string, p: Parsed, body: unknown): TokenRequest {
    this.existing('POST', path, { plural: p.plural, namespace: p.namespace, name: p.name });
    const request = body as TokenRequest;
    const seconds = request.spec?.expirationSeconds ?? 3600;
    return {
      ...request,
      spec: { ...request.spec, expirationSeconds: seconds },
      status: {
        token: `fake-token-${++this.tokens}`,
        expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    };
  }

  /**
   * Records a call, then applies holds and faults: those for `plural` (`secretsyncs`) catch its
   * subresources too; those for `plural/subresource` (`secretsyncs/status`) only that one.
   */
  private async enter(
    verb: Verb,
    path: string,
    plural: string,
    opts: RequestOptions,
    subresource?: string,
  ): Promise<void> {
    const call: Call = { verb, path };
    if (opts.query) call.query = opts.query;
    if (opts.timeoutMs !== undefined) call.timeoutMs = opts.timeoutMs;
    this.calls.push(call);
    const concerns = (target: string) => target === plural || target === `${plural}/${subresource}`;
    if (opts.signal?.aborted) throw abortError(verb, path);
    const hold = this.holds.find((h) => h.verb === verb && concerns(h.plural));
    if (hold) await hold.until;
    if (opts.signal?.aborted) throw abortError(verb, path);
    const i = this.faults.findIndex((f) => f.verb === verb && concerns(f.plural));
    if (i >= 0) {
      const [fault] = this.faults.splice(i, 1);
      throw fault?.error();
    }
  }
}
