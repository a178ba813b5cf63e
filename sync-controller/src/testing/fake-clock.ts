// For unit tests: a clock the test moves. Sleepers wake in time order as it advances, and what they
// set off (promises, fake API calls) runs before the clock moves on.
import type { Clock } from '../leader/leader-election';

interface Sleeper {
  wakeAt: number;
  resolve: () => void;
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

export class FakeClock implements Clock {
  private sleepers: Sleeper[] = [];
  /** Monotonic time: what sleepers wake by. */
  private nowMs = 0;
  /** The wall clock's lead over the monotonic time; `stepWallClock` moves it. */
  private wallMs: number;

  constructor(start = Date.parse('2030-01-02T03:04:05Z')) {
    this.wallMs = start;
  }

  now(): number {
    return this.wallMs + this.nowMs;
  }

  elapsed(): number {
    return this.nowMs;
  }

  /** Steps the wall clock alone (as `date -s` does), by `ms` (negative: back). */
  stepWallClock(ms: number): void {
    this.wallMs += ms;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const sleeper: Sleeper = { wakeAt: this.nowMs + ms, resolve };
      this.sleepers.push(sleeper);
      signal.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Moves the clock `ms` forward, waking sleepers in order; `each` runs after every wake. */
  async advance(ms: number, each?: () => void): Promise<void> {
    const until = this.nowMs + ms;
    await settle();
    for (;;) {
      const next = this.sleepers.filter((s) => s.wakeAt <= until).sort((a, b) => a.wakeAt - b.wakeAt)[0];
      if (!next) break;
      this.nowMs = Math.max(this.nowMs, next.wakeAt);
      this.sleepers = this.sleepers.filter((s) => s !== next);
      next.resolve();
      await settle();
      each?.();
    }
    this.nowMs = until;
    await settle();
    each?.();
  }
}
