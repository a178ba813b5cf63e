import type { KubeApi } from '@sscsi/common';
import { KubeApiError } from '@sscsi/common';
import { FakeKube, silentLogger } from '@sscsi/common/testing';

import { FakeClock } from '../testing/fake-clock';
import type { Lease } from './leader-election';
import { LEASE_NAME, LeaderElector, microTime } from './leader-election';

const NS = 'secrets-store-sync-controller-system';

/** One replica: its elector over its own view of the API, which may fail (a partition) or hang (a killed process). */
class Replica {
  down: 'no' | 'failing' | 'hung' = 'no';
  started = 0;
  stopped = 0;
  elector: LeaderElector;
  private readonly options: ConstructorParameters<typeof LeaderElector>[0];

  constructor(kube: FakeKube, clock: FakeClock, identity: string) {
    const guard =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        if (this.down === 'hung') return new Promise<R>(() => undefined);
        if (this.down === 'failing')
          throw new KubeApiError('GET', 'x', 503, 'ServiceUnavailable', 'unreachable');
        return call(...args);
      };
    const api: Pick<KubeApi, 'get' | 'create' | 'replace'> = {
      get: guard((path, opts) => kube.get(path, opts)),
      create: guard((path, body, opts) => kube.create(path, body, opts)),
      replace: guard((path, body, opts) => kube.replace(path, body, opts)),
    };
    this.options = {
      kube: api as KubeApi,
      namespace: NS,
      identity,
      leaseDurationMs: 10_000,
      renewDeadlineMs: 7_000,
      retryPeriodMs: 2_000,
      logger: silentLogger(),
      clock,
      onStartedLeading: () => this.started++,
      onStoppedLeading: () => this.stopped++,
    };
    this.elector = new LeaderElector(this.options);
  }

  /** What the kubelet does after the process exited for a lost Lease: a new one campaigns. */
  async restart(): Promise<void> {
    await this.elector.stop();
    this.elector = new LeaderElector(this.options);
    this.elector.start();
  }
}

function setUp() {
  const kube = new FakeKube();
  const clock = new FakeClock();
  const a = new Replica(kube, clock, 'pod-a_1');
  const b = new Replica(kube, clock, 'pod-b_2');
  const lease = () => kube.object<Lease>('leases', NS, LEASE_NAME);
  return { kube, clock, a, b, lease };
}

describe('LeaderElector', () => {
  it('acquires a Lease nobody holds, then renews it every retry period', async () => {
    const { clock, a, lease } = setUp();
    const t0 = clock.now();
    a.elector.start();
    await clock.advance(0);
    expect(a.elector.isLeader).toBe(true);
    expect(a.started).toBe(1);
    expect(lease()?.spec).toEqual({
      holderIdentity: 'pod-a_1',
      leaseDurationSeconds: 10,
      acquireTime: microTime(t0),
      renewTime: microTime(t0),
      leaseTransitions: 0,
    });
    expect(microTime(t0)).toBe('2030-01-02T03:04:05.000000Z');
    await clock.advance(2_000);
    expect(lease()?.spec).toMatchObject({
      holderIdentity: 'pod-a_1',
      acquireTime: microTime(t0),
      renewTime: microTime(t0 + 2_000),
    });
    await a.elector.stop();
  });

  it('keeps a standby waiting while the leader renews', async () => {
    const { clock, a, b } = setUp();
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(60_000);
    expect([a.elector.isLeader, b.elector.isLeader]).toEqual([true, false]);
    expect(b.started).toBe(0);
    await a.elector.stop();
    await b.elector.stop();
  });

  it("keeps one leader when the node's wall clock steps forward or back (deadlines are monotonic)", async () => {
    const { clock, a, b, lease } = setUp();
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(3_000);
    for (const step of [45_000, -45_000, -45_000, 45_000]) {
      clock.stepWallClock(step);
      await clock.advance(30_000);
      expect([a.elector.isLeader, b.elector.isLeader]).toEqual([true, false]);
    }
    expect([a.started, a.stopped, b.started]).toEqual([1, 0, 0]);
    expect(lease()?.spec).toMatchObject({ holderIdentity: 'pod-a_1', leaseTransitions: 0 });
    await a.elector.stop();
    await b.elector.stop();
  });

  it('lets a standby take over within 15 s of the leader being killed', async () => {
    const { clock, a, b, lease } = setUp();
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(5_000);
    const killedAt = clock.now();
    a.down = 'hung';
    let tookOverAt: number | undefined;
    await clock.advance(20_000, () => {
      if (b.elector.isLeader && tookOverAt === undefined) tookOverAt = clock.now();
    });
    expect(tookOverAt).toBeDefined();
    expect((tookOverAt ?? 0) - killedAt).toBeLessThanOrEqual(15_000);
    expect(lease()?.spec).toMatchObject({ holderIdentity: 'pod-b_2', leaseTransitions: 1 });
    await b.elector.stop();
  });

  it('releases the Lease on a graceful stop, so the standby takes over within one retry period', async () => {
    const { clock, a, b, lease } = setUp();
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(3_000);
    await a.elector.stop();
    expect(lease()?.spec.holderIdentity ?? '').toBe('');
    expect(lease()?.spec.leaseDurationSeconds).toBe(1);
    expect(a.stopped).toBe(0);
    const releasedAt = clock.now();
    let tookOverAt: number | undefined;
    await clock.advance(5_000, () => {
      if (b.elector.isLeader && tookOverAt === undefined) tookOverAt = clock.now();
    });
    expect((tookOverAt ?? Infinity) - releasedAt).toBeLessThanOrEqual(2_000);
    await b.elector.stop();
  });

  it('stops leading at the renew deadline when it cannot renew, before anyone may take over', async () => {
    const { clock, a, b } = setUp();
    a.elector.start();
    await clock.advance(0);
    b.elector.start();
    await clock.advance(4_000);
    a.down = 'failing';
    const failedAt = clock.now();
    let lostAt: number | undefined;
    let bothLed = false;
    await clock.advance(20_000, () => {
      if (!a.elector.isLeader && lostAt === undefined) lostAt = clock.now();
      if (a.elector.isLeader && b.elector.isLeader) bothLed = true;
    });
    expect(a.stopped).toBe(1);
    expect((lostAt ?? Infinity) - failedAt).toBeLessThanOrEqual(7_000);
    expect(bothLed).toBe(false);
    expect(b.elector.isLeader).toBe(true);
    await b.elector.stop();
  });

  it('never lets two candidates lead at once, through partitions and conflicts', async () => {
    const { clock, a, b } = setUp();
    a.elector.start();
    b.elector.start();
    let bothLed = false;
    const leaders: string[] = [];
    const check = () => {
      if (a.elector.isLeader && b.elector.isLeader) bothLed = true;
      const leader = a.elector.isLeader ? 'a' : b.elector.isLeader ? 'b' : undefined;
      if (leader && leaders.at(-1) !== leader) leaders.push(leader);
    };
    // Each replica loses the API for a while, in turns; the one that lost the Lease is restarted.
    const schedule: Array<[Replica, 'no' | 'failing']> = [
      [a, 'failing'],
      [a, 'no'],
      [b, 'failing'],
      [b, 'no'],
      [a, 'failing'],
      [a, 'no'],
    ];
    for (const [replica, state] of schedule) {
      replica.down = state;
      await clock.advance(13_000, check);
      for (const r of [a, b])
        if (r.stopped > 0 && !r.elector.isLeader) await r.restart().then(() => (r.stopped = 0));
    }
    expect(bothLed).toBe(false);
    // The Lease changed hands each time its holder lost the API.
    expect(leaders.length).toBeGreaterThanOrEqual(3);
    expect([a.elector.isLeader, b.elector.isLeader].filter(Boolean)).toHaveLength(1);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('makes one winner when two candidates race for a new Lease', async () => {
    const { kube, clock, a, b } = setUp();
    a.elector.start();
    b.elector.start();
    await clock.advance(0);
    expect([a.elector.isLeader, b.elector.isLeader].filter(Boolean)).toHaveLength(1);
    expect(kube.count('POST', 'leases')).toBe(2);
    await a.elector.stop();
    await b.elector.stop();
  });
});
