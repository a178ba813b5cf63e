import type { OwnerReference, Secret } from '@sscsi/common';
import fc from 'fast-check';

import { SyncError } from './secret-data';
import type { ContentSource, SecretPlan, WantedSecret } from './secret-plan';
import {
  CONTENT_SOURCE_ANNOTATION,
  formatSource,
  MANAGED_LABEL,
  parseSource,
  planSecret,
} from './secret-plan';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const owner = (uid: string): OwnerReference => ({
  apiVersion: 'v1',
  kind: 'ReplicaSet',
  name: `rs-${uid}`,
  uid,
});
const T0 = Date.parse('2026-01-01T00:00:00Z');

function want(
  pod: string,
  changedAt: number,
  password: string,
  extra: Partial<WantedSecret> = {},
): WantedSecret {
  return {
    namespace: 'default',
    name: 'db',
    type: 'Opaque',
    data: { password: b64(password) },
    labels: {},
    annotations: {},
    owners: [owner(`owner-of-${pod}`)],
    source: { podName: pod, podUid: `uid-${pod}`, changedAt, volume: `${pod}-class` },
    ...extra,
  };
}

const alive = async () => true;
const gone = async () => false;
const neverAsked = async (): Promise<boolean> => {
  throw new Error('liveness asked although nothing depends on it');
};

/** What the API server would hold after the plan: a fake apply with a growing resourceVersion. */
let version = 0;
function apply(existing: Secret | undefined, plan: SecretPlan): Secret | undefined {
  if (plan.kind === 'unchanged') return existing;
  if (plan.kind === 'replace') expect(plan.resourceVersion).toBe(existing?.metadata.resourceVersion);
  return { ...plan.secret, metadata: { ...plan.secret.metadata, resourceVersion: String(++version) } };
}

async function synced(...wants: WantedSecret[]): Promise<Secret | undefined> {
  let secret: Secret | undefined;
  for (const w of wants) secret = apply(secret, await planSecret(secret, w, alive));
  return secret;
}

const password = (s: Secret | undefined) => Buffer.from(s?.data?.password ?? '', 'base64').toString();

describe('planSecret', () => {
  it('creates the Secret with the managed label, the class metadata, the owners and where it came from', async () => {
    const plan = await planSecret(
      undefined,
      want('a', T0, 'pw-1', { labels: { team: 'db' }, annotations: { note: 'x' } }),
      neverAsked,
    );
    expect(plan.kind).toBe('create');
    const secret = (plan as { secret: Secret }).secret;
    expect(secret.metadata.labels).toEqual({ team: 'db', [MANAGED_LABEL]: 'true' });
    expect(secret.metadata.annotations?.note).toBe('x');
    expect(parseSource(secret)).toEqual({ podName: 'a', podUid: 'uid-a', changedAt: T0, volume: 'a-class' });
    expect(secret.metadata.ownerReferences).toEqual([owner('owner-of-a')]);
    expect(secret.data).toEqual({ password: b64('pw-1') });
  });

  it('refuses a Secret it does not manage', async () => {
    const handMade: Secret = { metadata: { name: 'db', namespace: 'default' }, data: {} };
    await expect(planSecret(handMade, want('a', T0, 'pw'), neverAsked)).rejects.toThrow(SyncError);
    await expect(planSecret(handMade, want('a', T0, 'pw'), neverAsked)).rejects.toThrow(
      /not managed by the driver/,
    );
  });

  it('writes nothing when the Secret already holds what the pod asks for', async () => {
    const secret = await synced(want('a', T0, 'pw'));
    // Another pod with the same content, newer or older: no write, and no one asked about liveness.
    expect(await planSecret(secret, want('a', T0, 'pw'), neverAsked)).toEqual({ kind: 'unchanged' });
    expect(
      await planSecret(secret, want('b', T0 + 5000, 'pw', { owners: [owner('owner-of-a')] }), neverAsked),
    ).toEqual({
      kind: 'unchanged',
    });
  });

  it('gives the content to the mount that changed last; an older mount only adds its owner', async () => {
    const secret = await synced(want('a', T0, 'old'), want('b', T0 + 1000, 'new'));
    expect(password(secret)).toBe('new');
    expect(parseSource(secret!)?.podName).toBe('b');
    expect(secret?.metadata.ownerReferences?.map((o) => o.uid)).toEqual(['owner-of-a', 'owner-of-b']);

    const older = await planSecret(secret, want('c', T0 + 500, 'old'), alive);
    expect(older.kind).toBe('update');
    expect((older as { dataChanged: boolean }).dataChanged).toBe(false);
    const after = apply(secret, older);
    expect(password(after)).toBe('new');
    expect(after?.metadata.ownerReferences?.map((o) => o.uid)).toEqual([
      'owner-of-a',
      'owner-of-b',
      'owner-of-c',
    ]);
    expect(await planSecret(after, want('c', T0 + 500, 'old'), alive)).toEqual({ kind: 'unchanged' });
    expect(await planSecret(after, want('a', T0, 'old'), alive)).toEqual({ kind: 'unchanged' });
  });

  it('lets an older mount win once the pod of the recorded content is gone', async () => {
    const secret = await synced(want('a', T0, 'old'), want('b', T0 + 1000, 'new'));
    const asked: ContentSource[] = [];
    const plan = await planSecret(secret, want('a', T0, 'old'), async (s) => (asked.push(s), false));
    expect(asked.map((s) => s.podName)).toEqual(['b']);
    expect(plan).toMatchObject({ kind: 'update', dataChanged: true });
    expect(password(apply(secret, plan))).toBe('old');
    expect(parseSource(apply(secret, plan)!)?.podName).toBe('a');
    expect((await planSecret(secret, want('a', T0, 'old'), gone)).kind).toBe('update');
  });

  it('puts back content edited by someone else, when asked by the pod it was recorded from', async () => {
    const secret = await synced(want('a', T0, 'pw'));
    const edited: Secret = { ...secret!, data: { password: b64('hand-edited') } };
    const plan = await planSecret(edited, want('a', T0, 'pw'), neverAsked);
    expect(password(apply(edited, plan))).toBe('pw');
  });

  it("takes the recorded pod's rotated content although its files seem older (the node's clock stepped back)", async () => {
    const secret = await synced(want('a', T0, 'before'), want('b', T0 - 60_000, 'other'));
    expect(password(secret)).toBe('before');
    // Rotated after the wall clock went back 45 s: its files' times are before the recorded one.
    const plan = await planSecret(secret, want('a', T0 - 45_000, 'after'), neverAsked);
    expect(plan).toMatchObject({ kind: 'update', dataChanged: true });
    expect(password(apply(secret, plan))).toBe('after');
    expect(parseSource(apply(secret, plan)!)?.changedAt).toBe(T0 - 45_000);
  });

  it('orders two volumes of one pod syncing the same Secret by time, like any two: no flapping', async () => {
    const volume = (v: string, changedAt: number, pw: string) =>
      want('a', changedAt, pw, { source: { podName: 'a', podUid: 'uid-a', changedAt, volume: v } });
    const secret = await synced(volume('a-c1', T0 + 1000, 'new'), volume('a-c2', T0, 'old'));
    expect(password(secret)).toBe('new');
    expect(await planSecret(secret, volume('a-c2', T0, 'old'), alive)).toEqual({ kind: 'unchanged' });
    expect(await planSecret(secret, volume('a-c1', T0 + 1000, 'new'), neverAsked)).toEqual({
      kind: 'unchanged',
    });
    // What an earlier version recorded (no volume): ordered by time, not taken as the same volume.
    const earlier: Secret = {
      ...secret!,
      metadata: {
        ...secret!.metadata,
        annotations: {
          ...secret!.metadata.annotations,
          [CONTENT_SOURCE_ANNOTATION]: formatSource({ podName: 'a', podUid: 'uid-a', changedAt: T0 + 1000 }),
        },
      },
    };
    expect(await planSecret(earlier, volume('a-c1', T0, 'old'), alive)).toEqual({ kind: 'unchanged' });
  });

  it('breaks a tie between mounts changed in the same millisecond by pod uid', async () => {
    const one = await synced(want('a', T0, 'from-a'), want('b', T0, 'from-b'));
    const other = await synced(want('b', T0, 'from-b'), want('a', T0, 'from-a'));
    expect(password(one)).toBe('from-b');
    expect(password(other)).toBe('from-b');
  });

  it('takes over a Secret without a readable source (written by an earlier driver)', async () => {
    const secret = await synced(want('a', T0, 'old'));
    for (const value of [undefined, 'not json', '{"pod":"x"}']) {
      const annotations = { ...secret!.metadata.annotations };
      if (value === undefined) delete annotations[CONTENT_SOURCE_ANNOTATION];
      else annotations[CONTENT_SOURCE_ANNOTATION] = value;
      const legacy: Secret = { ...secret!, metadata: { ...secret!.metadata, annotations } };
      expect(parseSource(legacy)).toBeUndefined();
      const plan = await planSecret(legacy, want('z', T0 - 1000, 'other'), neverAsked);
      expect(password(apply(legacy, plan))).toBe('other');
    }
  });

  it('replaces the Secret when the winning content has another type; an older mount keeps the type', async () => {
    const secret = await synced(want('a', T0, 'pw'));
    const tls = { type: 'example.com/custom' };
    const sameOwner = { ...tls, owners: [owner('owner-of-a')] };
    expect(await planSecret(secret, want('b', T0 - 1, 'pw', sameOwner), alive)).toEqual({
      kind: 'unchanged',
    });
    const plan = await planSecret(secret, want('b', T0 + 1, 'pw', tls), alive);
    expect(plan.kind).toBe('replace');
    const replaced = (plan as { secret: Secret }).secret;
    expect(replaced.type).toBe('example.com/custom');
    expect(replaced.metadata.ownerReferences?.map((o) => o.uid)).toEqual(['owner-of-a', 'owner-of-b']);
    expect(replaced.metadata.resourceVersion).toBeUndefined();
  });

  it('settles clashing labels on the newest mount and keeps labels others set', async () => {
    const a = want('a', T0, 'pw', { labels: { team: 'a', only: 'a' }, annotations: { note: 'a' } });
    const b = want('b', T0 + 1, 'pw', { labels: { team: 'b' }, annotations: { note: 'b' } });
    let secret = await synced(a, b);
    secret = apply(secret, await planSecret(secret, a, alive));
    expect(secret?.metadata.labels).toEqual({ team: 'b', only: 'a', [MANAGED_LABEL]: 'true' });
    expect(secret?.metadata.annotations?.note).toBe('b');
    for (const w of [a, b]) expect(await planSecret(secret, w, alive)).toEqual({ kind: 'unchanged' });
  });

  it('formats a source that parses back to itself', () => {
    for (const source of [
      { podName: 'p', podUid: 'u', changedAt: T0 + 123, volume: 'p-class' },
      { podName: 'p', podUid: 'u', changedAt: T0 + 123 },
    ]) {
      const secret: Secret = {
        metadata: { annotations: { [CONTENT_SOURCE_ANNOTATION]: formatSource(source) } },
      };
      expect(parseSource(secret)).toEqual(source);
    }
  });

  it('settles any set of disagreeing mounts on the newest, in any order, with a bounded number of writes', async () => {
    const mount = fc.record({
      changedAt: fc.integer({ min: 0, max: 5 }),
      content: fc.constantFrom('v1', 'v2', 'v3'),
      label: fc.constantFrom('x', 'y'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(mount, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (mounts, order) => {
          const wants = mounts.map((m, i) =>
            want(`p${i}`, T0 + m.changedAt, m.content, { labels: { team: m.label }, owners: [] }),
          );
          let secret: Secret | undefined;
          let writes = 0;
          const step = async (w: WantedSecret) => {
            const plan = await planSecret(secret, w, alive);
            if (plan.kind !== 'unchanged') writes++;
            secret = apply(secret, plan);
          };
          // The pods reconcile in an arbitrary order, then round after round until nobody writes.
          for (const i of order) await step(wants[i % wants.length]!);
          let rounds = 0;
          for (;;) {
            const before = writes;
            for (const w of wants) await step(w);
            if (writes === before) break;
            if (++rounds > wants.length + 1) throw new Error('no convergence');
          }
          const newest = [...wants]
            .sort(
              (x, y) =>
                x.source.changedAt - y.source.changedAt || (x.source.podUid < y.source.podUid ? -1 : 1),
            )
            .at(-1)!;
          expect(secret?.data).toEqual(newest.data);
          // Every pod writes at most once per pod newer than the last writer, plus the first create.
          expect(writes).toBeLessThanOrEqual(1 + 2 * wants.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
