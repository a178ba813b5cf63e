// Serialises operations on one volume (publish, republish, unpublish of the same target path) while
// different volumes proceed in parallel. A caller waits for its turn no longer than its call's
// deadline and stops waiting when its call is cancelled: the kubelet has given up by then, and a
// waiter that never leaves would pile up behind a hung operation.

/** Why a caller stopped waiting for a volume's lock. */
export class LockWaitAborted extends Error {
  override name = 'LockWaitAborted';

  constructor(readonly reason: 'deadline' | 'cancelled') {
    super(
      reason === 'deadline'
        ? 'the deadline passed while another operation on this volume was still running'
        : 'the call was cancelled while another operation on this volume was still running',
    );
  }
}

export interface LockWaitOptions {
  deadline?: Date;
  signal?: AbortSignal;
}

/** Resolves when `turn` does; rejects with LockWaitAborted at the deadline or on cancellation. */
function waitForTurn(turn: Promise<void>, { deadline, signal }: LockWaitOptions): Promise<void> {
  if (signal?.aborted) return Promise.reject(new LockWaitAborted('cancelled'));
  if (deadline && deadline.getTime() <= Date.now()) return Promise.reject(new LockWaitAborted('deadline'));
  if (!deadline && !signal) return turn;
  return new Promise<void>((resolve, reject) => {
    const timer = deadline
      ? setTimeout(() => finish(new LockWaitAborted('deadline')), deadline.getTime() - Date.now())
      : undefined;
    const onAbort = () => finish(new LockWaitAborted('cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish(err?: LockWaitAborted) {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    }
    void turn.then(() => finish());
  });
}

export class VolumeLocks {
  /** Per volume: settles when every operation queued so far has finished or given up. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Volumes with an operation running or waiting. */
  get size(): number {
    return this.tails.size;
  }

  async run<T>(key: string, fn: () => Promise<T>, options: LockWaitOptions = {}): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    // The next caller waits for everything before it, even when this caller gives up waiting.
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    try {
      await waitForTurn(previous, options);
      return await fn();
    } finally {
      release();
    }
  }
}
