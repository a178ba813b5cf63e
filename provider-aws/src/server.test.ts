// The driver's cancellation and deadline as one signal per Mount call, released with the call.
import { EventEmitter } from 'node:events';

import { signalFor } from './server';

class FakeCall extends EventEmitter {
  constructor(private readonly deadline: number) {
    super();
  }

  getDeadline(): number {
    return this.deadline;
  }
}

afterEach(() => jest.useRealTimers());

describe('signalFor', () => {
  it('aborts when the deadline passes', () => {
    jest.useFakeTimers();
    const { signal } = signalFor(new FakeCall(Date.now() + 1000));
    jest.advanceTimersByTime(999);
    expect(signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).name).toBe('TimeoutError');
  });

  it('aborts when the driver cancels', () => {
    const call = new FakeCall(Infinity);
    const { signal } = signalFor(call);
    call.emit('cancelled');
    expect((signal.reason as Error).message).toBe('cancelled by the driver');
  });

  it('leaves no timer and no listener once the call is done', () => {
    jest.useFakeTimers();
    const call = new FakeCall(Date.now() + 120_000);
    const { signal, done } = signalFor(call);
    expect(jest.getTimerCount()).toBe(1);
    done();
    expect(jest.getTimerCount()).toBe(0);
    expect(call.listenerCount('cancelled')).toBe(0);
    jest.advanceTimersByTime(120_000);
    expect(signal.aborted).toBe(false);
  });
});
