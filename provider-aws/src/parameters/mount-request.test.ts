import { MountError } from '../errors';
import { parseMountRequest } from './mount-request';

const tokens = JSON.stringify({
  'sts.amazonaws.com': { token: 'a.b.c' },
  'pods.eks.amazonaws.com': { token: 'd.e.f' },
});
const base = {
  'csi.storage.k8s.io/pod.name': 'app',
  'csi.storage.k8s.io/pod.namespace': 'default',
  'csi.storage.k8s.io/serviceAccount.name': 'sa',
  'csi.storage.k8s.io/serviceAccount.tokens': tokens,
  objects: '- {objectName: MyDBSecret, objectType: secretsmanager}',
};
const request = (attributes: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
  attributes: JSON.stringify(attributes),
  secrets: 'null',
  targetPath: '/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/v/mount',
  permission: '420',
  currentObjectVersion: [{ id: 'MyDBSecret', version: 'v1' }],
  ...over,
});

describe('parseMountRequest', () => {
  it('reads the pod, the mode, the versions and the tokens', () => {
    const input = parseMountRequest(
      request({ ...base, region: 'eu-west-1', usePodIdentity: 'FALSE', preferredAddressType: 'IPv6' }),
    );
    expect(input.pod).toEqual({ namespace: 'default', name: 'app', serviceAccount: 'sa' });
    expect(input.defaultMode).toBe(0o644);
    expect(input.region).toBe('eu-west-1');
    expect(input.usePodIdentity).toBe(false);
    expect(input.preferredAddressType).toBe('ipv6');
    expect(input.currentVersions.get('MyDBSecret')).toBe('v1');
    expect(input.tokens.get('sts.amazonaws.com')).toBe('a.b.c');
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['attributes that are not JSON', {}, { attributes: '{' }, /attributes are not valid JSON/],
    ['a non-string attribute', { ...base, region: 3 }, {}, /attribute "region" must be a string/],
    ['no target path', base, { targetPath: '' }, /target path missing/],
    ['a relative target path', base, { targetPath: 'mount' }, /must be absolute/],
    ['a bad permission', base, { permission: '0644x' }, /decimal file mode/],
    [
      'a missing pod namespace',
      { ...base, 'csi.storage.k8s.io/pod.namespace': '' },
      {},
      /podInfoOnMount: true/,
    ],
    ['a bad usePodIdentity', { ...base, usePodIdentity: 'yes' }, {}, /usePodIdentity must be true or false/],
    [
      'a bad preferredAddressType',
      { ...base, preferredAddressType: 'ipv5' },
      {},
      /preferredAddressType must be ipv4, ipv6 or auto/,
    ],
    [
      'the same failover region',
      { ...base, region: 'us-east-1', failoverRegion: 'us-east-1' },
      {},
      /failoverRegion must differ/,
    ],
    [
      'no IRSA token',
      { ...base, 'csi.storage.k8s.io/serviceAccount.tokens': '{}' },
      {},
      /tokenRequests with audience "sts.amazonaws.com"/,
    ],
    [
      'no Pod Identity token',
      {
        ...base,
        usePodIdentity: 'true',
        'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ 'sts.amazonaws.com': { token: 'x' } }),
      },
      {},
      /audience "pods.eks.amazonaws.com"/,
    ],
    ['bad objects', { ...base, objects: '- {objectName: x}' }, {}, /objectType is required/],
  ])('rejects %s before any call', (_name, attributes, over, message) => {
    const req = request(attributes, over);
    expect(() => parseMountRequest(req)).toThrow(MountError);
    expect(() => parseMountRequest(req)).toThrow(message);
  });

  it('never puts a token in an error', () => {
    expect.assertions(1);
    try {
      parseMountRequest(request({ ...base, objects: 'x: [' }));
    } catch (err) {
      expect((err as Error).message).not.toContain('a.b.c');
    }
  });
});
