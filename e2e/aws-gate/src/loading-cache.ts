// What the gate reads back from moto (roles, policies, OIDC providers, secrets' ARNs and tags) for
// its decisions: one load per key at a time, kept for a short while, dropped whole when a write
// through the gate may have changed it. A load that started before such a write never fills the
// cache, so a decision made after a write never sees what was there before it.

export interface LoadingCacheOptions {
  /** How long a loaded value serves (writes that bypass the gate are seen after this). */
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export class LoadingCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();
  private readonly loading = new Map<string, { generation: number; promise: Promise<V> }>();
  private generation = 0;
  private readonly now: () => number;

  constructor(private readonly o: LoadingCacheOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The cached value, or the one load under way for `key`, or a new load. Failures are not kept. */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const entry = this.entries.get(key);
    if (entry && this.now() - entry.at < this.o.ttlMs) return Promise.resolve(entry.value);
    const pending = this.loading.get(key);
    if (pending && pending.generation === this.generation) return pending.promise;
    const generation = this.generation;
    const promise: Promise<V> = load()
      .then((value) => {
        if (generation === this.generation) this.store(key, value);
        return value;
      })
      .finally(() => {
        if (this.loading.get(key)?.promise === promise) this.loading.delete(key);
      });
    this.loading.set(key, { generation, promise });
    return promise;
  }

  /** Forgets everything, including what loads under way will bring. */
  invalidate(): void {
    this.generation += 1;
    this.entries.clear();
    this.loading.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private store(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, at: this.now() });
    // Maps iterate in insertion order: the first entries are the oldest.
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.o.maxEntries) break;
      this.entries.delete(oldest);
    }
  }
}
