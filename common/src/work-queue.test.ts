import { until } from './testing/until';
import { WorkQueue } from './work-queue';

describe('WorkQueue', () => {
  it('runs a key once however often it is added while waiting, and again if it changed while running', async () => {
    const runs: string[] = [];
    let release: () => void = () => undefined;
    const queue = new WorkQueue(
      async (key) => {
        runs.push(key);
        if (runs.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      { concurrency: 1 },
    );
    queue.start();
    queue.add('a');
    queue.add('b');
    queue.add('b');
    queue.add('a'); // while a runs: it comes back once
    queue.add('a');
    expect(queue.depth).toBe(1);
    release();
    await queue.idle();
    expect(runs).toEqual(['a', 'b', 'a']);
  });

  it('holds keys added before start until started', async () => {
    const runs: string[] = [];
    const queue = new WorkQueue(async (key) => void runs.push(key));
    queue.add('early');
    queue.add('early');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runs).toEqual([]);
    queue.start();
    await queue.idle();
    expect(runs).toEqual(['early']);
  });

  it('never runs one key twice at once, and runs at most `concurrency` keys at once', async () => {
    let running = 0;
    let most = 0;
    const perKey = new Map<string, number>();
    let clash = false;
    const queue = new WorkQueue(
      async (key) => {
        running++;
        most = Math.max(most, running);
        perKey.set(key, (perKey.get(key) ?? 0) + 1);
        if ((perKey.get(key) ?? 0) > 1) clash = true;
        await new Promise((resolve) => setTimeout(resolve, 1));
        perKey.set(key, (perKey.get(key) ?? 0) - 1);
        running--;
      },
      { concurrency: 3 },
    );
    queue.start();
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 10; k++) queue.add(`k${k}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await queue.idle();
    expect(clash).toBe(false);
    expect(most).toBe(3);
  });

  it('retries failures with a growing delay', async () => {
    const at: number[] = [];
    const queue = new WorkQueue(
      async () => {
        at.push(Date.now());
        if (at.length < 4) throw new Error('conflict');
      },
      { concurrency: 1, baseDelayMs: 20 },
    );
    queue.start();
    queue.add('k');
    await until(() => at.length >= 4);
    queue.stop();
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    expect(gaps[1]).toBeGreaterThanOrEqual(2 * 20 - 2);
    expect(gaps[2]).toBeGreaterThanOrEqual(4 * 20 - 2);
  });

  it('runs a key again after the delay its work asks for, with the failure count reset', async () => {
    let runs = 0;
    const queue = new WorkQueue(
      async () => {
        runs++;
        return runs < 3 ? 15 : undefined;
      },
      { concurrency: 1 },
    );
    queue.start();
    queue.add('k');
    await until(() => runs >= 3);
    await queue.idle();
    expect(runs).toBe(3);
  });

  it('forgets what is waiting or delayed when stopped', async () => {
    let runs = 0;
    const queue = new WorkQueue(
      async () => {
        runs++;
        throw new Error('always');
      },
      { concurrency: 1, baseDelayMs: 10 },
    );
    queue.start();
    queue.add('k');
    await until(() => runs === 1);
    queue.stop();
    queue.add('other');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runs).toBe(1);
  });
});
