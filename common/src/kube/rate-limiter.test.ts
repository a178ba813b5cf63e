import { RateLimiter } from './rate-limiter';

afterEach(() => {
  jest.restoreAllMocks();
});

test('a burst goes at once, then requests are paced at qps', async () => {
  const limiter = new RateLimiter(20, 2);
  const started = performance.now();
  await limiter.take();
  await limiter.take();
  expect(performance.now() - started).toBeLessThan(30);
  await limiter.take();
  // One token every 50 ms.
  expect(performance.now() - started).toBeGreaterThanOrEqual(40);
});

test('the wall clock stepped back 45 s holds no request back', async () => {
  const limiter = new RateLimiter(5, 1);
  await limiter.take();
  const real = Date.now();
  jest.spyOn(Date, 'now').mockImplementation(() => real - 45_000);
  const started = performance.now();
  await limiter.take();
  // The next token after 1/qps, not after the 45 s the step took away.
  expect(performance.now() - started).toBeLessThan(1_000);
});

test('requests are served in arrival order; an aborted one gives its turn up', async () => {
  const limiter = new RateLimiter(50, 1);
  const order: number[] = [];
  const aborted = new AbortController();
  const turns = [
    limiter.take().then(() => order.push(1)),
    limiter.take(aborted.signal).then(
      () => order.push(2),
      () => order.push(-2),
    ),
    limiter.take().then(() => order.push(3)),
  ];
  aborted.abort();
  await Promise.all(turns);
  expect(order).toEqual([1, -2, 3]);
});
