// Rotation on its own: when the provider is asked again, with which versions, and what a change or
// a failure leaves (files, status, Events, metrics, the outcome the node server records).
import type { EventRecorder, SecretProviderClass } from '@sscsi/common';
import { KubeApiError, ProviderCallError, Status } from '@sscsi/common';
import { silentLogger } from '@sscsi/common/testing';
import fs from 'node:fs';
import path from 'node:path';

import type { FakePodStatus } from '../testing/fake-pod-status';
import type { FakeProvider } from '../testing/fake-provider';
import { MY_DB_CLASS, publishRequest } from '../testing/publish-requests';
import { deadline, fillFromNothing, volumeFillerHarness } from '../testing/volume-filler-harness';
import type { PublishRequest } from './publish-request';
import { parsePublishRequest } from './publish-request';
import { RotationReconciler } from './rotation-reconciler';
import type { VolumeFiller } from './volume-filler';

const POLL_MS = 60_000;

describe('RotationReconciler', () => {
  let root: string;
  let clock: number;
  let provider: FakeProvider;
  let status: FakePodStatus;
  let classes: () => Promise<SecretProviderClass | undefined>;
  let events: Array<{ object: string; type: string; reason: string; message: string }>;
  let metrics: { reconciled: Array<[string, boolean]>; failed: Array<[string, string]> };
  let filler: VolumeFiller;
  let req: PublishRequest;

  const recorder: EventRecorder = {
    record: (object, type, reason, message) =>
      events.push({ object: `${object.kind} ${object.namespace}/${object.name}`, type, reason, message }),
  };
  const reconciler = (enabled = true) =>
    new RotationReconciler({
      enabled,
      pollIntervalMs: POLL_MS,
      filler,
      podStatus: status,
      events: recorder,
      metrics: {
        rotationReconciled: (p, changed) => metrics.reconciled.push([p, changed]),
        rotationFailed: (p, errorType) => metrics.failed.push([p, errorType]),
      },
      logger: silentLogger(),
      now: () => clock,
    });

  /** A first publish: files written, status recorded, and the reconciler told. */
  async function published(rotation: RotationReconciler, request = req): Promise<void> {
    const filled = await fillFromNothing(filler, request);
    rotation.filled(request.targetPath, 'aws', filled.objects);
  }

  beforeEach(() => {
    clock = 1_000_000;
    classes = async () => MY_DB_CLASS;
    events = [];
    metrics = { reconciled: [], failed: [] };
    ({ root, provider, status, filler, req } = volumeFillerHarness(() => classes()));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('asks nothing when rotation is off', async () => {
    const rotation = reconciler(false);
    await published(rotation);
    clock += 10 * POLL_MS;
    expect(await rotation.republish(req, deadline())).toEqual({
      result: 'republished',
      provider: 'aws',
      rotated: false,
    });
    expect(provider.calls).toHaveLength(1);
    expect(metrics.reconciled).toEqual([]);
  });

  it('asks the provider at most once per poll interval, with the versions the volume holds', async () => {
    const rotation = reconciler();
    await published(rotation);
    clock += POLL_MS - 1;
    await rotation.republish(req, deadline());
    expect(provider.calls).toHaveLength(1);
    clock += 1;
    await rotation.republish(req, deadline());
    expect(provider.calls).toHaveLength(2);
    expect(provider.calls[1]?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '1' }]);
  });

  it('measures the poll interval on the monotonic clock: a wall clock stepped back puts no poll off', async () => {
    // Only Date is faked: the wall clock the test steps.
    jest.useFakeTimers({
      now: Date.now(),
      doNotFake: ['performance', 'hrtime', 'nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'],
      advanceTimers: true,
    });
    try {
      const rotation = new RotationReconciler({
        enabled: true,
        pollIntervalMs: 50,
        filler,
        podStatus: status,
        events: recorder,
        metrics: { rotationReconciled: () => undefined, rotationFailed: () => undefined },
        logger: silentLogger(),
      });
      await published(rotation);
      const waited = performance.now();
      while (performance.now() - waited < 60) await new Promise((resolve) => setImmediate(resolve));
      jest.setSystemTime(Date.now() - 45_000);
      await rotation.republish(req, deadline());
      expect(provider.calls).toHaveLength(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('swaps new contents in, records the status, and reports them as an Event and a metric', async () => {
    const rotation = reconciler();
    await published(rotation);
    clock += POLL_MS;
    provider.version = '2';
    provider.value = 'secret-v2';
    expect(await rotation.republish(req, deadline())).toEqual({
      result: 'republished',
      provider: 'aws',
      rotated: true,
    });
    expect(fs.readFileSync(path.join(root, 'MyDBSecret'), 'utf8')).toBe('secret-v2');
    expect(status.records.at(-1)?.objects).toEqual([{ id: 'MyDBSecret', version: '2' }]);
    expect(events).toEqual([
      {
        object: 'Pod default/sample-app',
        type: 'Normal',
        reason: 'MountRotationComplete',
        message: 'successfully rotated mounted contents of SecretProviderClass default/my-db-secret',
      },
    ]);
    expect(metrics.reconciled).toEqual([['aws', true]]);
    // The next poll starts from the new versions.
    clock += POLL_MS;
    await rotation.republish(req, deadline());
    expect(provider.calls.at(-1)?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '2' }]);
  });

  it('counts an unchanged poll without an Event or a status write', async () => {
    const rotation = reconciler();
    await published(rotation);
    clock += POLL_MS;
    expect(await rotation.republish(req, deadline())).toMatchObject({ rotated: false });
    expect(events).toEqual([]);
    expect(status.records).toHaveLength(1);
    expect(metrics.reconciled).toEqual([['aws', false]]);
  });

  it('keeps the files when the provider fails, says so in an Event, and asks again only next interval', async () => {
    const rotation = reconciler();
    await published(rotation);
    clock += POLL_MS;
    provider.failure = new ProviderCallError(
      'CallFailed',
      'provider "aws" is unavailable: connection refused',
    );
    const outcome = await rotation.republish(req, deadline());
    expect(outcome).toMatchObject({
      result: 'kept',
      provider: 'aws',
      error: { reason: 'GRPCProviderError', code: Status.UNAVAILABLE },
    });
    expect(fs.readFileSync(path.join(root, 'MyDBSecret'), 'utf8')).toBe('secret-v1');
    expect(events).toEqual([
      {
        object: 'Pod default/sample-app',
        type: 'Warning',
        reason: 'MountRotationFailed',
        message:
          'failed to refresh the mounted contents of SecretProviderClass default/my-db-secret; the pod keeps its current files: provider "aws" is unavailable: connection refused',
      },
    ]);
    expect(metrics.failed).toEqual([['aws', 'GRPCProviderError']]);
    await rotation.republish(req, deadline());
    expect(provider.calls).toHaveLength(2);
    // Once it recovers, the poll after the failure still sends the versions the volume holds.
    provider.failure = undefined;
    clock += POLL_MS;
    await rotation.republish(req, deadline());
    expect(provider.calls.at(-1)?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '1' }]);
  });

  it("labels a class that can no longer be read with the volume's provider", async () => {
    const rotation = reconciler();
    await published(rotation);
    clock += POLL_MS;
    classes = () => Promise.reject(new KubeApiError('GET', '/apis/x', 500, 'InternalError', 'etcd'));
    expect(await rotation.republish(req, deadline())).toMatchObject({
      result: 'kept',
      provider: 'aws',
      error: { reason: 'FailedToReadSecretProviderClass' },
    });
    expect(metrics.failed).toEqual([['aws', 'SecretProviderClassNotFound']]);
    expect(provider.calls).toHaveLength(1);
  });

  describe('a volume it does not know (the driver restarted, or the volume was forgotten)', () => {
    it('asks at once, with the versions recorded in the pod status', async () => {
      await published(reconciler());
      const restarted = reconciler();
      expect(await restarted.republish(req, deadline())).toMatchObject({ rotated: false });
      expect(provider.calls[1]?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '1' }]);
      expect(events).toEqual([]);
    });

    it('sends no versions and records the status when the recorded ones cannot be read', async () => {
      await published(reconciler());
      status.objects = () => Promise.reject(new Error('etcd is away'));
      const restarted = reconciler();
      await restarted.republish(req, deadline());
      expect(provider.calls[1]?.currentObjectVersion).toEqual([]);
      expect(status.records).toHaveLength(2);
    });

    it('forgets an unpublished volume: a new one at that path starts from its status', async () => {
      const rotation = reconciler();
      await published(rotation);
      rotation.forget(req.targetPath);
      let read = 0;
      status.objects = async () => (read++, [{ id: 'MyDBSecret', version: '1' }]);
      await rotation.republish(req, deadline());
      expect(read).toBe(1);
      expect(provider.calls).toHaveLength(2);
    });
  });

  it('keeps the versions and poll times of volumes apart', async () => {
    const rotation = reconciler();
    const other = parsePublishRequest(publishRequest(path.join(root, 'other')));
    fs.mkdirSync(other.targetPath);
    await published(rotation);
    clock += POLL_MS / 2;
    provider.version = '2';
    await published(rotation, other);
    clock += POLL_MS / 2;
    await Promise.all([rotation.republish(req, deadline()), rotation.republish(other, deadline())]);
    // Only the first volume's interval has passed; it still holds version 1.
    expect(provider.calls).toHaveLength(3);
    expect(provider.calls[2]?.targetPath).toBe(req.targetPath);
    expect(provider.calls[2]?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '1' }]);
  });
});
