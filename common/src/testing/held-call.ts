// For unit tests of shared calls (who waits, who cancels, what is kept): a call the test answers or
// fails by hand. It counts its calls, records the signal of the last, and rejects with the signal's
// reason when that signal aborts; and the check every shared call must pass about cancelling.
export class HeldCall<T> {
  calls = 0;
  signal?: AbortSignal;
  private settle?: { resolve: (value: T) => void; reject: (err: unknown) => void };

  readonly call = (signal: AbortSignal): Promise<T> => {
    this.calls++;
    this.signal = signal;
    return new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };

  answer(value: T): void {
    this.settle?.resolve(value);
  }

  fail(err: unknown): void {
    this.settle?.reject(err);
  }

  /**
   * Two callers join this call through `join` with their own signals and give up one after the
   * other: the first leaving does not cancel the call, the last one does; each gets its reason.
   */
  async expectCancelledOnceAllLeave(join: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
    const a = new AbortController();
    const b = new AbortController();
    const waiting = [join(a.signal), join(b.signal)];
    a.abort(new Error('a gone'));
    await expect(waiting[0]).rejects.toThrow('a gone');
    expect(this.signal?.aborted).toBe(false);
    b.abort(new Error('b gone'));
    await expect(waiting[1]).rejects.toThrow('b gone');
    expect(this.signal?.aborted).toBe(true);
  }
}
