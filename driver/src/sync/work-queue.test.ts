import { WorkQueue } from './work-queue';

describe('WorkQueue', () => {
  it('runs a key once however often it is added while waiting, and again if it changed while running', async () => {
    const runs: string[] = [];
    let release: () => void = () => undefined;
    const queue = new WorkQueue(async (key) => {
      runs.push(key);
      if (runs.length === 1) await new Promise<void>((resolve) => (release = resolve));
    }, 1);
    queue.add('a');
    queue.add('b');
    queue.add('b');
    queue.add('a'); // while a runs: it comes back once
    queue.add('a');
    release();
    await queue.idle();
    expect(runs).toEqual(['a', 'b', 'a']);
  });

  it('retries failures with backoff', async () => {
    let attempts = 0;
    const queue = new WorkQueue(
      async () => {
        attempts++;
        if (attempts < 3) throw new Error('conflict');
      },
      1,
      5,
    );
    queue.add('k');
    const deadline = Date.now() + 2000;
    while (attempts < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    queue.stop();
    expect(attempts).toBe(3);
  });
});
