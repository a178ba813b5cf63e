import { until } from '@sscsi/common/testing';
import { GetParametersCommand } from '@aws-sdk/client-ssm';
import type { GetParametersCommandOutput } from '@aws-sdk/client-ssm';

import { awsError } from '../testing/fake-sts';
import { HeldClient } from '../testing/held-client';
import type { MountRound } from './kept-answers';
import { SsmCoalescer } from './ssm-coalescer';
import { parameterNameOf } from './ssm-names';

const WINDOW_MS = 30_000;
const SCOPE = JSON.stringify([1, 'us-east-1']);

function harness() {
  let now = 1_000_000;
  const shared: string[] = [];
  const coalescer = new SsmCoalescer({
    windowMs: WINDOW_MS,
    coalesceMs: 1,
    now: () => now,
    onShared: (operation) => shared.push(operation),
  });
  const client = new HeldClient();
  const round = (remount = true, notBefore = Number.NEGATIVE_INFINITY): MountRound => ({
    notBefore,
    remount,
    end: () => undefined,
  });
  const get = (names: string[], r = round(), signal?: AbortSignal) =>
    coalescer.getParameters(
      client,
      SCOPE,
      new GetParametersCommand({ Names: names, WithDecryption: true }),
      r,
      signal,
    );
  /** Answers call `i` with a parameter for each name it carries. */
  const answer = (i: number, value = (s: string) => s) => {
    const names = (client.calls[i]?.command as GetParametersCommand).input.Names ?? [];
    client.calls[i]?.answer({
      Parameters: names.map((s) => ({ Name: parameterNameOf(s), Value: value(s), Version: 2 })),
      InvalidParameters: [],
    });
  };
  const namesOf = (i: number) => (client.calls[i]?.command as GetParametersCommand).input.Names ?? [];
  const advance = (ms: number) => {
    now += ms;
  };
  return { coalescer, client, round, get, answer, namesOf, shared, advance, now: () => now };
}

const values = (out: GetParametersCommandOutput) => (out.Parameters ?? []).map((p) => p.Value);

describe('SsmCoalescer: many mounts, few calls', () => {
  it('sends the names of many mounts ten per call, no name twice in a call', async () => {
    const h = harness();
    const sends = Array.from({ length: 25 }, (_, i) => h.get([`/p/${i}`, ...(i === 0 ? ['/p/1:2'] : [])]));
    await until(() => h.client.calls.length === 3);
    const names = h.client.calls.map((_, i) => h.namesOf(i));
    expect(names.map((n) => n.length).sort()).toEqual([10, 10, 6]);
    for (const n of names) expect(new Set(n.map(parameterNameOf)).size).toBe(n.length);
    h.client.calls.forEach((_, i) => h.answer(i));
    const answers = await Promise.all(sends);
    expect(answers[0]).toMatchObject({
      Parameters: [{ Value: '/p/0' }, { Value: '/p/1:2' }],
      InvalidParameters: [],
    });
    expect(answers[7]).toMatchObject({ Parameters: [{ Value: '/p/7' }] });
  });

  it('gives mounts asking the same names at once one call, and rotation remounts the kept answers', async () => {
    const h = harness();
    const first = Array.from({ length: 20 }, () => h.get(['/a', '/b']));
    await until(() => h.client.calls.length === 1);
    h.answer(0);
    for (const out of await Promise.all(first)) expect(values(out)).toEqual(['/a', '/b']);
    h.advance(WINDOW_MS - 1);
    expect(values(await h.get(['/a', '/b']))).toEqual(['/a', '/b']);
    expect(h.client.calls).toHaveLength(1);
    expect(h.shared.length).toBe(19 * 2 + 2);
  });

  it('asks again for a first mount, for a remount once the window is over, and after the volume last looked', async () => {
    const h = harness();
    const first = h.get(['/a']);
    await until(() => h.client.calls.length === 1);
    h.answer(0);
    await first;
    const calls = async (names: string[], r: MountRound) => {
      const before = h.client.calls.length;
      const out = h.get(names, r);
      await until(() => h.client.calls.length > before);
      h.answer(before, (s) => `${s} again`);
      expect(values(await out)).toEqual([`${names[0]} again`]);
    };
    await calls(['/a'], h.round(false));
    await calls(['/a'], h.round(true, h.now()));
    h.advance(WINDOW_MS);
    await calls(['/a'], h.round(true));
    expect(h.client.calls).toHaveLength(4);
  });

  it('keeps no answer past the window once swept', async () => {
    const h = harness();
    const first = h.get(['/a', '/b']);
    await until(() => h.client.calls.length === 1);
    h.answer(0);
    await first;
    expect(h.coalescer.size).toBe(2);
    h.advance(WINDOW_MS);
    h.coalescer.sweep();
    expect(h.coalescer.size).toBe(0);
  });
});

describe('SsmCoalescer: faults and cancellation', () => {
  it('keeps no failure: every mount waiting gets it, the next mount asks again', async () => {
    const h = harness();
    const waiting = [h.get(['/a']), h.get(['/a'])];
    await until(() => h.client.calls.length === 1);
    h.client.calls[0]?.fail(awsError('ThrottlingException', 400));
    for (const w of waiting) await expect(w).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(h.coalescer.size).toBe(0);
    const again = h.get(['/a']);
    await until(() => h.client.calls.length === 2);
    h.answer(1);
    expect(values(await again)).toEqual(['/a']);
  });

  it("asks for a mount's own names alone when a call mixed with others' names was refused", async () => {
    const h = harness();
    const mine = h.get(['/mine']);
    const nosy = h.get(['/forbidden']);
    await until(() => h.client.calls.length === 1);
    expect(h.namesOf(0)).toEqual(['/mine', '/forbidden']);
    h.client.calls[0]?.fail(awsError('AccessDeniedException', 400));
    await until(() => h.client.calls.length === 3);
    expect([h.namesOf(1), h.namesOf(2)].sort()).toEqual([['/forbidden'], ['/mine']]);
    const forbidden = h.namesOf(1)[0] === '/forbidden' ? 1 : 2;
    h.client.calls[forbidden]?.fail(awsError('AccessDeniedException', 400));
    h.answer(3 - forbidden);
    expect(values(await mine)).toEqual(['/mine']);
    await expect(nosy).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('does not ask again when AWS was unavailable: another call would fail alike', async () => {
    const h = harness();
    const waiting = [h.get(['/a']), h.get(['/b'])];
    await until(() => h.client.calls.length === 1);
    h.client.calls[0]?.fail(awsError('ThrottlingException', 400));
    for (const w of waiting) await expect(w).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(h.client.calls).toHaveLength(1);
  });

  it('reports a name SSM does not know as invalid for the mount that asked it only', async () => {
    const h = harness();
    const known = h.get(['/a']);
    const unknown = h.get(['/missing']);
    await until(() => h.client.calls.length === 1);
    h.client.calls[0]?.answer({
      Parameters: [{ Name: '/a', Value: 'a', Version: 1 }],
      InvalidParameters: ['/missing'],
    });
    expect(await known).toMatchObject({ Parameters: [{ Value: 'a' }], InvalidParameters: [] });
    expect(await unknown).toMatchObject({ Parameters: [], InvalidParameters: ['/missing'] });
  });

  it('does not cancel a call others wait on when one mount gives up; cancels it when all do', async () => {
    const h = harness();
    const leaving = new AbortController();
    const left = h.get(['/a'], h.round(), leaving.signal);
    const staying = h.get(['/a']);
    await until(() => h.client.calls.length === 1);
    leaving.abort(new Error('deadline'));
    await expect(left).rejects.toThrow('deadline');
    expect(h.client.calls[0]?.signal?.aborted).toBe(false);
    h.answer(0);
    expect(values(await staying)).toEqual(['/a']);

    const a = new AbortController();
    const b = new AbortController();
    const both = [h.get(['/b'], h.round(), a.signal), h.get(['/b'], h.round(), b.signal)];
    await until(() => h.client.calls.length === 2);
    a.abort(new Error('a gone'));
    b.abort(new Error('b gone'));
    await expect(both[0]).rejects.toThrow('a gone');
    await expect(both[1]).rejects.toThrow('b gone');
    expect(h.client.calls[1]?.signal?.aborted).toBe(true);
  });

  it('sends nothing for names every mount gave up on before the call went out; a later mount asks afresh', async () => {
    const h = harness();
    const gone = new AbortController();
    const waiting = h.get(['/a'], h.round(), gone.signal);
    gone.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    const later = h.get(['/a']);
    await until(() => h.client.calls.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(h.client.calls).toHaveLength(1);
    h.answer(0);
    expect(values(await later)).toEqual(['/a']);
  });
});
