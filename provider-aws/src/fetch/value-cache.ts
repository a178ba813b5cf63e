// The last value fetched for each mounted file, kept in memory only, so that a remount whose object
// version is unchanged (DescribeSecret says so, or the version is pinned) needs no GetSecretValue.
// Keyed by the volume's target path: a value only ever serves the volume it was fetched for.

export interface CachedValue {
  version: string;
  value: Buffer;
}

/** Entries not used for this long are dropped: the volume is probably gone. */
const IDLE_MS = 60 * 60_000;
const MAX_ENTRIES = 20_000;

export class ValueCache {
  private readonly entries = new Map<string, CachedValue & { usedAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  private static key(targetPath: string, region: string, objectName: string): string {
    return `${targetPath}\0${region}\0${objectName}`;
  }

  get(targetPath: string, region: string, objectName: string, version: string): Buffer | undefined {
    const key = ValueCache.key(targetPath, region, objectName);
    const entry = this.entries.get(key);
    if (!entry || entry.version !== version) return undefined;
    entry.usedAt = this.now();
    return entry.value;
  }

  set(targetPath: string, region: string, objectName: string, cached: CachedValue): void {
    this.entries.set(ValueCache.key(targetPath, region, objectName), { ...cached, usedAt: this.now() });
    if (this.entries.size > MAX_ENTRIES) this.evict();
  }

  evict(): void {
    const cutoff = this.now() - IDLE_MS;
    for (const [key, entry] of this.entries) if (entry.usedAt < cutoff) this.entries.delete(key);
    // Still too many: drop the oldest insertions.
    for (const key of this.entries.keys()) {
      if (this.entries.size <= MAX_ENTRIES) break;
      this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
