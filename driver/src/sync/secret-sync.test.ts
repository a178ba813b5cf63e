// The sync controller against an in-memory API (FakeKube) and real files in a temporary kubelet
// folder: start-up, requeue, resync, finished pods, when Secrets are watched, disagreeing pods,
// concurrency and faults. The same behaviour runs against the lab in e2e/tests/sync-secret.test.ts.
import type { Secret } from '@sscsi/common';
import { KubeApiError } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import { dbSecret, Harness, NS, SECRETS, until } from '../testing/secret-sync-harness';

let h: Harness;
afterEach(async () => {
  await h?.stop();
});

describe('SecretSync start-up and resync', () => {
  it('syncs statuses listed before the pods, instead of dropping them', async () => {
    h = new Harness();
    h.addClass('db-class');
    h.mountedPod('app', 'db-class', 'pw-1');
    const releasePods = h.api.hold('LIST', 'pods');
    h.start();
    await until('the statuses to be listed', () => h.api.count('LIST', 'secretproviderclasspodstatuses') > 0);
    releasePods();
    await until('the Secret', () => h.password());
    expect(h.password()).toBe('pw-1');
  });

  it('syncs a status whose pod the cache does not have yet', async () => {
    h = new Harness();
    h.addClass('db-class');
    h.start();
    await h.sync.idle();
    // The status arrives first (its pod is not bound to this node in the cache yet).
    const { pod, targetPath } = h.addPod('late', 'db-class', { password: 'pw-late' }, { silently: true });
    h.addStatus(pod, 'db-class', targetPath);
    await until('a look at the status', () => h.logs.some((l) => l.includes('not in the cache yet')));
    h.api.put('pods', pod);
    await until('the Secret', () => h.password());
    expect(h.password()).toBe('pw-late');
  });

  it('looks at a status again after the class is created', async () => {
    h = new Harness();
    h.mountedPod('app', 'later-class', 'pw');
    h.start();
    await until('a look at the status', () => h.logs.some((l) => l.includes('the class is not found')));
    h.addClass('later-class');
    await until('the Secret', () => h.password());
  });

  it('recreates at start-up a Secret deleted while the driver was down', async () => {
    h = new Harness();
    h.addClass('db-class');
    h.mountedPod('app', 'db-class', 'pw');
    h.start();
    await until('the Secret', () => h.password());
    await h.sync.stop();
    h.api.remove(SECRETS, NS, 'db');
    const restarted = new Harness({}, h.api);
    try {
      restarted.start();
      await until('the Secret again', () => restarted.password());
    } finally {
      await restarted.stop();
    }
  });
});

describe('SecretSync and the pods it serves', () => {
  it.each(['Succeeded', 'Failed'])('leaves a pod that %s alone', async (phase) => {
    h = new Harness();
    h.addClass('db-class');
    h.mountedPod('job', 'db-class', 'pw', { phase });
    h.start();
    await h.sync.idle();
    await until('a look at the status', () => h.logs.some((l) => l.includes('the pod has finished')));
    expect(h.secret()).toBeUndefined();
    expect(h.events).toEqual([]);
  });

  it('stops syncing a pod once it finished, and says nothing more about it', async () => {
    h = new Harness({ resyncIntervalMs: 30 });
    h.addClass('db-class', [dbSecret(), { ...dbSecret('broken'), type: 'kubernetes.io/tls' }]);
    const { pod } = h.mountedPod('job', 'db-class', 'pw');
    h.start();
    await until('a failure', () => h.events.some((e) => e.reason === 'FailedToCreateSecret'));
    h.api.put('pods', { ...pod, status: { phase: 'Succeeded' } });
    await until('a look at the finished pod', () => h.logs.some((l) => l.includes('the pod has finished')));
    const seen = h.events.length;
    h.api.remove(SECRETS, NS, 'db');
    await until('two resyncs', () => h.logs.filter((l) => l.includes('the pod has finished')).length >= 3);
    expect(h.secret()).toBeUndefined();
    expect(h.events).toHaveLength(seen);
  });

  it("refuses a status pointing at the pod's volume of another class", async () => {
    h = new Harness();
    h.addClass('db-class');
    const { pod } = h.addPod('app', 'db-class', {});
    const other = h.addPod('other', 'other-class', { password: 'not-this' });
    // Same pod, same file name, but the other pod's volume: its uid does not match.
    h.addStatus(pod, 'db-class', other.targetPath);
    h.start();
    await until('a refusal', () => h.events.find((e) => /not a volume of pod default\/app/.test(e.message)));
    expect(h.secret()).toBeUndefined();
  });
});

describe('SecretSync and the Secrets it reads', () => {
  it('reads no Secret while no class of its pods syncs any', async () => {
    h = new Harness({ resyncIntervalMs: 20 });
    h.addClass('plain', []);
    h.mountedPod('app', 'plain', 'pw');
    h.start();
    await until(
      'two looks at the status',
      () => h.logs.filter((l) => l.includes('no secretObjects')).length >= 2,
    );
    expect(h.api.calls.filter((c) => /\/secrets(\/|$)/.test(c.path))).toEqual([]);

    h.addClass('plain');
    await until('the Secret', () => h.password());
    expect(h.api.count('LIST', SECRETS) + h.api.count('WATCH', SECRETS)).toBe(0);
  });

  it('says why when it may not read Secrets: in an Event each time, in the log once a minute', async () => {
    h = new Harness({ retryBaseDelayMs: 10 });
    const forbidden = () =>
      new KubeApiError(
        'GET',
        '/api/v1/namespaces/default/secrets/db',
        403,
        'Forbidden',
        'secrets is forbidden',
      );
    h.api.failNext('GET', SECRETS, forbidden);
    h.api.failNext('GET', SECRETS, forbidden);
    h.addClass('db-class');
    h.mountedPod('app', 'db-class', 'pw');
    h.start();
    await until('two hints', () =>
      h.events.filter((e) => /syncSecret\.enabled=true/.test(e.message)).length >= 2 ? true : undefined,
    );
    expect(h.events[0]?.type).toBe('Warning');
    // Once allowed (the chart upgraded), the retry syncs it.
    await until('the Secret', () => h.password());
    expect(h.logs.filter((l) => l.includes('lacks the sync RBAC'))).toHaveLength(1);
    expect(h.api.count('LIST', SECRETS)).toBe(0);
  });
});

describe('SecretSync with pods that share a Secret', () => {
  it('writes the Secret of 20 pods of one workload once', async () => {
    h = new Harness();
    h.addClass('db-class');
    for (let i = 0; i < 20; i++)
      h.mountedPod(`web-${i}`, 'db-class', 'same', { owner: 'web', changedAt: 1_000 + i });
    h.start();
    await until('the Secret', () => h.password());
    await h.sync.idle();
    expect(h.writes()).toBe(1);
    expect(h.api.count('GET', SECRETS)).toBe(1);
    expect(h.events).toEqual([]);
    expect(h.secret()?.metadata.ownerReferences?.map((o) => o.name)).toEqual(['web']);
  });

  it('settles pods that disagree on the newest mount and writes nothing more', async () => {
    h = new Harness({ resyncIntervalMs: 20 });
    h.addClass('db-class');
    h.mountedPod('old', 'db-class', 'old-value', {
      owner: 'rs',
      changedAt: Date.parse('2026-01-01T00:00:00Z'),
    });
    h.mountedPod('new', 'db-class', 'new-value', {
      owner: 'rs',
      changedAt: Date.parse('2026-01-01T00:01:00Z'),
    });
    h.start();
    await until('the newest value', () => h.password() === 'new-value');
    const writes = h.writes();
    expect(writes).toBeLessThanOrEqual(2);
    const completed = () => h.logs.filter((l) => l.includes('reconcile complete')).length;
    const before = completed();
    await until('several resyncs of both pods', () => completed() >= before + 10);
    expect(h.writes()).toBe(writes);
    expect(h.password()).toBe('new-value');
  });

  it('gives the content to the older mount at the next resync once the newer pod finished', async () => {
    h = new Harness({ resyncIntervalMs: 20 });
    h.addClass('db-class');
    h.mountedPod('old', 'db-class', 'old-value', {
      owner: 'rs',
      changedAt: Date.parse('2026-01-01T00:00:00Z'),
    });
    const newer = h.mountedPod('new', 'db-class', 'new-value', {
      owner: 'rs',
      changedAt: Date.parse('2026-01-01T00:01:00Z'),
    });
    h.start();
    await until('the newest value', () => h.password() === 'new-value');
    h.api.put('pods', { ...newer.pod, status: { phase: 'Succeeded' } });
    await until('the remaining pod’s value', () => h.password() === 'old-value');
  });

  it('retries a write the API server failed, with one Warning', async () => {
    h = new Harness();
    h.api.failNext(
      'POST',
      SECRETS,
      () => new KubeApiError('POST', '/secrets', 500, 'InternalError', 'etcd is away'),
    );
    h.addClass('db-class');
    h.mountedPod('app', 'db-class', 'pw');
    h.start();
    await until('the Secret', () => h.password());
    expect(h.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'FailedToCreateSecret',
        message: expect.stringMatching(/etcd is away/),
      }),
    ]);
    expect(h.logs.join('\n')).not.toContain(Buffer.from('pw').toString('base64'));
  });
});

describe("SecretSync and other nodes' Secrets", () => {
  it('reads and writes only the Secrets its statuses name, whatever else the cluster holds', async () => {
    h = new Harness();
    for (let i = 0; i < 200; i++)
      h.api.put(SECRETS, {
        metadata: {
          name: `other-${i}`,
          namespace: NS,
          labels: { 'secrets-store.csi.k8s.io/managed': 'true' },
        },
        type: 'Opaque',
        data: { password: Buffer.from(`elsewhere-${i}`).toString('base64') },
      });
    h.addClass('db-class');
    h.mountedPod('app', 'db-class', 'pw');
    h.start();
    await until('the Secret', () => h.password());
    await h.sync.idle();
    const secretCalls = h.api.calls.filter((c) => /\/secrets(\/|$)/.test(c.path));
    expect(secretCalls.map((c) => `${c.verb} ${c.path}`)).toEqual([
      `GET /api/v1/namespaces/${NS}/secrets/db`,
      `POST /api/v1/namespaces/${NS}/secrets`,
    ]);
  });

  it('gives a status that arrives while the Secret is being created what that create returned', async () => {
    h = new Harness();
    h.addClass('db-class');
    const releaseCreate = h.api.hold('POST', SECRETS);
    h.mountedPod('a', 'db-class', 'pw', { owner: 'rs-a', changedAt: 1_000 });
    h.start();
    await until('the create on its way', () => h.api.count('POST', SECRETS) === 1);
    h.mountedPod('b', 'db-class', 'pw', { owner: 'rs-b', changedAt: 1_000 });
    releaseCreate();
    await until('both owners', () => h.secret()?.metadata.ownerReferences?.length === 2);
    await h.sync.idle();
    expect(h.secret()?.metadata.ownerReferences?.map((o) => o.name)).toEqual(['rs-a', 'rs-b']);
    // One read before the create; b's sync used the create's answer: no conflict, no second read.
    expect(h.api.count('GET', SECRETS)).toBe(1);
    expect(h.api.count('PUT', SECRETS)).toBe(1);
  });

  it('puts back at the next resync a Secret someone deleted or edited, reading it once per round', async () => {
    h = new Harness({ resyncIntervalMs: 50 });
    h.addClass('db-class');
    for (let i = 0; i < 5; i++)
      h.mountedPod(`web-${i}`, 'db-class', 'pw', { owner: 'web', changedAt: 1_000 });
    h.start();
    await until('the Secret', () => h.password());
    h.api.remove(SECRETS, NS, 'db');
    await until('the Secret again', () => h.password());
    const edited = h.secret() as Secret;
    h.api.put(SECRETS, { ...edited, data: { password: Buffer.from('edited').toString('base64') } });
    await until('the value put back', () => h.password() === 'pw');
    const completed = h.logs.filter((l) => l.includes('reconcile complete')).length;
    // Five statuses share the Secret: a round reads it once, not five times.
    expect(h.api.count('GET', SECRETS)).toBeLessThanOrEqual(Math.ceil(completed / 5) + 2);
  });

  it('retries a resync whose read failed, and puts the Secret back', async () => {
    h = new Harness({ resyncIntervalMs: 50 });
    h.addClass('db-class');
    h.mountedPod('app', 'db-class', 'pw');
    h.start();
    await until('the Secret', () => h.password());
    await h.sync.idle();
    h.api.remove(SECRETS, NS, 'db');
    h.api.failNext(
      'GET',
      SECRETS,
      () => new KubeApiError('GET', '/secrets', 500, 'InternalError', 'etcd is away'),
    );
    await until('the Secret again', () => h.password());
    expect(h.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'FailedToCreateSecret',
        message: expect.stringMatching(/etcd is away/),
      }),
    ]);
  });

  it('writes over a copy another node made out of date with one conflict and one fresh read', async () => {
    h = new Harness();
    h.addClass('db-class');
    const { targetPath } = h.mountedPod('app', 'db-class', 'pw-1', { owner: 'rs-here', changedAt: 1_000 });
    h.start();
    await until('the Secret', () => h.password());
    await h.sync.idle();
    // Another node's pod of another workload adds its owner; this driver does not see that write.
    const current = h.secret() as Secret;
    h.api.put(SECRETS, {
      ...current,
      metadata: {
        ...current.metadata,
        ownerReferences: [
          ...(current.metadata.ownerReferences ?? []),
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs-there', uid: 'uid-rs-there' },
        ],
      },
    });
    const gets = h.api.count('GET', SECRETS);
    fs.writeFileSync(path.join(targetPath, 'password'), 'pw-2');
    h.sync.volumeChanged(NS, 'app', 'db-class');
    await until('the rotated value', () => h.password() === 'pw-2');
    await h.sync.idle();
    expect(h.secret()?.metadata.ownerReferences?.map((o) => o.name)).toEqual(['rs-here', 'rs-there']);
    expect(h.api.count('GET', SECRETS)).toBe(gets + 1);
    expect(h.api.count('PUT', SECRETS)).toBe(2);
    expect(h.events.map((e) => e.reason)).toEqual(['SecretRotationComplete']);
  });

  it('syncs nothing for a status deleted while its class was being read', async () => {
    h = new Harness();
    h.start();
    await h.sync.idle();
    // A class the cache has not seen: the sync reads it from the API server, and that read waits.
    h.api.put(
      'secretproviderclasses',
      {
        metadata: { name: 'new-class', namespace: NS },
        spec: { provider: 'test', secretObjects: [dbSecret()] },
      },
      true,
    );
    const releaseClass = h.api.hold('GET', 'secretproviderclasses');
    const { status } = h.mountedPod('app', 'new-class', 'pw');
    await until('the class read', () => h.api.count('GET', 'secretproviderclasses') === 1);
    h.api.remove('secretproviderclasspodstatuses', NS, status.metadata.name ?? '');
    releaseClass();
    await h.sync.idle();
    expect(h.api.calls.filter((c) => /\/secrets(\/|$)/.test(c.path))).toEqual([]);
    expect(h.secret()).toBeUndefined();
  });
});
