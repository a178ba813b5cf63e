// Steps this machine's wall clock (CLOCK_REALTIME) for the clock-step fault, and puts it back.
// CLOCK_MONOTONIC never steps, and every process reads the same one (process.hrtime): the wall
// clock's offset from it is saved before the step, and the wall clock is put back to the monotonic
// clock plus that offset (there is no NTP here to do it). Setting the clock takes a few
// milliseconds of process start-up, measured after the first setting and made up by a second. A
// watchdog, a process of its own detached from the test's, puts the clock back at its deadline even
// when the test's process dies first; the test ends it once it has put the clock back itself.
import { execFileSync, spawn } from 'node:child_process';

/** CLOCK_MONOTONIC in milliseconds: the same clock in every process of the machine. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** How far the wall clock is ahead of the monotonic clock now, in milliseconds. */
export function wallOffsetMs(): number {
  return Date.now() - monotonicMs();
}

/** `date -s`'s argument for an instant in epoch milliseconds: seconds since the epoch, to the microsecond. */
export function dateArgument(epochMs: number): string {
  return `@${(epochMs / 1000).toFixed(6)}`;
}

/** What the watchdog runs: after `ms`, the wall clock set to the monotonic clock plus `offset`. */
const WATCHDOG = `
const [offset, ms, setter] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
setTimeout(() => {
  const target = Number(process.hrtime.bigint()) / 1e6 + offset;
  require('node:child_process').execFileSync(setter, ['-s', '@' + (target / 1000).toFixed(6)], { stdio: 'ignore' });
}, ms);
`;

export interface WallClockOptions {
  /** The program that sets the clock, as `date -s @<seconds>` does; tests pass a stand-in. */
  setter?: string;
}

export class WallClock {
  private readonly setter: string;
  /** The wall clock's offset from the monotonic clock before any step. */
  readonly trueOffsetMs: number;
  private watchdog?: number;

  constructor(o: WallClockOptions = {}) {
    this.setter = o.setter ?? 'date';
    this.trueOffsetMs = wallOffsetMs();
  }

  /** How far the wall clock is from where it was (negative: behind), in milliseconds. */
  errorMs(): number {
    return wallOffsetMs() - this.trueOffsetMs;
  }

  /**
   * Starts the watchdog, which puts the wall clock back in `deadlineMs` whatever happens to this
   * process; once only.
   */
  guard(deadlineMs: number): void {
    if (this.watchdog !== undefined) return;
    const child = spawn(
      process.execPath,
      ['-e', WATCHDOG, String(this.trueOffsetMs), String(deadlineMs), this.setter],
      { detached: true, stdio: 'ignore' },
    );
    child.unref();
    this.watchdog = child.pid;
  }

  /** Sets the wall clock `stepMs` away from the true time (0: back to it); the error left, in ms. */
  set(stepMs: number): number {
    const wanted = () => monotonicMs() + this.trueOffsetMs + stepMs;
    this.run(wanted());
    // The first setting lands late by the time `date` took to start: made up once. A setting that
    // missed by more than a second did not take: that shows in what is returned.
    const late = stepMs - this.errorMs();
    if (late !== 0 && Math.abs(late) < 1_000) this.run(wanted() + late);
    return this.errorMs() - stepMs;
  }

  /** Puts the wall clock back, then ends the watchdog; the error left, in ms. */
  restore(): number {
    const left = this.set(0);
    if (this.watchdog !== undefined) {
      try {
        process.kill(this.watchdog);
      } catch {
        // It has already run and exited.
      }
      this.watchdog = undefined;
    }
    return left;
  }

  private run(epochMs: number): void {
    execFileSync(this.setter, ['-s', dateArgument(epochMs)], { stdio: 'ignore' });
  }
}
