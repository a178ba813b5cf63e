import { SharedCall } from '@sscsi/common';

import type { MountRound } from './kept-answers';
import { KeptAnswers, MAX_KEPT_ANSWERS } from './kept-answers';

const WINDOW_MS = 30_000;
const START = 1_000_000;

/** A shared call the test settles by hand. */
function held<T>() {
  let settle!: { resolve: (v: T) => void; reject: (e: unknown) => void };
  const call = new SharedCall<T>(
    (signal) =>
      new Promise<T>((resolve, reject) => {
        settle = { resolve, reject };
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
  );
  return { call, answer: (v: T) => settle.resolve(v), fail: (e: unknown) => settle.reject(e) };
}

const answered = async <T>(value: T) => {
  const h = held<T>();
  h.answer(value);
  await h.call.wait();
  return h.call;
};

const round = (remount = true, notBefore = Number.NEGATIVE_INFINITY): MountRound => ({
  notBefore,
  remount,
  end: () => undefined,
});

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('KeptAnswers: what a mount may use', () => {
  it('a call in flight, by any mount asking after the volume last looked', () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: Infinity });
    const { call } = held<string>();
    kept.keep('k', call, START, () => 0);
    expect(kept.usable('k', round(false), START + 60_000)).toBe(call);
    expect(kept.usable('k', round(true, START - 1), START)).toBe(call);
    // Strictly after: a call the volume's previous mount made itself started before it ended.
    expect(kept.usable('k', round(true, START), START)).toBeUndefined();
    expect(kept.usable('other', round(), START)).toBeUndefined();
  });

  it('an answer, by rotation remounts only, within the window', async () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: Infinity });
    kept.keep('k', await answered('v'), START, () => 0);
    expect(kept.usable('k', round(true), START + WINDOW_MS - 1)?.answer).toBe('v');
    expect(kept.usable('k', round(true), START + WINDOW_MS)).toBeUndefined();
    expect(kept.usable('k', round(false), START + 1)).toBeUndefined();
  });

  it('never a failure, nor a call every mount gave up on', async () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: Infinity });
    const failing = held<string>();
    kept.keep('failed', failing.call, START, () => 0);
    const waiting = failing.call.wait();
    failing.fail(new Error('throttled'));
    await expect(waiting).rejects.toThrow('throttled');
    expect(kept.usable('failed', round(), START)).toBeUndefined();
    expect(kept.size).toBe(0);

    const abandoned = held<string>();
    kept.keep('abandoned', abandoned.call, START, () => 0);
    const gone = new AbortController();
    const leaving = abandoned.call.wait(gone.signal);
    gone.abort(new Error('gone'));
    await expect(leaving).rejects.toThrow('gone');
    expect(kept.usable('abandoned', round(), START)).toBeUndefined();
    await settle();
    expect(kept.size).toBe(0);
  });

  it('an answer not worth keeping is dropped once answered', async () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: Infinity });
    const h = held<string>();
    kept.keep('k', h.call, START, () => undefined);
    expect(kept.usable('k', round(), START)).toBe(h.call);
    h.answer('v');
    await settle();
    expect(kept.size).toBe(0);
  });
});

describe('KeptAnswers: bounds', () => {
  it('drops the oldest answers past the byte budget, never a call in flight', async () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: 250 });
    const inFlight = held<string>();
    kept.keep('in-flight', inFlight.call, START, (v) => v.length);
    for (const key of ['a', 'b', 'c'])
      kept.keep(key, await answered(key.repeat(100)), START, (v) => v.length);
    await settle();
    expect(kept.bytes).toBeLessThanOrEqual(250);
    expect(kept.usable('a', round(), START)).toBeUndefined();
    expect(kept.usable('c', round(), START)?.answer).toBe('c'.repeat(100));
    expect(kept.usable('in-flight', round(), START)).toBe(inFlight.call);
  });

  it('keeps at most MAX_KEPT_ANSWERS answers, the oldest answered ones going first', async () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: Infinity });
    const inFlight = held<string>();
    kept.keep('in-flight', inFlight.call, START, () => 0);
    const done = await answered('v');
    for (let i = 0; i < MAX_KEPT_ANSWERS + 10; i++) kept.keep(`k${i}`, done, START, () => 0);
    expect(kept.size).toBe(MAX_KEPT_ANSWERS);
    expect(kept.usable('in-flight', round(), START)).toBe(inFlight.call);
    expect(kept.usable('k0', round(), START)).toBeUndefined();
    expect(kept.usable(`k${MAX_KEPT_ANSWERS + 9}`, round(), START)).toBe(done);
  });

  it('counts the bytes of a replaced answer out, and ignores its late outcome', async () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: Infinity });
    kept.keep('k', await answered('x'.repeat(100)), START, (v) => v.length);
    await settle();
    expect(kept.bytes).toBe(100);
    const older = held<string>();
    kept.keep('k', older.call, START, (v) => v.length);
    expect(kept.bytes).toBe(0);
    const newer = held<string>();
    kept.keep('k', newer.call, START + 1, (v) => v.length);
    older.fail(new Error('late failure'));
    await older.call.wait().catch(() => undefined);
    expect(kept.usable('k', round(), START + 1)).toBe(newer.call);
    newer.answer('yy');
    await settle();
    expect([kept.size, kept.bytes]).toEqual([1, 2]);
  });

  it('sweeps the answers older than the window, not the calls in flight', async () => {
    const kept = new KeptAnswers<string>({ windowMs: WINDOW_MS, maxBytes: Infinity });
    kept.keep('old', await answered('v'), START, (v) => v.length);
    const inFlight = held<string>();
    kept.keep('in-flight', inFlight.call, START, () => 0);
    kept.keep('recent', await answered('w'), START + WINDOW_MS, (v) => v.length);
    await settle();
    kept.sweep(START + WINDOW_MS);
    expect(kept.usable('old', round(), START + WINDOW_MS)).toBeUndefined();
    expect(kept.usable('in-flight', round(), START + WINDOW_MS)).toBe(inFlight.call);
    expect(kept.usable('recent', round(), START + WINDOW_MS)?.answer).toBe('w');
    expect([kept.size, kept.bytes]).toEqual([2, 1]);
  });
});
