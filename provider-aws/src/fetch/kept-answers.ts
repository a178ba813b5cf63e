// Answers to AWS calls kept for other mounts, each as the shared call that gives it (in flight or
// answered), with the time it was asked. What a mount may use is decided here (how fresh, see
// shared-answers.ts); what is kept is bounded: failures never, answered calls up to a count and a
// byte budget (the oldest dropped first), none once older than the window.
import type { SharedCall } from '@sscsi/common';

/** One mount of one volume, as far as sharing goes. */
export interface MountRound {
  /** Answers asked before this are too old for this mount. */
  readonly notBefore: number;
  /** A rotation remount: kept answers (within the window) serve it, not only calls in flight. */
  readonly remount: boolean;
  /** Called once the mount is over, whatever its outcome. */
  end(): void;
}

/**
 * Answers kept at most, per kind (secrets' versions, secret values, parameters): a node's
 * identities x objects, with room to spare (110 ServiceAccounts x 3 objects is 330). Past it the
 * oldest are dropped: a later mount asks AWS again.
 */
export const MAX_KEPT_ANSWERS = 1024;

export interface KeptAnswersOptions {
  /** How long an answer serves rotation remounts; 0: only calls in flight. */
  windowMs: number;
  /** Estimated bytes of answers kept at most (beyond MAX_KEPT_ANSWERS); Infinity: not counted. */
  maxBytes: number;
}

interface Kept<T> {
  call: SharedCall<T>;
  startedAt: number;
  bytes: number;
}

export class KeptAnswers<T> {
  /** Oldest first: the bounds and the sweep drop entries from the front. */
  private readonly entries = new Map<string, Kept<T>>();
  private keptBytes = 0;

  constructor(private readonly options: KeptAnswersOptions) {}

  /**
   * The call under `key` if this mount may use its answer: one asked after the volume's previous
   * mount ended (strictly: a call that the previous mount made itself started before it ended), in
   * flight, or answered less than the window ago for a rotation remount.
   */
  usable(key: string, round: MountRound, now: number): SharedCall<T> | undefined {
    const kept = this.entries.get(key);
    if (!kept || kept.call.failed || kept.startedAt <= round.notBefore) return undefined;
    if (!kept.call.settled) return kept.call;
    return round.remount && now - kept.startedAt < this.options.windowMs ? kept.call : undefined;
  }

  /**
   * Keeps `call`, asked at `startedAt`, under `key` in place of what was there. Once answered,
   * `bytesOf` says how many bytes its answer holds (0 for a small one), or undefined not to keep it;
   * a failure is not kept.
   */
  keep(
    key: string,
    call: SharedCall<T>,
    startedAt: number,
    bytesOf: (answer: T) => number | undefined,
  ): void {
    const kept: Kept<T> = { call, startedAt, bytes: 0 };
    call.promise.then(
      (answer) => {
        if (this.entries.get(key) !== kept) return;
        const bytes = bytesOf(answer);
        if (bytes === undefined) return this.forget(key);
        kept.bytes = bytes;
        this.count(bytes);
      },
      () => {
        if (this.entries.get(key) === kept) this.forget(key);
      },
    );
    this.forget(key);
    this.entries.set(key, kept);
    for (const [oldKey, old] of this.entries) {
      if (this.entries.size <= MAX_KEPT_ANSWERS) break;
      if (old.call.settled) this.forget(oldKey);
    }
  }

  /** Counts `added` bytes, dropping the oldest answered calls past the budget. */
  private count(added: number): void {
    this.keptBytes += added;
    for (const [key, kept] of this.entries) {
      if (this.keptBytes <= this.options.maxBytes) return;
      if (kept.call.settled) this.forget(key);
    }
  }

  private forget(key: string): void {
    const kept = this.entries.get(key);
    if (!kept) return;
    this.entries.delete(key);
    this.keptBytes -= kept.bytes;
  }

  /** Drops the answers older than the window: no mount may use them any more. */
  sweep(now: number): void {
    const cutoff = now - this.options.windowMs;
    for (const [key, kept] of this.entries) {
      if (kept.startedAt > cutoff) break;
      if (kept.call.settled) this.forget(key);
    }
  }

  /** Answers kept or in flight. */
  get size(): number {
    return this.entries.size;
  }

  /** Estimated bytes of the answers kept. */
  get bytes(): number {
    return this.keptBytes;
  }
}
