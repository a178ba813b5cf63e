// The whole controller as main.ts wires it, over the fake API server and a real provider on a Unix
// socket in --provider-volume: a SecretSync becomes a Secret; two replicas take turns leading
// without writing a Secret twice.
import * as grpc from '@grpc/grpc-js';
import type { CoreEvent, Secret } from '@sscsi/common';
import { drainServer, listenOnSocket } from '@sscsi/common';
import { capturingLogger, FakeKube, until } from '@sscsi/common/testing';
import type { CSIDriverProviderHandlers, MountRequest__Output } from '@sscsi/proto';
import { loadProvider } from '@sscsi/proto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';

import type { SecretSync } from './api/secret-sync';
import type { SyncControllerConfig } from './config';
import type { Lease } from './leader/leader-election';
import { LEASE_NAME } from './leader/leader-election';
import type { RunningSyncController } from './sync-controller';
import { startSyncController } from './sync-controller';
import { secretProviderClass, secretSync } from './testing/objects';

const NS = 'test-v1alpha1';
const SYSTEM = 'secrets-store-sync-controller-system';

/** upstream's e2e provider, as far as SSC uses it: `foo` → `secret`, authority `localhost` only. */
class E2eProvider {
  readonly requests: Array<{ authority: string; request: MountRequest__Output }> = [];
  /** While set, answers wait for it. */
  hold?: Promise<void>;
  private server?: grpc.Server;

  constructor(readonly socketPath: string) {}

  async start(): Promise<void> {
    const server = new grpc.Server();
    const handlers: CSIDriverProviderHandlers = {
      Version: (_call, callback) =>
        callback(null, { version: 'v1alpha1', runtimeName: 'e2e', runtimeVersion: '1' }),
      Mount: async (call, callback) => {
        this.requests.push({ authority: call.getHost(), request: call.request });
        await this.hold;
        if (call.getHost() !== 'localhost')
          return callback({
            code: grpc.status.INVALID_ARGUMENT,
            details: 'want authority localhost',
          } as grpc.ServiceError);
        callback(null, {
          objectVersion: [{ id: 'secret/foo', version: 'v1' }],
          files: [{ path: 'foo', mode: 0o644, contents: Buffer.from('secret') }],
        });
      },
    };
    server.addService(loadProvider().v1alpha1.CSIDriverProvider.service, handlers);
    await listenOnSocket(server, this.socketPath);
    this.server = server;
  }

  async stop(): Promise<void> {
    if (this.server) await drainServer(this.server, this.socketPath, 0);
  }
}

function config(dir: string, identity?: string, restartDelayMs?: number): SyncControllerConfig {
  return {
    providerVolume: dir,
    tokenAudiences: [],
    healthProbeAddress: undefined,
    metricsAddress: undefined,
    leaderElection: identity
      ? { namespace: SYSTEM, identity, leaseDurationMs: 10_000, renewDeadlineMs: 7_000, retryPeriodMs: 100 }
      : undefined,
    rotationPollIntervalMs: 0,
    maxCallRecvMsgSize: 4194304,
    providerTimeoutMs: 10_000,
    maxConcurrentReconciles: 4,
    restartOnRotation: restartDelayMs === undefined ? undefined : { delayMs: restartDelayMs },
    kubeconfig: undefined,
    logJson: true,
    verbosity: 0,
    errorsOnly: false,
    pod: { name: 'secrets-store-sync-controller-manager-abc', uid: 'pod-uid-1' },
    inCluster: { host: undefined, port: undefined },
  };
}

describe('the sync controller, wired', () => {
  let dir: string;
  let provider: E2eProvider;
  const running: RunningSyncController[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssc-'));
    provider = new E2eProvider(path.join(dir, 'e2e-provider.sock'));
    await provider.start();
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.stop()));
    await provider.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function start(
    kube: FakeKube,
    identity?: string,
    o: { providerVolume?: string; providerSocketsWaitMs?: number; restartDelayMs?: number } = {},
  ) {
    const registry = new Registry();
    const { logger, lines } = capturingLogger();
    let lost = 0;
    const controller = startSyncController({
      config: config(o.providerVolume ?? dir, identity, o.restartDelayMs),
      kube,
      leaseKube: kube,
      logger,
      registry,
      onLeaseLost: () => lost++,
      providerSocketsWaitMs: o.providerSocketsWaitMs,
    });
    running.push(controller);
    return { controller, registry, lines, lost: () => lost };
  }

  it('turns a SecretSync into its Secret through a provider socket, and reports it', async () => {
    const kube = new FakeKube();
    kube.put('secretproviderclasses', secretProviderClass());
    kube.put('secretsyncs', secretSync());
    const { controller, registry, lines } = start(kube, 'pod-a_1');
    await until(() => controller.ready());
    await until(
      () => kube.object<SecretSync>('secretsyncs', NS, 'sse2esecret')?.status?.syncHash !== undefined,
    );
    expect(kube.object<Secret>('secrets', NS, 'sse2esecret')?.data).toEqual({ bar: 'c2VjcmV0' });
    expect(provider.requests).toHaveLength(1);
    expect(provider.requests[0]?.authority).toBe('localhost');
    expect(provider.requests[0]?.request).toMatchObject({
      secrets: '{}',
      targetPath: '/mnt/secrets-store',
      permission: '420',
      currentObjectVersion: [],
    });
    const text = await registry.metrics();
    expect(text).toContain('controller_runtime_reconcile_total{controller="secretsync",result="success"} 1');
    expect(text).toContain(`leader_election_master_status{name="${LEASE_NAME}"} 1`);
    expect(text).toContain('secretsync_provider_fetches_total{provider="e2e-provider",outcome="called"} 1');
    expect(text).toContain('secretsync_sync_hashes_total{outcome="computed"} 1');
    expect(text).toContain('workqueue_depth{name="secretsync"} 0');
    expect(lines.join('\n')).not.toContain('c2VjcmV0');
  });

  it('runs without leader election, as upstream without --leader-elect', async () => {
    const kube = new FakeKube();
    kube.put('secretproviderclasses', secretProviderClass());
    kube.put('secretsyncs', secretSync());
    start(kube);
    await until(() => kube.object<Secret>('secrets', NS, 'sse2esecret') !== undefined);
    expect(kube.objects('leases')).toEqual([]);
  });

  it('lets one of two replicas work; the other takes over a released Lease and writes nothing again', async () => {
    const kube = new FakeKube();
    kube.put('secretproviderclasses', secretProviderClass());
    kube.put('secretsyncs', secretSync());
    const a = start(kube, 'pod-a_1');
    await until(() => kube.object<Lease>('leases', SYSTEM, LEASE_NAME)?.spec.holderIdentity === 'pod-a_1');
    const b = start(kube, 'pod-b_2');
    await until(() => kube.object<Secret>('secrets', NS, 'sse2esecret') !== undefined);
    await until(() => b.controller.ready());
    expect([a.controller.leading(), b.controller.leading()]).toEqual([true, false]);
    const applies = () => kube.count('PATCH', 'secrets');
    await until(
      () => kube.object<SecretSync>('secretsyncs', NS, 'sse2esecret')?.status?.syncHash !== undefined,
    );
    expect(applies()).toBe(1);

    await running.splice(running.indexOf(a.controller), 1)[0]?.stop();
    await until(() => b.controller.leading(), 3_000);
    // The new leader syncs every SecretSync once: nothing changed, nothing is written.
    await until(() => provider.requests.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(applies()).toBe(1);
    expect(kube.object<Lease>('leases', SYSTEM, LEASE_NAME)?.spec).toMatchObject({
      holderIdentity: 'pod-b_2',
      leaseTransitions: 1,
    });
    expect(a.lost() + b.lost()).toBe(0);
  });

  it('restarts an opted-in Deployment on rotation with --restart-on-rotation, from the leader only, with an Event', async () => {
    const kube = new FakeKube();
    const deployment = {
      metadata: {
        name: 'web',
        namespace: NS,
        uid: 'uid-web',
        generation: 1,
        annotations: { 'secrets-store.csi.x-k8s.io/restart-on-rotation': 'true' },
      },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } } } },
      status: { observedGeneration: 1 },
    };
    kube.put('deployments', deployment);
    const owner = (kind: string, name: string) => [
      { apiVersion: 'apps/v1', kind, name, uid: `uid-${name}`, controller: true },
    ];
    kube.put('replicasets', {
      metadata: {
        name: 'web-1',
        namespace: NS,
        uid: 'uid-web-1',
        labels: { app: 'web' },
        annotations: { 'deployment.kubernetes.io/revision': '1' },
        ownerReferences: owner('Deployment', 'web'),
      },
    });
    kube.put('pods', {
      metadata: {
        name: 'web-1-a',
        namespace: NS,
        uid: 'uid-pod',
        labels: { app: 'web' },
        ownerReferences: owner('ReplicaSet', 'web-1'),
      },
    });
    // Its generation: one more at each change of its status, as the API server counts it.
    const status = (version: string, generation: number) => ({
      metadata: {
        generation,
        name: `web-1-a-${NS}-db`,
        namespace: NS,
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web-1-a', uid: 'uid-pod' }],
      },
      status: {
        podName: 'web-1-a',
        secretProviderClassName: 'db',
        mounted: true,
        objects: [{ id: 'password', version }],
      },
    });
    kube.put('secretproviderclasspodstatuses', status('v1', 1));
    const a = start(kube, 'pod-a_1', { restartDelayMs: 0 });
    await until(() => kube.object<Lease>('leases', SYSTEM, LEASE_NAME)?.spec.holderIdentity === 'pod-a_1');
    const b = start(kube, 'pod-b_2', { restartDelayMs: 0 });
    await until(() => a.controller.ready() && b.controller.ready());
    await until(() => kube.count('PATCH', 'deployments') === 1, 5_000);
    kube.put('secretproviderclasspodstatuses', status('v2', 2));
    await until(() => kube.count('PATCH', 'deployments') === 2, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(kube.count('PATCH', 'deployments')).toBe(2);
    const restarted = kube.object<
      typeof deployment & { spec: { template: { metadata: { annotations?: Record<string, string> } } } }
    >('deployments', NS, 'web');
    expect(
      restarted?.spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'],
    ).toBeDefined();
    await until(() => kube.objects('events').length > 0, 5_000);
    expect(await a.registry.metrics()).toContain(
      'secretsync_workload_restart_evaluations_total{outcome="restarted"} 1',
    );
    expect(await b.registry.metrics()).not.toContain('secretsync_workload_restart_evaluations_total{');
    expect(kube.objects<CoreEvent>('events')).toEqual([
      expect.objectContaining({
        involvedObject: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: NS,
          name: 'web',
          uid: 'uid-web',
        },
        type: 'Normal',
        reason: 'RestartedOnRotation',
        message: 'rolling restart: mounted objects changed: db/password',
        source: { component: 'secrets-store-sync-controller' },
      }),
    ]);
  });

  it('stops at once on a shutdown: a provider call under way is cancelled, nothing failed is written, the Lease is released', async () => {
    const kube = new FakeKube();
    kube.put('secretproviderclasses', secretProviderClass());
    kube.put('secretsyncs', secretSync());
    let release: () => void = () => undefined;
    provider.hold = new Promise<void>((resolve) => (release = resolve));
    const a = start(kube, 'pod-a_1');
    await until(() => provider.requests.length === 1);
    const started = Date.now();
    await running.splice(running.indexOf(a.controller), 1)[0]?.stop();
    // Not the provider's time (it never answers while stopping), nor a drain's.
    expect(Date.now() - started).toBeLessThan(1_000);
    release();
    expect(kube.object<Lease>('leases', SYSTEM, LEASE_NAME)?.spec.holderIdentity).toBeUndefined();
    const conditions = kube.object<SecretSync>('secretsyncs', NS, 'sse2esecret')?.status?.conditions;
    expect(conditions?.map((c) => [c.type, c.status])).toEqual([
      ['SecretCreated', 'Unknown'],
      ['SecretUpdated', 'Unknown'],
    ]);
    expect(kube.objects('events')).toEqual([]);
  });

  describe('a replica whose provider sidecar is not listening yet', () => {
    let late: string;
    let lateProvider: E2eProvider | undefined;
    beforeEach(() => {
      late = fs.mkdtempSync(path.join(os.tmpdir(), 'ssc-late-'));
    });
    afterEach(async () => {
      await lateProvider?.stop();
      lateProvider = undefined;
      fs.rmSync(late, { recursive: true, force: true });
    });

    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it('does not campaign, so a standby that can work takes a released Lease; it campaigns once its socket is there', async () => {
      const kube = new FakeKube();
      kube.put('secretproviderclasses', secretProviderClass());
      kube.put('secretsyncs', secretSync());
      const a = start(kube, 'pod-a_1');
      await until(
        () => kube.object<SecretSync>('secretsyncs', NS, 'sse2esecret')?.status?.syncHash !== undefined,
      );
      const b = start(kube, 'pod-b_2');
      // The new pod: its provider starts after it.
      const c = start(kube, 'pod-c_3', { providerVolume: late });
      await until(() => b.controller.ready() && c.controller.ready());
      const statusWrites = () => kube.count('PUT', 'secretsyncs');
      const before = statusWrites();

      await running.splice(running.indexOf(a.controller), 1)[0]?.stop();
      await until(() => b.controller.leading(), 3_000);
      await sleep(300);
      expect([b.controller.leading(), c.controller.leading()]).toEqual([true, false]);
      // Nothing failed, so nothing was written: no failure condition, no Warning Event.
      expect(statusWrites()).toBe(before);
      expect(kube.objects('events')).toEqual([]);
      expect(c.lines.join('\n')).toContain('waiting for the sockets of the providers in use');

      // Once its provider listens, it stands by: it campaigns, and takes over when b stops.
      lateProvider = new E2eProvider(path.join(late, 'e2e-provider.sock'));
      await lateProvider.start();
      await until(() => c.lines.join('\n').includes('attempting to acquire leader lease'));
      await running.splice(running.indexOf(b.controller), 1)[0]?.stop();
      await until(() => c.controller.leading(), 3_000);
      await until(() => lateProvider?.requests.length === 1);
      await sleep(100);
      expect(statusWrites()).toBe(before);
    });

    it('without leader election, starts reconciling only once the socket is there', async () => {
      const kube = new FakeKube();
      kube.put('secretproviderclasses', secretProviderClass());
      kube.put('secretsyncs', secretSync());
      const c = start(kube, undefined, { providerVolume: late });
      await until(() => c.controller.ready());
      await sleep(300);
      expect(kube.count('PUT', 'secretsyncs')).toBe(0);
      lateProvider = new E2eProvider(path.join(late, 'e2e-provider.sock'));
      await lateProvider.start();
      await until(() => kube.object<Secret>('secrets', NS, 'sse2esecret') !== undefined);
      const ss = kube.object<SecretSync>('secretsyncs', NS, 'sse2esecret');
      expect(ss?.status?.conditions?.map((cond) => [cond.type, cond.status])).toEqual([
        ['SecretCreated', 'True'],
        ['SecretUpdated', 'True'],
      ]);
      // A first sync's two status writes (the initial conditions, then the result), as SSC's.
      expect(kube.count('PUT', 'secretsyncs')).toBe(2);
    });

    it('leads without it after the wait: a provider that never comes keeps no SecretSync from syncing', async () => {
      const kube = new FakeKube();
      kube.put('secretproviderclasses', secretProviderClass());
      kube.put('secretproviderclasses', secretProviderClass({ name: 'missing', provider: 'not-installed' }));
      kube.put(
        'secretsyncs',
        secretSync({ name: 'broken', uid: 'uid-broken', secretProviderClassName: 'missing' }),
      );
      kube.put('secretsyncs', secretSync());
      const c = start(kube, 'pod-c_3', { providerSocketsWaitMs: 300 });
      await sleep(150);
      expect(kube.objects('leases')).toEqual([]);
      await until(() => c.controller.leading(), 3_000);
      await until(() => kube.object<Secret>('secrets', NS, 'sse2esecret') !== undefined);
      await until(
        () =>
          kube.object<SecretSync>('secretsyncs', NS, 'broken')?.status?.conditions?.[0]?.status === 'False',
      );
      expect(c.lines.join('\n')).toContain('going on without these providers');
    });
  });
});
