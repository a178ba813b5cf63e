import type { NodePublishVolumeRequest } from '@sscsi/proto';
import { Status } from '@sscsi/common';
import { thrownBy } from '@sscsi/common/testing';

import { DriverError } from '../errors';
import { mountCapability, publishRequest } from '../testing/publish-requests';
import { Attr, parsePublishRequest, parseUnpublishRequest } from './publish-request';

const valid = (): NodePublishVolumeRequest =>
  publishRequest('/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/secrets/mount');

const rejection = (req: NodePublishVolumeRequest) => thrownBy(() => parsePublishRequest(req), DriverError);

describe('parsePublishRequest', () => {
  it("reads the pod's fsGroup from volume_mount_group, and none when it is empty", () => {
    const req = valid();
    expect(parsePublishRequest(req).volumeMountGroup).toBeUndefined();
    req.volumeCapability = mountCapability('2000');
    expect(parsePublishRequest(req).volumeMountGroup).toBe(2000);
  });

  it.each(['staff', '-5', '4294967296'])('refuses volume_mount_group %j as an invalid argument', (gid) => {
    const req = valid();
    req.volumeCapability = mountCapability(gid);
    const err = rejection(req);
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toBe(
      `volume_mount_group (the pod's fsGroup) must be a numeric group ID from 0 to 2147483647, got "${gid}"`,
    );
  });

  it('parses what the kubelet sends', () => {
    const parsed = parsePublishRequest(valid());
    expect(parsed.spcName).toBe('my-db-secret');
    expect(parsed.pod).toEqual({ name: 'sample-app', namespace: 'default', uid: 'uid-1' });
    expect(parsed.serviceAccountTokens).toBe('{"sts.amazonaws.com":{"token":"tok"}}');
  });

  it('prefers tokens from secrets (Kubernetes 1.35 serviceAccountTokenInSecrets) and keeps them out of secrets', () => {
    const req = valid();
    req.secrets = { [Attr.serviceAccountTokens]: '{"from":"secrets"}', other: 'v' };
    const parsed = parsePublishRequest(req);
    expect(parsed.serviceAccountTokens).toBe('{"from":"secrets"}');
    expect(parsed.secrets).toEqual({ other: 'v' });
  });

  it.each<[string, (r: NodePublishVolumeRequest) => void, RegExp]>([
    ['no volume capability', (r) => (r.volumeCapability = null), /volume capability missing/],
    ['no volume id', (r) => (r.volumeId = ''), /volume ID missing/],
    ['no target path', (r) => (r.targetPath = ''), /target path missing/],
    ['a relative target path', (r) => (r.targetPath = 'pods/x/mount'), /not absolute/],
    ['an unclean target path', (r) => (r.targetPath = '/var/lib/../etc'), /not a clean path/],
    ['no volume context', (r) => (r.volumeContext = {}), /volume attributes missing/],
    ['a read-write mount', (r) => (r.readonly = false), /readonly is not true/],
    [
      'no secretProviderClass',
      (r) => delete r.volumeContext[Attr.secretProviderClass],
      /secretProviderClass is missing/,
    ],
    ['no pod namespace', (r) => delete r.volumeContext[Attr.podNamespace], /pod\.namespace.*podInfoOnMount/],
    [
      'a block volume',
      (r) =>
        (r.volumeCapability = {
          block: {},
          accessMode: { mode: 'SINGLE_NODE_READER_ONLY' },
          accessType: 'block',
        }),
      /block volumes are not supported/,
    ],
  ])('rejects %s with INVALID_ARGUMENT', (_name, mutate, message) => {
    const req = valid();
    mutate(req);
    const err = rejection(req);
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('"token"');
  });
});

describe('parseUnpublishRequest', () => {
  it('requires a volume id and an absolute target path', () => {
    expect(() => parseUnpublishRequest({ volumeId: '', targetPath: '/x' })).toThrow(/volume ID missing/);
    expect(() => parseUnpublishRequest({ volumeId: 'v', targetPath: '' })).toThrow(/target path missing/);
    expect(parseUnpublishRequest({ volumeId: 'v', targetPath: '/x/mount/' }).targetPath).toBe('/x/mount');
  });
});
