// The last value fetched for each mounted file, kept in memory only, so that a remount whose object
// version is unchanged (DescribeSecret says so, or the version is pinned) needs no GetSecretValue.
// Keyed by the volume's target path: a value only ever serves the volume it was fetched for.
//
// The provider is never told that a volume went away, so entries of deleted pods would stay
// forever: the cache is bounded by bytes (least recently used dropped first) and by idle time.
// Losing an entry costs one GetSecretValue on the volume's next remount, nothing more.

export interface CachedValue {
  version: string;
  value: Buffer;
}

export interface ValueCacheOptions {
  /** Estimated bytes held (values, keys, bookkeeping) at most. */
  maxBytes: number;
  /** An entry unused for this long is dropped: its pod is probably gone, or rotation is off. */
  idleMs: number;
  /** Monotonic milliseconds. */
  now?: () => number;
  onEvict?: (reason: 'idle' | 'size') => void;
}

/**
 * Defaults: 4 MiB is a few thousand typical secrets (under 1 KiB each) within the provider's
 * 100 MiB memory limit; 15 minutes covers rotation poll intervals up to 15 minutes (the driver's
 * default is 2 minutes), so every remount of a live pod still finds its values.
 */
export const DEFAULT_VALUE_CACHE_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_VALUE_CACHE_IDLE_MS = 15 * 60_000;

/** Map slot, entry object and Buffer header: what an entry costs besides its strings and value. */
const ENTRY_OVERHEAD_BYTES = 200;

interface Entry extends CachedValue {
  usedAt: number;
  bytes: number;
}

export class ValueCache {
  /** Least recently used first: both limits drop entries from the front. */
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;
  private readonly maxBytes: number;
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly onEvict: (reason: 'idle' | 'size') => void;

  constructor(options: Partial<ValueCacheOptions> = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_VALUE_CACHE_MAX_BYTES;
    this.idleMs = options.idleMs ?? DEFAULT_VALUE_CACHE_IDLE_MS;
    this.now = options.now ?? (() => performance.now());
    this.onEvict = options.onEvict ?? (() => undefined);
  }

  private static key(targetPath: string, region: string, objectName: string): string {
    // JSON keeps the parts apart whatever characters they contain.
    return JSON.stringify([targetPath, region, objectName]);
  }

  /** The value of `version` of this volume's object, if it is the one cached. */
  get(targetPath: string, region: string, objectName: string, version: string): Buffer | undefined {
    const key = ValueCache.key(targetPath, region, objectName);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const now = this.now();
    if (now - entry.usedAt > this.idleMs) {
      this.remove(key, entry, 'idle');
      return undefined;
    }
    if (entry.version !== version) return undefined;
    entry.usedAt = now;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(targetPath: string, region: string, objectName: string, cached: CachedValue): void {
    const key = ValueCache.key(targetPath, region, objectName);
    const previous = this.entries.get(key);
    if (previous) {
      this.entries.delete(key);
      this.totalBytes -= previous.bytes;
    }
    const bytes = ENTRY_OVERHEAD_BYTES + 2 * (key.length + cached.version.length) + cached.value.length;
    // A value that alone exceeds the budget is not worth emptying the cache for.
    if (bytes > this.maxBytes) return;
    // A copy of its own: a small Buffer from the SDK or Buffer.from() may be a slice of a shared
    // 8 KiB pool or of a whole response body, which the cache would otherwise keep alive.
    const value = Buffer.allocUnsafeSlow(cached.value.length);
    cached.value.copy(value);
    this.entries.set(key, { version: cached.version, value, usedAt: this.now(), bytes });
    this.totalBytes += bytes;
    this.sweep();
    for (const [oldestKey, oldest] of this.entries) {
      if (this.totalBytes <= this.maxBytes) break;
      this.remove(oldestKey, oldest, 'size');
    }
  }

  /** Drops the entries idle for longer than the idle time. Cheap: they are at the front. */
  sweep(): void {
    const cutoff = this.now() - this.idleMs;
    for (const [key, entry] of this.entries) {
      if (entry.usedAt >= cutoff) break;
      this.remove(key, entry, 'idle');
    }
  }

  private remove(key: string, entry: Entry, reason: 'idle' | 'size'): void {
    this.entries.delete(key);
    this.totalBytes -= entry.bytes;
    this.onEvict(reason);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Estimated bytes held, never above the limit. */
  get bytes(): number {
    return this.totalBytes;
  }
}
