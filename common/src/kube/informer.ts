// An informer: lists a resource once, then keeps a local copy current through a watch, so readers
// answer from memory instead of asking the API server each time. Re-lists when the watch expires.
import type { KubeApi } from './api';
import { isGone, KubeApiError } from './errors';
import type { ResourceType } from './resources';
import { resourcePath } from './resources';
import type { KubeList, KubeObject, WatchEvent } from './types';

export interface InformerHandlers<T> {
  added?(obj: T): void;
  updated?(obj: T, old: T): void;
  deleted?(obj: T): void;
}

export interface InformerOptions<T = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Called when a list or watch fails; the informer retries with backoff on its own. */
  onError?(err: unknown): void;
  /**
   * What is kept of each object, applied before it is stored or handed to handlers (client-go's
   * transform): fields never read are dropped, and what must not stay in memory (a Secret's data)
   * is reduced to what the reader needs.
   */
  transform?(obj: T): T;
}

const key = (obj: KubeObject): string => `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly abort = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private running?: Promise<void>;

  constructor(
    private readonly client: Pick<KubeApi, 'get' | 'watch'>,
    private readonly type: ResourceType,
    private readonly options: InformerOptions<T> = {},
  ) {}

  addHandlers(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first complete list. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(`${namespace ?? ''}/${name}`);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  private get path(): string {
    return resourcePath(this.type, this.options.namespace);
  }

  private selectors(): Record<string, string | undefined> {
    return { labelSelector: this.options.labelSelector, fieldSelector: this.options.fieldSelector };
  }

  private async run(): Promise<void> {
    let failures = 0;
    let needList = true;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist(signal);
          needList = false;
        }
        // The server ends a watch after timeoutSeconds; a randomised value spreads re-watches out.
        const timeoutSeconds = 240 + Math.floor(Math.random() * 120);
        await this.client.watch<T>(
          this.path,
          {
            ...this.selectors(),
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
          },
          (event) => this.apply(event),
          signal,
        );
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          needList = true;
          continue;
        }
        failures += 1;
        needList = true;
        this.options.onError?.(err);
        const delayMs = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const list = await this.client.get<KubeList<T>>(this.path, { query: this.selectors(), signal });
    const fresh = new Map(list.items.map((item) => [key(item), this.kept(item)]));
    for (const [k, old] of this.store) {
      if (!fresh.has(k)) {
        this.store.delete(k);
        this.emit((h) => h.deleted?.(old));
      }
    }
    for (const [k, obj] of fresh) {
      const old = this.store.get(k);
      this.store.set(k, obj);
      if (!old) this.emit((h) => h.added?.(obj));
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.emit((h) => h.updated?.(obj, old));
    }
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private apply(event: WatchEvent<T>): void {
    if (event.type === 'ERROR') {
      const status = event.object;
      throw new KubeApiError(
        'WATCH',
        this.path,
        status.code ?? 500,
        status.reason ?? 'Error',
        status.message ?? '',
      );
    }
    if (event.object.metadata.resourceVersion) this.resourceVersion = event.object.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const obj = this.kept(event.object);
    const k = key(obj);
    const old = this.store.get(k);
    if (event.type === 'DELETED') {
      this.store.delete(k);
      this.emit((h) => h.deleted?.(old ?? obj));
    } else {
      this.store.set(k, obj);
      if (old) this.emit((h) => h.updated?.(obj, old));
      else this.emit((h) => h.added?.(obj));
    }
  }

  private kept(obj: T): T {
    return this.options.transform ? this.options.transform(obj) : obj;
  }

  private emit(call: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        call(h);
      } catch (err) {
        this.options.onError?.(err);
      }
    }
  }
}
