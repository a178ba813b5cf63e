// Filling a volume on its own: the class read and checked, what the provider is asked, what is
// written, when the pod status is recorded, and the reason each failure gets.
import type { SecretProviderClass } from '@sscsi/common';
import { KubeApiError, ProviderCallError, Status } from '@sscsi/common';
import { rejectionOf } from '@sscsi/common/testing';
import fs from 'node:fs';
import path from 'node:path';

import { DriverError } from '../errors';
import type { FakePodStatus } from '../testing/fake-pod-status';
import type { FakeProvider } from '../testing/fake-provider';
import { MY_DB_CLASS, publishRequest } from '../testing/publish-requests';
import { deadline, fillFromNothing, volumeFillerHarness } from '../testing/volume-filler-harness';
import { PhaseTimer } from './phase-timer';
import type { PublishRequest } from './publish-request';
import { Attr, parsePublishRequest } from './publish-request';
import type { VolumeFiller } from './volume-filler';

describe('VolumeFiller', () => {
  let root: string;
  let provider: FakeProvider;
  let status: FakePodStatus;
  let classes: () => Promise<SecretProviderClass | undefined>;
  let filler: VolumeFiller;
  let req: PublishRequest;

  const failure = (promise: Promise<unknown>) => rejectionOf(promise, DriverError);

  beforeEach(() => {
    classes = async () => MY_DB_CLASS;
    ({ root, provider, status, filler, req } = volumeFillerHarness(() => classes()));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  describe('classOf', () => {
    it('gives the class with its provider and what it decides for the files', async () => {
      const volumeClass = await filler.classOf(req);
      expect(volumeClass).toMatchObject({
        provider: 'aws',
        ownership: { defaultMode: 0o644, group: undefined },
      });
    });

    it.each<[string, () => Promise<SecretProviderClass | undefined>, object]>([
      [
        'a class missing from the namespace',
        async () => undefined,
        {
          reason: 'SecretProviderClassNotFound',
          code: Status.NOT_FOUND,
          message: expect.stringMatching(
            /^failed to get secretproviderclass default\/my-db-secret, error: SecretProviderClass "my-db-secret" not found/,
          ),
        },
      ],
      [
        'a class the driver may not read',
        () => Promise.reject(new KubeApiError('GET', '/apis/x', 403, 'Forbidden', 'no')),
        { reason: 'FailedToReadSecretProviderClass', code: Status.PERMISSION_DENIED },
      ],
      [
        'a class without parameters',
        async () => ({ ...MY_DB_CLASS, spec: { provider: 'aws', parameters: {} } }),
        {
          reason: 'InvalidSecretProviderClass',
          code: Status.INVALID_ARGUMENT,
          message: 'SecretProviderClass default/my-db-secret has no spec.parameters',
        },
      ],
    ])('refuses %s', async (_what, read, expected) => {
      classes = read;
      expect(await failure(filler.classOf(req))).toMatchObject(expected);
    });
  });

  describe('fill', () => {
    it('asks the provider with the class parameters overlaid by the pod, writes the files, records the status', async () => {
      const timer = new PhaseTimer();
      const filled = await filler.fill(req, await filler.classOf(req), undefined, deadline(), timer);
      expect(filled).toEqual({ objects: [{ id: 'MyDBSecret', version: '1' }], changed: true });
      const call = provider.calls[0];
      expect(JSON.parse(call?.attributes ?? '{}')).toMatchObject({
        objects: '- objectName: MyDBSecret',
        region: 'from-pod',
        [Attr.podName]: 'sample-app',
        [Attr.serviceAccountTokens]: '{"sts.amazonaws.com":{"token":"tok"}}',
      });
      expect(call).toMatchObject({
        secrets: 'null',
        targetPath: root,
        permission: '420',
        currentObjectVersion: [],
      });
      expect(fs.readFileSync(path.join(root, 'MyDBSecret'), 'utf8')).toBe('secret-v1');
      expect(status.records).toEqual([
        {
          podName: 'sample-app',
          podUid: 'uid-1',
          namespace: 'default',
          secretProviderClassName: 'my-db-secret',
          targetPath: root,
          nodeId: 'node-1',
          objects: [{ id: 'MyDBSecret', version: '1' }],
        },
      ]);
      expect(Object.keys(timer.phases())).toEqual(['providerMs', 'writeMs', 'statusMs']);
    });

    it("sends the pod's nodePublishSecretRef secrets as JSON", async () => {
      req = parsePublishRequest(publishRequest(root, { secrets: { key: 'value' } }));
      await fillFromNothing(filler, req);
      expect(provider.calls[0]?.secrets).toBe('{"key":"value"}');
    });

    it('sends the versions the volume holds, and neither records nor reports a change when nothing changed', async () => {
      const volumeClass = await filler.classOf(req);
      const first = await filler.fill(req, volumeClass, undefined, deadline(), new PhaseTimer());
      const again = await filler.fill(req, volumeClass, first.objects, deadline(), new PhaseTimer());
      expect(provider.calls[1]?.currentObjectVersion).toEqual([{ id: 'MyDBSecret', version: '1' }]);
      expect(again.changed).toBe(false);
      expect(status.records).toHaveLength(1);
    });

    it('reports new versions with new files as a change, and records them', async () => {
      const volumeClass = await filler.classOf(req);
      const first = await filler.fill(req, volumeClass, undefined, deadline(), new PhaseTimer());
      provider.version = '2';
      provider.value = 'secret-v2';
      const again = await filler.fill(req, volumeClass, first.objects, deadline(), new PhaseTimer());
      expect(again).toEqual({ objects: [{ id: 'MyDBSecret', version: '2' }], changed: true });
      expect(fs.readFileSync(path.join(root, 'MyDBSecret'), 'utf8')).toBe('secret-v2');
      expect(status.records.at(-1)?.objects).toEqual([{ id: 'MyDBSecret', version: '2' }]);
    });

    it('judges a provider that writes the files itself by the versions it reports', async () => {
      provider.writesFilesItself = true;
      const volumeClass = await filler.classOf(req);
      const held = [{ id: 'MyDBSecret', version: '1' }];
      expect((await filler.fill(req, volumeClass, held, deadline(), new PhaseTimer())).changed).toBe(false);
      provider.version = '2';
      expect((await filler.fill(req, volumeClass, held, deadline(), new PhaseTimer())).changed).toBe(true);
      expect(fs.readdirSync(root)).toEqual([]);
      expect(status.records).toHaveLength(1);
    });

    it.each<[string, ProviderCallError, object]>([
      [
        'no socket for the provider',
        new ProviderCallError('ProviderNotFound', 'provider "aws" not found: no aws.sock in /provider'),
        {
          reason: 'FailedToLookupProviderGRPCClient',
          code: Status.UNAVAILABLE,
          errorType: 'FailedToLookupProviderGRPCClient',
        },
      ],
      [
        "the provider's own error code",
        new ProviderCallError(
          'ProviderError',
          'provider "aws" failed to mount the objects: error code AccessDenied',
          {
            providerCode: 'AccessDenied',
          },
        ),
        { reason: 'ProviderError', code: Status.INTERNAL, errorType: 'AccessDenied' },
      ],
      [
        'a failed call',
        new ProviderCallError('CallFailed', 'provider "aws": AccessDeniedException', {
          code: Status.PERMISSION_DENIED,
        }),
        { reason: 'GRPCProviderError', code: Status.PERMISSION_DENIED, errorType: 'GRPCProviderError' },
      ],
    ])('gives %s the driver reason, keeping the message', async (_what, err, expected) => {
      provider.failure = err;
      expect(await failure(fillFromNothing(filler, req))).toMatchObject({
        ...expected,
        message: err.message,
      });
      expect(status.records).toEqual([]);
    });

    it('refuses a file that would leave the volume, writing nothing', async () => {
      provider.mount = async () => ({
        objects: [{ id: 'x', version: '1' }],
        files: [{ path: '../escape', mode: 0o644, contents: Buffer.from('x') }],
      });
      expect(await failure(fillFromNothing(filler, req))).toMatchObject({
        reason: 'FileWriteError',
        message: expect.stringMatching(/^the provider sent an invalid file: /),
      });
      expect(fs.readdirSync(root)).toEqual([]);
      expect(fs.existsSync(path.join(root, '..', 'escape'))).toBe(false);
      expect(status.records).toEqual([]);
    });

    it('fails with FailedToUpdateStatus, with the code of the API answer, when the status cannot be recorded', async () => {
      status.record = () =>
        Promise.reject(new KubeApiError('POST', '/apis/x', 403, 'Forbidden', 'cannot create'));
      expect(await failure(fillFromNothing(filler, req))).toMatchObject({
        reason: 'FailedToUpdateStatus',
        code: Status.PERMISSION_DENIED,
        message: expect.stringMatching(/^failed to record SecretProviderClassPodStatus: .*403 Forbidden/),
      });
    });
  });
});
