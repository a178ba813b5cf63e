import { CallSlots } from './call-slots';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('CallSlots', () => {
  it('concurrency: runs at most its limit of tasks at once, the others in the order they asked', async () => {
    const slots = new CallSlots(2);
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        slots.run(async () => {
          started.push(i);
          most = Math.max(most, ++inFlight);
          await tick();
          inFlight--;
          return i * 10;
        }),
      ),
    );
    expect(results).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('faults: a failed task gives its slot to the next, and its caller gets the failure', async () => {
    const slots = new CallSlots(1);
    const failed = slots.run(async () => {
      await tick();
      throw new Error('throttled');
    });
    const next = slots.run(async () => 'read');
    await expect(failed).rejects.toThrow('throttled');
    await expect(next).resolves.toBe('read');
    // Every slot free again: tasks up to the limit start at once.
    let ran = false;
    await slots.run(async () => {
      ran = true;
    });
    expect(ran).toBe(true);
  });

  it('a nested task waits for a slot without holding one: a selection never deadlocks its mount', async () => {
    const slots = new CallSlots(1);
    const outer = async () => {
      const listed = await slots.run(async () => ['a', 'b', 'c']);
      return Promise.all(listed.map((m) => slots.run(async () => `${m}!`)));
    };
    await expect(Promise.all([outer(), slots.run(async () => 'other')])).resolves.toEqual([
      ['a!', 'b!', 'c!'],
      'other',
    ]);
  });
});
