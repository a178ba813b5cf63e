import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { dateArgument, WallClock } from './wall-clock';

let dir: string;
let setter: string;
let calls: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wall-clock-'));
  calls = path.join(dir, 'calls');
  setter = path.join(dir, 'date');
  // Records what `date -s` would have set, instead of setting it.
  fs.writeFileSync(setter, `#!/bin/sh\n[ "$1" = -s ] && echo "$2" >> '${calls}'\n`, { mode: 0o755 });
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const settings = () =>
  fs.existsSync(calls)
    ? fs
        .readFileSync(calls, 'utf8')
        .trim()
        .split('\n')
        .map((l) => Number(l.slice(1)) * 1000)
    : [];

test('dateArgument: seconds since the epoch, to the microsecond', () => {
  expect(dateArgument(1_700_000_000_123.5)).toBe('@1700000000.123500');
  expect(dateArgument(0)).toBe('@0.000000');
});

test('set asks for the true time plus the step, and says how far off the clock is after it', () => {
  const clock = new WallClock({ setter });
  // The stand-in sets nothing: the clock stays where it was, 45 s from where it was asked to go.
  const left = clock.set(-45_000);
  const [first] = settings();
  expect(settings()).toHaveLength(1);
  expect(Math.abs((first ?? 0) - (Date.now() - 45_000))).toBeLessThan(2_000);
  expect(Math.abs(left - 45_000)).toBeLessThan(100);
});

test('the watchdog puts the clock back at its deadline, from a process of its own; restore ends it', async () => {
  const clock = new WallClock({ setter });
  clock.guard(300);
  await sleep(1_500);
  const [watchdog] = settings();
  expect(settings()).toHaveLength(1);
  expect(Math.abs((watchdog ?? 0) - Date.now())).toBeLessThan(2_000);

  const other = new WallClock({ setter });
  other.guard(1_000);
  other.restore();
  const afterRestore = settings().length;
  expect(afterRestore).toBeGreaterThan(1);
  await sleep(1_500);
  // None of the ended watchdog's.
  expect(settings()).toHaveLength(afterRestore);
});
