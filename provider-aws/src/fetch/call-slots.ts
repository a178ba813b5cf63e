// The AWS calls of one mount in flight at once: one bound for all its reads, a selection's reads of
// its matches included, so that a mount never has more than `concurrency` calls out whatever its
// objects are. A task waits for a slot in the order it asked; a slot is handed straight to the next
// waiting task when one ends, failed or not.
export class CallSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < Math.max(1, this.limit)) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
