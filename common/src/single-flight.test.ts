import { unlessAborted } from './abortable';
import { SharedCall, SingleFlight } from './single-flight';
import { HeldCall } from './testing/held-call';

/** The next caller of key `k` makes a call of its own and gets that call's answer. */
async function expectNewCall(flights: SingleFlight<string, string>): Promise<void> {
  const next = new HeldCall<string>();
  const again = flights.run('k', next.call);
  next.answer('fresh');
  await expect(again).resolves.toBe('fresh');
  expect(next.calls).toBe(1);
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SingleFlight', () => {
  it('gives concurrent callers of one key one call, and each key its own', async () => {
    const flights = new SingleFlight<string, string>();
    const a = new HeldCall<string>();
    const b = new HeldCall<string>();
    const waiting = [
      ...Array.from({ length: 50 }, () => flights.run('a', a.call)),
      ...Array.from({ length: 50 }, () => flights.run('b', b.call)),
    ];
    expect(flights.size).toBe(2);
    a.answer('A');
    b.answer('B');
    const answers = await Promise.all(waiting);
    expect([a.calls, b.calls]).toEqual([1, 1]);
    expect(new Set(answers.slice(0, 50))).toEqual(new Set(['A']));
    expect(new Set(answers.slice(50))).toEqual(new Set(['B']));
    expect(flights.size).toBe(0);
  });

  it('forgets an answer once given: a later caller makes a new call', async () => {
    const flights = new SingleFlight<string, string>();
    const first = new HeldCall<string>();
    const waiting = flights.run('k', first.call);
    first.answer('old');
    await expect(waiting).resolves.toBe('old');
    const second = new HeldCall<string>();
    const again = flights.run('k', second.call);
    second.answer('new');
    await expect(again).resolves.toBe('new');
    expect([first.calls, second.calls]).toEqual([1, 1]);
  });

  it('gives a failure to every caller waiting, and does not keep it', async () => {
    const flights = new SingleFlight<string, string>();
    const held = new HeldCall<string>();
    const waiting = Array.from({ length: 3 }, () => flights.run('k', held.call));
    held.fail(new Error('throttled'));
    for (const w of waiting) await expect(w).rejects.toThrow('throttled');
    expect(flights.size).toBe(0);
    expect(flights.get('k')).toBeUndefined();
    await expectNewCall(flights);
  });

  it("lets a caller stop waiting on its own signal without cancelling the others' call", async () => {
    const flights = new SingleFlight<string, string>();
    const held = new HeldCall<string>();
    const leaving = new AbortController();
    const left = flights.run('k', held.call, leaving.signal);
    const staying = flights.run('k', held.call);
    leaving.abort(new Error('deadline'));
    await expect(left).rejects.toThrow('deadline');
    expect(held.signal?.aborted).toBe(false);
    expect(flights.get('k')).toBeDefined();
    held.answer('A');
    await expect(staying).resolves.toBe('A');
    expect(held.calls).toBe(1);
  });

  it('cancels the call when every caller gave up; the next caller starts afresh', async () => {
    const flights = new SingleFlight<string, string>();
    const held = new HeldCall<string>();
    await held.expectCancelledOnceAllLeave((signal) => flights.run('k', held.call, signal));
    expect(flights.size).toBe(0);
    await expectNewCall(flights);
  });

  it('forgets a call given up by all at once, even one that does not stop on its signal', async () => {
    const flights = new SingleFlight<string, string>();
    const gone = new AbortController();
    let calls = 0;
    const stubborn = () => {
      calls++;
      return new Promise<string>(() => undefined);
    };
    const waiting = flights.run('k', stubborn, gone.signal);
    gone.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(flights.size).toBe(0);
    void flights.run('k', stubborn);
    expect(calls).toBe(2);
  });

  it('rejects a caller whose signal already aborted, without a call', async () => {
    const flights = new SingleFlight<string, string>();
    const held = new HeldCall<string>();
    await expect(flights.run('k', held.call, AbortSignal.abort(new Error('too late')))).rejects.toThrow(
      'too late',
    );
    expect(held.calls).toBe(0);
    expect(flights.size).toBe(0);
  });
});

describe('SharedCall', () => {
  it('keeps its answer and says it settled', async () => {
    const held = new HeldCall<string>();
    const call = new SharedCall(held.call);
    expect([call.settled, call.failed]).toEqual([false, false]);
    held.answer('A');
    await expect(call.wait()).resolves.toBe('A');
    expect([call.settled, call.failed, call.answer]).toEqual([true, false, 'A']);
  });

  it('is failed once it failed, or once every caller gave up before it settled', async () => {
    const failing = new HeldCall<string>();
    const failed = new SharedCall(failing.call);
    failing.fail(new Error('denied'));
    await expect(failed.wait()).rejects.toThrow('denied');
    expect([failed.settled, failed.failed]).toEqual([true, true]);

    const abandoned = new HeldCall<string>();
    const call = new SharedCall(abandoned.call);
    const gone = new AbortController();
    const waiting = call.wait(gone.signal);
    gone.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(call.failed).toBe(true);
    expect(call.signal.aborted).toBe(true);
  });

  it('is not cancelled by a caller giving up after it settled', async () => {
    const held = new HeldCall<string>();
    const call = new SharedCall(held.call);
    held.answer('A');
    await tick();
    const late = new AbortController();
    late.abort(new Error('late'));
    await expect(call.wait(late.signal)).rejects.toThrow('late');
    expect([call.failed, call.signal.aborted]).toEqual([false, false]);
    await expect(call.wait()).resolves.toBe('A');
  });
});

describe('unlessAborted', () => {
  it('resolves as the work does without a signal, or before the signal aborts', async () => {
    await expect(unlessAborted(Promise.resolve(1), undefined)).resolves.toBe(1);
    await expect(unlessAborted(Promise.resolve(2), new AbortController().signal)).resolves.toBe(2);
    await expect(unlessAborted(Promise.reject(new Error('e')), new AbortController().signal)).rejects.toThrow(
      'e',
    );
  });

  it("rejects with the signal's reason as soon as it aborts, whatever the work does", async () => {
    const controller = new AbortController();
    const waiting = unlessAborted(new Promise<never>(() => undefined), controller.signal);
    controller.abort(new Error('deadline'));
    await expect(waiting).rejects.toThrow('deadline');
    await expect(unlessAborted(Promise.resolve(1), AbortSignal.abort(new Error('gone')))).rejects.toThrow(
      'gone',
    );
  });
});
