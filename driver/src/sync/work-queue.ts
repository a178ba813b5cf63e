// A queue of keys to reconcile: a key waiting is not queued twice, a key being worked on is queued
// again when it changes meanwhile, and failures come back after a growing delay.
export class WorkQueue {
  private readonly waiting = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = 0;
  private stopped = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly concurrency = 4,
    private readonly baseDelayMs = 500,
    private readonly maxDelayMs = 60_000,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.waiting.add(key);
    this.pump();
  }

  private pump(): void {
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
    try {
      await this.work(key);
      this.failures.delete(key);
    } catch {
      failed = true;
    } finally {
      this.active.delete(key);
      this.running--;
    }
    if (this.dirty.delete(key)) this.add(key);
    else if (failed) this.retryLater(key);
    this.pump();
  }

  private retryLater(key: string): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  /** Resolves when nothing is waiting or running (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running > 0 || this.waiting.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
