// A queue of keys to reconcile (the driver's Secret sync, the sync controller): a key waiting is not
// queued twice, a key being worked on is queued again when it changes meanwhile, failures come back
// after a growing delay, and work may ask to run again later (a pod not in the cache yet). Nothing
// runs before start(): the caches the work reads are filled first, so that no key is judged against
// an empty cache and dropped.
export interface WorkQueueOptions {
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Work for a key; a number asks for the key to run again after that many milliseconds. */
export type Work = (key: string) => Promise<number | undefined | void>;

export class WorkQueue {
  private readonly waiting = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private running = 0;
  private started = false;
  private stopped = false;

  constructor(
    private readonly work: Work,
    options: WorkQueueOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  start(): void {
    this.started = true;
    this.pump();
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.waiting.add(key);
    this.pump();
  }

  /** Adds `key` after `delayMs`. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private pump(): void {
    if (!this.started) return;
    while (this.running < this.concurrency && this.waiting.size > 0) {
      const key = this.waiting.values().next().value as string;
      this.waiting.delete(key);
      this.active.add(key);
      this.running++;
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    let failed = false;
    let again: number | undefined;
    try {
      again = (await this.work(key)) ?? undefined;
      this.failures.delete(key);
    } catch {
      failed = true;
    } finally {
      this.active.delete(key);
      this.running--;
    }
    if (this.dirty.delete(key)) this.add(key);
    else if (failed) this.retryLater(key);
    else if (again !== undefined) this.addAfter(key, again);
    this.pump();
  }

  private retryLater(key: string): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.addAfter(key, Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1)));
  }

  /** Keys waiting to run (not those running, nor those delayed). */
  get depth(): number {
    return this.waiting.size;
  }

  /** Resolves when nothing is waiting or running (delayed keys aside): for tests and benchmarks. */
  async idle(): Promise<void> {
    while (this.running > 0 || (this.started && this.waiting.size > 0))
      await new Promise((resolve) => setTimeout(resolve, 10));
  }

  stop(): void {
    this.stopped = true;
    this.waiting.clear();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
