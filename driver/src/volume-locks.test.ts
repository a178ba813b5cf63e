import { LockWaitAborted, VolumeLocks } from './volume-locks';

/** An operation the test finishes when it wants to. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('VolumeLocks', () => {
  it('runs operations on one volume one after the other, in arrival order', async () => {
    const locks = new VolumeLocks();
    const order: string[] = [];
    const first = gate();
    const a = locks.run('v', async () => {
      order.push('a start');
      await first.promise;
      order.push('a end');
    });
    const b = locks.run('v', async () => void order.push('b'));
    const c = locks.run('v', async () => void order.push('c'));
    await flush();
    expect(order).toEqual(['a start']);
    first.open();
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a start', 'a end', 'b', 'c']);
  });

  it('runs operations on different volumes at the same time', async () => {
    const locks = new VolumeLocks();
    const held = gate();
    const a = locks.run('v1', () => held.promise);
    let ranOther = false;
    await locks.run('v2', async () => void (ranOther = true));
    expect(ranOther).toBe(true);
    held.open();
    await a;
  });

  it('keeps the lock for the next operation when one fails', async () => {
    const locks = new VolumeLocks();
    await expect(locks.run('v', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(locks.run('v', async () => 'ok')).resolves.toBe('ok');
  });

  it('gives up waiting at the deadline, without running the operation', async () => {
    const locks = new VolumeLocks();
    const held = gate();
    const holder = locks.run('v', () => held.promise);
    let ran = false;
    const err = await locks
      .run('v', async () => void (ran = true), { deadline: new Date(Date.now() + 20) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockWaitAborted);
    expect((err as LockWaitAborted).reason).toBe('deadline');
    expect(ran).toBe(false);
    held.open();
    await holder;
  });

  it('gives up waiting when cancelled, without running the operation', async () => {
    const locks = new VolumeLocks();
    const held = gate();
    const holder = locks.run('v', () => held.promise);
    const controller = new AbortController();
    let ran = false;
    const waiting = locks
      .run('v', async () => void (ran = true), { signal: controller.signal })
      .catch((e: unknown) => e);
    await flush();
    controller.abort();
    const err = await waiting;
    expect(err).toBeInstanceOf(LockWaitAborted);
    expect((err as LockWaitAborted).reason).toBe('cancelled');
    expect(ran).toBe(false);
    held.open();
    await holder;
  });

  it('fails at once when the deadline has passed or the call was cancelled before it arrived', async () => {
    const locks = new VolumeLocks();
    const controller = new AbortController();
    controller.abort();
    await expect(locks.run('v', async () => 1, { signal: controller.signal })).rejects.toBeInstanceOf(
      LockWaitAborted,
    );
    await expect(
      locks.run('v', async () => 1, { deadline: new Date(Date.now() - 1) }),
    ).rejects.toBeInstanceOf(LockWaitAborted);
  });

  it('still serialises the holder and later operations after a waiter gave up', async () => {
    const locks = new VolumeLocks();
    const order: string[] = [];
    const held = gate();
    const holder = locks.run('v', async () => {
      await held.promise;
      order.push('holder done');
    });
    const controller = new AbortController();
    const quitter = locks.run('v', async () => void order.push('quitter'), { signal: controller.signal });
    controller.abort();
    await expect(quitter).rejects.toBeInstanceOf(LockWaitAborted);
    // Arrives after the quitter left: must still wait for the holder.
    const later = locks.run('v', async () => void order.push('later'));
    await flush();
    expect(order).toEqual([]);
    held.open();
    await Promise.all([holder, later]);
    expect(order).toEqual(['holder done', 'later']);
  });

  it('forgets a volume once nothing holds or waits for it', async () => {
    const locks = new VolumeLocks();
    await locks.run('v', async () => undefined);
    const controller = new AbortController();
    const held = gate();
    const holder = locks.run('w', () => held.promise);
    const quitter = locks.run('w', async () => undefined, { signal: controller.signal });
    controller.abort();
    await quitter.catch(() => undefined);
    expect(locks.size).toBe(1);
    held.open();
    await holder;
    await flush();
    expect(locks.size).toBe(0);
  });
});
