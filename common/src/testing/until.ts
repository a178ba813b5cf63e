// For unit tests: waiting for what concurrent work, timers or another process bring about.

/**
 * Resolves with what `check` gives once it gives something (anything but undefined or false),
 * checking after each turn of the event loop; fails after `timeoutMs`, naming `what`.
 */
export async function until<T>(
  check: () => T | undefined | false,
  timeoutMs = 10_000,
  what = 'the condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
