import type { Mounted } from './annotations';
import { decide, decideWithoutPods, describeChange, objectKey, secretKey } from './decision';

const m = (entries: Record<string, string[]>): Mounted =>
  new Map(Object.entries(entries).map(([k, v]) => [k, new Set(v)]));

describe('decide', () => {
  it('records what is mounted when there is no record, and restarts nothing', () => {
    expect(decide(undefined, m({ 'db/pw': ['v1'] }))).toEqual({
      kind: 'record',
      record: m({ 'db/pw': ['v1'] }),
    });
    expect(decide(undefined, m({}))).toEqual({ kind: 'unchanged' });
  });

  it('changes nothing when the pods mount what the record holds', () => {
    expect(decide(m({ 'db/pw': ['v2'] }), m({ 'db/pw': ['v2'] }))).toEqual({ kind: 'unchanged' });
  });

  it('restarts for a version the record does not hold, recording every version the pods mount', () => {
    expect(
      decide(m({ 'db/pw': ['v1'], 'db/user': ['u1'] }), m({ 'db/pw': ['v1', 'v2'], 'db/user': ['u1'] })),
    ).toEqual({
      kind: 'restart',
      record: m({ 'db/pw': ['v1', 'v2'], 'db/user': ['u1'] }),
      changed: ['db/pw'],
    });
  });

  it('restarts only for a version that changed under a running pod, not one pods mount since their start', () => {
    const record = m({ 'db/pw': ['v1'] });
    const mounted = m({ 'db/pw': ['v1', 'v2'] });
    // Scaled up, or a user's rollout: the pods with v2 started with it; the others still hold v1.
    expect(decide(record, mounted, m({}))).toEqual({ kind: 'unchanged' });
    // One of the v1 pods rotated in place.
    expect(decide(record, mounted, m({ 'db/pw': ['v2'] }))).toEqual({
      kind: 'restart',
      record: m({ 'db/pw': ['v1', 'v2'] }),
      changed: ['db/pw'],
    });
  });

  it('restarts once for current pods at different versions, not once for each in turn', () => {
    // One pod rotated to v2, the other lags at v1 (or a paused rollout keeps both current).
    const mounted = m({ 'db/pw': ['v1', 'v2'] });
    const first = decide(m({ 'db/pw': ['v1'] }), mounted);
    expect(first).toMatchObject({ kind: 'restart', record: m({ 'db/pw': ['v1', 'v2'] }) });
    const record = first.kind === 'restart' ? first.record : undefined;
    // Evaluated again before the pods are replaced: nothing is new.
    expect(decide(record, mounted)).toEqual({ kind: 'unchanged' });
    expect(decide(record, m({ 'db/pw': ['v1'] }))).toEqual({ kind: 'unchanged' });
    expect(decide(record, m({ 'db/pw': ['v2'] }))).toEqual({ kind: 'unchanged' });
  });

  it('restarts for a version back to an earlier one', () => {
    expect(decide(m({ 'db/pw': ['v2'] }), m({ 'db/pw': ['v1'] }))).toMatchObject({ kind: 'restart' });
  });

  it('records a new object or Secret without a restart, and keeps what no pod mounts now', () => {
    expect(decide(m({ 'db/pw': ['v1'] }), m({ 'Secret/env': ['ab'] }))).toEqual({
      kind: 'record',
      record: m({ 'db/pw': ['v1'], 'Secret/env': ['ab'] }),
    });
    expect(decide(m({ 'db/pw': ['v1'] }), m({}))).toEqual({ kind: 'unchanged' });
  });

  it('restarts once for several changes, naming them all', () => {
    const decision = decide(
      m({ 'db/pw': ['v1'], 'Secret/env': ['a'] }),
      m({ 'db/pw': ['v2'], 'Secret/env': ['b'] }),
    );
    expect(decision).toMatchObject({ kind: 'restart', changed: ['Secret/env', 'db/pw'] });
  });
});

describe('decideWithoutPods', () => {
  it('restarts nothing and records what the Secrets hold now', () => {
    expect(
      decideWithoutPods(m({ 'Secret/env': ['a'], 'db/pw': ['v1'] }), m({ 'Secret/env': ['b'] })),
    ).toEqual({
      kind: 'record',
      record: m({ 'Secret/env': ['b'], 'db/pw': ['v1'] }),
    });
    expect(decideWithoutPods(m({ 'Secret/env': ['a'] }), m({ 'Secret/env': ['a'] }))).toEqual({
      kind: 'unchanged',
    });
    expect(decideWithoutPods(undefined, m({}))).toEqual({ kind: 'unchanged' });
  });
});

describe('describeChange', () => {
  it('names the objects and the Secrets, never a version or a value', () => {
    expect(describeChange([objectKey('db', 'pw'), objectKey('db', 'arn:aws:x'), secretKey('env')])).toBe(
      'rolling restart: mounted objects changed: db/pw, db/arn:aws:x; synced Secrets changed: env',
    );
    expect(describeChange([secretKey('env')])).toBe('rolling restart: synced Secrets changed: env');
  });
});
