// The node server's publishes and unpublishes end to end through its parts (target paths, filling,
// rotation), with small fakes behind its narrow interfaces: which path a call takes, what it leaves,
// and how its outcome is recorded. The parts have their own tests beside them; the lab tests run
// the same paths against real mounts, a real provider socket and a real API server.
import type { CoreEvent, EventRecorder, SecretProviderClass } from '@sscsi/common';
import { CorrelatingEventRecorder, KubeApiError, ProviderCallError, Status } from '@sscsi/common';
import { FakeKube, silentLogger, until } from '@sscsi/common/testing';
import type { NodePublishVolumeRequest } from '@sscsi/proto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';

import { DriverError } from '../errors';
import { DriverMetrics } from '../metrics';
import { FakeMounter } from '../testing/fake-mounter';
import { FakePodStatus } from '../testing/fake-pod-status';
import { FakeProvider } from '../testing/fake-provider';
import { mountCapability, MY_DB_CLASS, publishRequest } from '../testing/publish-requests';
import { NodeServer } from './node-server';
import { Attr } from './publish-request';

const spc = MY_DB_CLASS;

describe('NodeServer', () => {
  let root: string;
  let target: string;
  let clock: number;
  let mounter: FakeMounter;
  let provider: FakeProvider;
  let status: FakePodStatus;
  let events: Array<{ type: string; reason: string; message: string }>;
  let registry: Registry;
  let metrics: DriverMetrics;

  let classes: (ns: string, name: string) => Promise<SecretProviderClass | undefined>;

  const logger = silentLogger();
  const recordingEvents: EventRecorder = {
    record: (_object, type, reason, message) => events.push({ type, reason, message }),
  };

  let updated: string[];
  const server = (rotationEnabled: boolean, eventRecorder = recordingEvents) =>
    new NodeServer({
      nodeId: 'node-1',
      rotationEnabled,
      rotationPollIntervalMs: 60_000,
      mounter,
      providers: provider,
      classes: { get: (ns, name) => classes(ns, name) },
      podStatus: status,
      events: eventRecorder,
      metrics,
      logger,
      volumeUpdated: (v) => updated.push(`${v.pod.namespace}/${v.pod.name}/${v.spcName}`),
      now: () => clock,
    });

  const request = (overrides: Partial<NodePublishVolumeRequest> = {}) => publishRequest(target, overrides);

  const metric = async (name: string) =>
    (await registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#'));

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-server-'));
    target = path.join(root, 'pods', 'uid-1', 'volumes', 'kubernetes.io~csi', 'secrets', 'mount');
    clock = 1_000_000;
    mounter = new FakeMounter();
    provider = new FakeProvider();
    status = new FakePodStatus();
    events = [];
    updated = [];
    registry = new Registry();
    metrics = new DriverMetrics(registry);
    classes = async (ns, name) => (ns === 'default' && name === 'my-db-secret' ? spc : undefined);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('mounts, asks the provider with the class parameters overlaid by the pod attributes, writes, records', async () => {
    await server(false).publishVolume(request());
    expect(mounter.mounted.has(target)).toBe(true);
    expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('secret-v1');
    const attributes = JSON.parse(provider.calls[0]?.attributes ?? '{}') as Record<string, string>;
    expect(attributes.objects).toBe('- objectName: MyDBSecret');
    expect(attributes.region).toBe('from-pod');
    expect(attributes[Attr.serviceAccountTokens]).toContain('sts.amazonaws.com');
    expect(provider.calls[0]?.permission).toBe('420');
    expect(provider.calls[0]?.secrets).toBe('null');
    expect(status.records[0]).toMatchObject({
      podName: 'sample-app',
      namespace: 'default',
      secretProviderClassName: 'my-db-secret',
      nodeId: 'node-1',
      objects: [{ id: 'MyDBSecret', version: '1' }],
    });
    expect(await metric('node_publish_total')).toEqual([
      'node_publish_total{provider="aws",os_type="linux"} 1',
    ]);
  });

  it('unmounts and removes the folder when the provider fails on a first publish', async () => {
    provider.failure = new ProviderCallError('CallFailed', 'provider "aws": AccessDeniedException', {
      code: Status.PERMISSION_DENIED,
    });
    const err = (await server(false)
      .publishVolume(request())
      .catch((e: unknown) => e)) as DriverError;
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.message).toMatch(
      /failed to mount secrets store objects for pod default\/sample-app: .*AccessDeniedException/,
    );
    expect(mounter.mounted.size).toBe(0);
    expect(fs.existsSync(target)).toBe(false);
    expect(status.records).toHaveLength(0);
    expect(await metric('node_publish_error_total')).toEqual([
      'node_publish_error_total{provider="aws",error_type="GRPCProviderError",os_type="linux"} 1',
    ]);
  });

  it('fails with NOT_FOUND for a class missing from the pod namespace, before mounting', async () => {
    const req = request();
    req.volumeContext[Attr.secretProviderClass] = 'other';
    const err = (await server(false)
      .publishVolume(req)
      .catch((e: unknown) => e)) as DriverError;
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.message).toContain('SecretProviderClass "other" not found in namespace "default"');
    // Upstream's words, which its e2e suite and users' alerts grep the FailedMount event for.
    expect(err.message).toMatch(/^failed to get secretproviderclass default\/other, error: .*not found/);
    expect(mounter.mounted.size).toBe(0);
    expect(provider.calls).toHaveLength(0);
  });

  it('treats a republish without rotation as a no-op', async () => {
    const s = server(false);
    await s.publishVolume(request());
    clock += 3_600_000;
    await s.publishVolume(request());
    expect(provider.calls).toHaveLength(1);
  });

  it('calls the provider at most once per poll interval and passes the current versions', async () => {
    const s = server(true);
    await s.publishVolume(request());
    clock += 30_000;
    await s.publishVolume(request());
    expect(provider.calls).toHaveLength(1);
    clock += 30_000;
    provider.version = '2';
    provider.value = 'secret-v2';
    await s.publishVolume(request());
    expect(provider.calls).toHaveLength(2);
    expect(provider.calls[1]?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '1' }]);
    expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('secret-v2');
    expect(status.records.at(-1)?.objects).toEqual([{ id: 'MyDBSecret', version: '2' }]);
    expect(events).toEqual([expect.objectContaining({ type: 'Normal', reason: 'MountRotationComplete' })]);
    expect(await metric('rotation_reconcile_total')).toEqual([
      'rotation_reconcile_total{provider="aws",os_type="linux",rotated="true"} 1',
    ]);
  });

  it('neither rewrites nor records nor reports when nothing changed', async () => {
    const s = server(true);
    await s.publishVolume(request());
    clock += 60_000;
    await s.publishVolume(request());
    expect(provider.calls).toHaveLength(2);
    expect(status.records).toHaveLength(1);
    expect(events).toHaveLength(0);
  });

  it('keeps the old files and reports a warning when a republish fails', async () => {
    const s = server(true);
    await s.publishVolume(request());
    clock += 60_000;
    provider.failure = new ProviderCallError(
      'CallFailed',
      'provider "aws" is unavailable: connection refused',
    );
    await expect(s.publishVolume(request())).resolves.toBeUndefined();
    expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('secret-v1');
    expect(mounter.mounted.has(target)).toBe(true);
    expect(events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'MountRotationFailed' })]);
    expect(events[0]?.message).toContain('keeps its current files');
    expect(await metric('rotation_reconcile_error_total')).toHaveLength(1);
  });

  it('shows a rotation that keeps failing as one Event whose count grows, not an Event per poll', async () => {
    const kube = new FakeKube();
    const recorder = new CorrelatingEventRecorder(kube, {
      component: 'csi-secrets-store-rotation',
      host: 'node-1',
      logger,
    });
    const s = server(true, recorder);
    await s.publishVolume(request());
    provider.failure = new ProviderCallError(
      'CallFailed',
      'provider "aws" is unavailable: connection refused',
    );
    for (let poll = 0; poll < 10; poll++) {
      clock += 60_000;
      await expect(s.publishVolume(request())).resolves.toBeUndefined();
    }
    await recorder.flush();
    expect(provider.calls).toHaveLength(11);
    expect(kube.objects<CoreEvent>('events')).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'MountRotationFailed',
        count: 10,
        involvedObject: expect.objectContaining({ kind: 'Pod', name: 'sample-app', uid: 'uid-1' }),
        source: { component: 'csi-secrets-store-rotation', host: 'node-1' },
      }),
    ]);
  });

  it('tells the Secret sync when the contents changed: a publish, a rotation, not an unchanged poll', async () => {
    const s = server(true);
    await s.publishVolume(request());
    expect(updated).toEqual(['default/sample-app/my-db-secret']);
    clock += 60_000;
    await s.publishVolume(request());
    expect(updated).toHaveLength(1);
    clock += 60_000;
    provider.version = '2';
    provider.value = 'secret-v2';
    await s.publishVolume(request());
    expect(updated).toHaveLength(2);
    provider.failure = new ProviderCallError('CallFailed', 'provider "aws" is unavailable');
    clock += 60_000;
    await s.publishVolume(request());
    expect(updated).toHaveLength(2);
  });

  it('after a restart, takes the current versions from the recorded status', async () => {
    await server(true).publishVolume(request());
    const restarted = server(true);
    provider.version = '1';
    await restarted.publishVolume(request());
    expect(provider.calls[1]?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '1' }]);
    expect(events).toHaveLength(0);
  });

  it('unpublishes idempotently and leaves nothing', async () => {
    const s = server(false);
    await s.publishVolume(request());
    await s.unpublishVolume({ volumeId: 'vol-1', targetPath: target });
    expect(fs.existsSync(target)).toBe(false);
    expect(mounter.mounted.size).toBe(0);
    await s.unpublishVolume({ volumeId: 'vol-1', targetPath: target });
    expect(await metric('node_unpublish_total')).toEqual(['node_unpublish_total{os_type="linux"} 2']);
  });

  describe('metrics as upstream labels them', () => {
    it('counts every reconcile that asked the provider as rotated="true", and the changed ones apart', async () => {
      const s = server(true);
      await s.publishVolume(request());
      clock += 60_000;
      await s.publishVolume(request());
      clock += 60_000;
      provider.version = '2';
      provider.value = 'secret-v2';
      await s.publishVolume(request());
      expect(await metric('rotation_reconcile_total')).toEqual([
        'rotation_reconcile_total{provider="aws",os_type="linux",rotated="true"} 2',
      ]);
      expect(await metric('rotation_reconcile_changed_total')).toEqual([
        'rotation_reconcile_changed_total{provider="aws",os_type="linux"} 1',
      ]);
    });

    it('labels a failed rotation rotated="true" with the upstream error_type', async () => {
      const s = server(true);
      await s.publishVolume(request());
      clock += 60_000;
      provider.failure = new ProviderCallError('CallFailed', 'provider "aws" is unavailable');
      await s.publishVolume(request());
      expect(await metric('rotation_reconcile_error_total')).toEqual([
        'rotation_reconcile_error_total{provider="aws",os_type="linux",rotated="true",error_type="GRPCProviderError"} 1',
      ]);
    });

    it.each<[string, () => void, string, string, string]>([
      [
        'a class without parameters',
        () => {
          classes = async () => ({ ...spc, spec: { provider: 'aws', parameters: {} } });
        },
        '',
        'FailedToMount',
        'InvalidSecretProviderClass',
      ],
      [
        'a class the driver may not read',
        () => {
          classes = () =>
            Promise.reject(
              new KubeApiError('GET', '/apis/x', 403, 'Forbidden', 'secretproviderclasses is forbidden'),
            );
        },
        '',
        'SecretProviderClassNotFound',
        'FailedToReadSecretProviderClass',
      ],
      [
        'a pod status that cannot be recorded',
        () => {
          status.record = () => Promise.reject(new Error('etcd is full'));
        },
        'aws',
        'FailedToMount',
        'FailedToUpdateStatus',
      ],
    ])(
      'labels %s with an upstream error_type, and the detail in a metric of its own',
      async (_name, arrange, providerLabel, upstream, reason) => {
        arrange();
        await expect(server(false).publishVolume(request())).rejects.toBeInstanceOf(DriverError);
        expect(await metric('node_publish_error_total')).toEqual([
          `node_publish_error_total{provider="${providerLabel}",error_type="${upstream}",os_type="linux"} 1`,
        ]);
        expect(await metric('node_publish_error_reason_total')).toEqual([
          `node_publish_error_reason_total{provider="${providerLabel}",reason="${reason}",os_type="linux"} 1`,
        ]);
      },
    );
  });

  describe('a republish of a mounted volume that holds no files (a crash between mount and write)', () => {
    beforeEach(() => {
      fs.mkdirSync(target, { recursive: true });
      mounter.stack(target);
    });

    it.each([false, true])('fills it again (rotation %s)', async (rotation) => {
      await server(rotation).publishVolume(request());
      expect(provider.calls).toHaveLength(1);
      expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('secret-v1');
      expect(status.records.at(-1)?.objects).toEqual([{ id: 'MyDBSecret', version: '1' }]);
      expect(mounter.mounted.has(target)).toBe(true);
    });

    it('treats a payload folder without its ..data link as no files', async () => {
      fs.mkdirSync(path.join(target, '..2024_01_01_00_00_00.123'));
      fs.symlinkSync('..data/MyDBSecret', path.join(target, 'MyDBSecret'));
      await server(false).publishVolume(request());
      expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('secret-v1');
    });

    it('fails (so the kubelet retries) and keeps the mount when the provider fails', async () => {
      provider.failure = new ProviderCallError('CallFailed', 'provider "aws" is unavailable');
      const err = (await server(false)
        .publishVolume(request())
        .catch((e: unknown) => e)) as DriverError;
      expect(err.code).toBe(Status.UNAVAILABLE);
      expect(mounter.mounted.has(target)).toBe(true);
      expect(fs.readdirSync(target)).toEqual([]);
    });

    it('reports a missing class in the words of a first publish, keeping the mount', async () => {
      classes = async () => undefined;
      const err = (await server(false)
        .publishVolume(request())
        .catch((e: unknown) => e)) as DriverError;
      expect(err.code).toBe(Status.NOT_FOUND);
      expect(err.message).toMatch(/^failed to get secretproviderclass default\/my-db-secret, error: /);
      expect(mounter.mounted.has(target)).toBe(true);
      expect(provider.calls).toHaveLength(0);
    });

    it('leaves a volume with files alone when rotation is off', async () => {
      fs.writeFileSync(path.join(target, 'written-by-provider'), 'x');
      await server(false).publishVolume(request());
      expect(provider.calls).toHaveLength(0);
    });
  });

  describe('operations on one volume', () => {
    let release: () => void;
    beforeEach(() => {
      provider.hold = new Promise<void>((resolve) => (release = resolve));
    });
    afterEach(() => release());

    it('a publish waiting behind a hung publish gives up at its own deadline', async () => {
      const s = server(false);
      const first = s.publishVolume(request());
      await until(() => provider.calls.length === 1);
      const err = (await s
        .publishVolume(request(), new Date(Date.now() + 200))
        .catch((e: unknown) => e)) as DriverError;
      expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
      expect(err.message).toContain(`another operation on ${target} is still running`);
      expect(provider.calls).toHaveLength(1);
      release();
      await first;
    }, 10_000);

    it('an unpublish waiting behind a hung publish stops waiting when cancelled', async () => {
      const s = server(false);
      const first = s.publishVolume(request());
      await until(() => provider.calls.length === 1);
      const controller = new AbortController();
      const unpublish = s
        .unpublishVolume({ volumeId: 'vol-1', targetPath: target }, undefined, controller.signal)
        .catch((e: unknown) => e);
      controller.abort();
      const err = (await unpublish) as DriverError;
      expect(err.code).toBe(Status.CANCELLED);
      release();
      await first;
      expect(mounter.mounted.has(target)).toBe(true);
    }, 10_000);

    it('an unpublish racing a publish runs after it and leaves nothing', async () => {
      const s = server(false);
      const publish = s.publishVolume(request());
      await until(() => provider.calls.length === 1);
      const unpublish = s.unpublishVolume({ volumeId: 'vol-1', targetPath: target });
      release();
      await Promise.all([publish, unpublish]);
      expect(mounter.mounted.size).toBe(0);
      expect(fs.existsSync(target)).toBe(false);
    });

    it('a publish racing an unpublish mounts afresh after it', async () => {
      release();
      const s = server(false);
      await s.publishVolume(request());
      const unpublish = s.unpublishVolume({ volumeId: 'vol-1', targetPath: target });
      const publish = s.publishVolume(request());
      await Promise.all([unpublish, publish]);
      expect(mounter.mounted.has(target)).toBe(true);
      expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('secret-v1');
      expect(provider.calls).toHaveLength(2);
    });
  });

  describe('reading the SecretProviderClass fails', () => {
    it.each<[string, unknown, Status, RegExp]>([
      [
        'forbidden',
        new KubeApiError(
          'GET',
          '/apis/secrets-store.csi.x-k8s.io/v1/namespaces/default/secretproviderclasses/my-db-secret',
          403,
          'Forbidden',
          'the driver may not get it',
        ),
        Status.PERMISSION_DENIED,
        /cannot read SecretProviderClass "my-db-secret" in namespace "default": .*403 Forbidden/,
      ],
      [
        'throttled',
        new KubeApiError('GET', '/apis/x', 429, 'TooManyRequests', 'slow down'),
        Status.RESOURCE_EXHAUSTED,
        /cannot read SecretProviderClass "my-db-secret" in namespace "default": .*429/,
      ],
      [
        'an API server error',
        new KubeApiError('GET', '/apis/x', 500, 'InternalError', 'etcd timeout'),
        Status.UNAVAILABLE,
        /cannot read SecretProviderClass .*500 InternalError/,
      ],
      [
        'an unreachable API server',
        Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
        Status.UNAVAILABLE,
        /cannot read SecretProviderClass .*the API server is unreachable: connect ECONNREFUSED/,
      ],
    ])('%s: answers a code that says so, before mounting', async (_name, failure, code, message) => {
      classes = () => Promise.reject(failure);
      const err = (await server(false)
        .publishVolume(request())
        .catch((e: unknown) => e)) as DriverError;
      expect(err).toBeInstanceOf(DriverError);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
      expect(mounter.mounted.size).toBe(0);
      expect(fs.existsSync(target)).toBe(false);
    });
  });
  // Giving files to another group needs root (chown); the driver runs as root.
  (process.getuid?.() === 0 ? describe : describe.skip)('file ownership (fsGroup, fileGroup)', () => {
    const withFsGroup = (gid: string, volumeContext: Record<string, string> = {}) => {
      const req = request();
      req.volumeCapability = mountCapability(gid);
      Object.assign(req.volumeContext, volumeContext);
      return req;
    };
    const file = () => fs.statSync(path.join(target, 'MyDBSecret'));
    const sentAttributes = (i = 0) =>
      JSON.parse(provider.calls[i]?.attributes ?? '{}') as Record<string, string>;
    const useClass = (parameters: Record<string, string>) => {
      classes = async () => ({
        ...spc,
        spec: { ...spc.spec, parameters: { ...spc.spec.parameters, ...parameters } },
      });
    };

    it("gives the tmpfs and the files to the pod's fsGroup, with group read, and tells the provider", async () => {
      provider.mode = 0o400;
      await server(false).publishVolume(withFsGroup('2000'));
      expect(mounter.owners.get(target)).toEqual({ gid: 2000 });
      expect({ gid: file().gid, mode: file().mode & 0o777 }).toEqual({ gid: 2000, mode: 0o440 });
      expect(sentAttributes().fileGroup).toBe('2000');
      expect(provider.calls[0]?.permission).toBe('420');
    });

    it('without fsGroup or fileGroup, leaves files to root as upstream and says nothing to the provider', async () => {
      provider.mode = 0o400;
      await server(false).publishVolume(request());
      expect(mounter.owners.get(target)).toBeUndefined();
      expect({ gid: file().gid, mode: file().mode & 0o777 }).toEqual({ gid: 0, mode: 0o400 });
      expect(sentAttributes().fileGroup).toBeUndefined();
    });

    it("a class's fileGroup and defaultFilePermission win over fsGroup; a pod's fileGroup wins over the class's", async () => {
      useClass({ fileGroup: '3000', defaultFilePermission: '0440' });
      await server(false).publishVolume(withFsGroup('2000'));
      expect(mounter.owners.get(target)).toEqual({ gid: 3000 });
      expect(sentAttributes(0).fileGroup).toBe('3000');
      expect(provider.calls[0]?.permission).toBe(String(0o440));
      await server(false).unpublishVolume({ volumeId: 'vol-1', targetPath: target });

      await server(false).publishVolume(withFsGroup('2000', { fileGroup: '4000' }));
      expect(mounter.owners.get(target)).toEqual({ gid: 4000 });
      expect(file().gid).toBe(4000);
      expect(sentAttributes(1).fileGroup).toBe('4000');
    });

    it('keeps the group when rotation rewrites the files', async () => {
      provider.mode = 0o400;
      const s = server(true);
      await s.publishVolume(withFsGroup('2000'));
      clock += 60_000;
      provider.version = '2';
      provider.value = 'secret-v2';
      await s.publishVolume(withFsGroup('2000'));
      expect(fs.readFileSync(path.join(target, 'MyDBSecret'), 'utf8')).toBe('secret-v2');
      expect({ gid: file().gid, mode: file().mode & 0o777 }).toEqual({ gid: 2000, mode: 0o440 });
    });

    it.each([
      [
        { fileGroup: 'www-data' },
        'fileGroup must be a numeric group ID from 0 to 2147483647, got "www-data"',
      ],
      [{ fileGroup: '-1' }, 'fileGroup must be a numeric group ID from 0 to 2147483647, got "-1"'],
      [
        { defaultFilePermission: '0999' },
        'defaultFilePermission must be four octal digits from 0000 to 0777, such as "0440", got "0999"',
      ],
    ])('refuses a class with %j before mounting, naming the class', async (parameters, message) => {
      useClass(parameters);
      const err = (await server(false)
        .publishVolume(withFsGroup('2000'))
        .catch((e: unknown) => e)) as DriverError;
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.message).toContain(`SecretProviderClass default/my-db-secret: ${message}`);
      expect(mounter.mounted.size).toBe(0);
      expect(provider.calls).toHaveLength(0);
      expect(fs.existsSync(target)).toBe(false);
    });

    it("refuses a pod's bad fileGroup attribute as the pod's error, before mounting", async () => {
      const err = (await server(false)
        .publishVolume(withFsGroup('', { fileGroup: '1e3' }))
        .catch((e: unknown) => e)) as DriverError;
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.message).toBe(
        'volume attribute fileGroup must be a numeric group ID from 0 to 2147483647, got "1e3"',
      );
      expect(mounter.mounted.size).toBe(0);
      expect(fs.existsSync(target)).toBe(false);
    });
  });
});
