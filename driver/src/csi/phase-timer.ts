// How long a publish or a rotation took, phase by phase: the log gets the phases, the rotation
// metric the total. One clock for both.

export class PhaseTimer {
  private readonly started: number;
  private last: number;
  private readonly laps: Record<string, number> = {};

  constructor(private readonly clock: () => number = () => performance.now()) {
    this.started = clock();
    this.last = this.started;
  }

  /** Ends the phase `name` (milliseconds since the previous phase ended, to 0.1 ms). */
  lap(name: string): void {
    const now = this.clock();
    this.laps[name] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }

  /** The phases ended so far, for the log. */
  phases(): Record<string, number> {
    return { ...this.laps };
  }

  /** Seconds since the timer started. */
  seconds(): number {
    return (this.clock() - this.started) / 1000;
  }
}
