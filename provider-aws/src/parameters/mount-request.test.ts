import { FakeCluster, SYNC_CONTROLLER_POD, syncRequestFor } from '../testing/fake-cluster';
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

  it("reads fileGroup, and defaultFilePermission over the driver's permission", () => {
    expect(parseMountRequest(request(base))).toMatchObject({ fileGroup: undefined, defaultMode: 0o644 });
    expect(
      parseMountRequest(request({ ...base, fileGroup: '2000', defaultFilePermission: '0440' })),
    ).toMatchObject({ fileGroup: 2000, defaultMode: 0o440 });
    expect(parseMountRequest(request(base, { permission: String(0o400) })).defaultMode).toBe(0o400);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['attributes that are not JSON', {}, { attributes: '{' }, /attributes are not valid JSON/],
    ['a non-string attribute', { ...base, region: 3 }, {}, /attribute "region" must be a string/],
    ['no target path', base, { targetPath: '' }, /target path missing/],
    ['a relative target path', base, { targetPath: 'mount' }, /must be absolute/],
    ['a bad permission', base, { permission: '0644x' }, /decimal file mode/],
    [
      'a fileGroup that is not a number',
      { ...base, fileGroup: 'www-data' },
      {},
      /^fileGroup must be a numeric group ID from 0 to 2147483647, got "www-data"$/,
    ],
    [
      'a defaultFilePermission out of range',
      { ...base, defaultFilePermission: '1777' },
      {},
      /^defaultFilePermission must be four octal digits from 0000 to 0777, such as "0440", got "1777"$/,
    ],
    [
      'a missing pod namespace',
      { ...base, 'csi.storage.k8s.io/pod.namespace': '' },
      {},
      /podInfoOnMount: true/,
    ],
    ['a bad usePodIdentity', { ...base, usePodIdentity: 'yes' }, {}, /usePodIdentity must be true or false/],
    [
      'a region no AWS SDK can use',
      { ...base, region: 'evil.example/x' },
      {},
      /region "evil.example\/x" cannot be an AWS region: .*letters, digits and hyphens/,
    ],
    [
      'a failover region no AWS SDK can use',
      { ...base, failoverRegion: 'a b' },
      {},
      /failoverRegion "a b" cannot be an AWS region/,
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

  it('reads the pod uid when the driver sends it', () => {
    const input = parseMountRequest(request({ ...base, 'csi.storage.k8s.io/pod.uid': 'u-1' }));
    expect(input.pod.uid).toBe('u-1');
    expect(parseMountRequest(request(base)).pod.uid).toBeUndefined();
    expect(parseMountRequest(request(base)).warnings).toEqual([]);
  });

  it('takes an unknown preferredAddressType for auto, as upstream, with a warning', () => {
    const input = parseMountRequest(request({ ...base, preferredAddressType: 'ipv5' }));
    expect(input.preferredAddressType).toBe('auto');
    expect(input.warnings).toEqual([
      expect.stringMatching(/preferredAddressType "ipv5" is not ipv4, ipv6 or auto; auto is used/),
    ]);
  });

  it.each([
    ['a partition outside the usual shape', 'eusc-de-east-1', false],
    ['an ISO region', 'us-isob-east-1', false],
    ['a name for a local AWS-compatible endpoint', 'local', true],
    ['a typo', 'us-east1', true],
  ])('accepts %s as region, as upstream', (_what, region, warned) => {
    const input = parseMountRequest(
      request({ ...base, region, failoverRegion: region === 'local' ? 'other' : '' }),
    );
    expect(input.region).toBe(region);
    expect(input.warnings.some((w) => w.includes(`region "${region}" does not look like`))).toBe(warned);
  });

  it('collects the warnings of the objects too', () => {
    const input = parseMountRequest(
      request({ ...base, objects: '- {objectName: p, objectType: ssmparameter, objectVersion: latest}' }),
    );
    expect(input.warnings).toEqual([expect.stringMatching(/objectVersion "latest"/)]);
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

describe("parseMountRequest: the sync controller's request for a SecretSync", () => {
  const cluster = new FakeCluster();
  const sa = { namespace: 'team-a', serviceAccount: 'reader' };

  it('reads it as it is sent: the SecretSync namespace and ServiceAccount, a ServiceAccount request', () => {
    const input = parseMountRequest(syncRequestFor(cluster, sa));
    expect(input).toMatchObject({
      requester: 'serviceaccount',
      pod: { namespace: 'team-a', serviceAccount: 'reader', ...SYNC_CONTROLLER_POD },
      targetPath: '/mnt/secrets-store',
      defaultMode: 0o644,
      secretProviderClass: undefined,
      warnings: [],
    });
    expect(input.currentVersions.size).toBe(0);
  });

  it("reads a request with the kubelet's pod-bound token as a pod's, whatever else it says", () => {
    const podToken = cluster.token({ ...sa, name: 'reader-1', uid: 'u1' }, { audience: 'sts.amazonaws.com' });
    const input = parseMountRequest(
      syncRequestFor(cluster, sa, { tokens: { 'sts.amazonaws.com': podToken } }),
    );
    expect(input.requester).toBe('pod');
  });

  it('is told apart by the token of the identity mode, not by another audience', () => {
    const unbound = cluster.serviceAccountToken(sa, { audience: 'api' });
    const podToken = cluster.token({ ...sa, name: 'reader-1', uid: 'u1' }, { audience: 'sts.amazonaws.com' });
    const input = parseMountRequest(
      syncRequestFor(cluster, sa, { tokens: { api: unbound, 'sts.amazonaws.com': podToken } }),
    );
    expect(input.requester).toBe('pod');
  });

  it('refuses Pod Identity before the token goes anywhere, and says to use IRSA', () => {
    const req = syncRequestFor(cluster, sa, { usePodIdentity: true });
    expect(() => parseMountRequest(req)).toThrow(
      expect.objectContaining({
        reason: 'InvalidParameters',
        message: expect.stringMatching(
          /^usePodIdentity: EKS Pod Identity gives credentials only for a token bound to a pod, .*ServiceAccount team-a\/reader .*use IRSA for SecretSyncs.*eks\.amazonaws\.com\/role-arn.*--token-request-audience.*tokenRequestAudience/,
        ),
      }),
    );
  });

  it("takes Pod Identity for a pod's request as before", () => {
    const podToken = cluster.token(
      { ...sa, name: 'reader-1', uid: 'u1' },
      { audience: 'pods.eks.amazonaws.com' },
    );
    const req = syncRequestFor(cluster, sa, {
      usePodIdentity: true,
      tokens: { 'pods.eks.amazonaws.com': podToken },
    });
    expect(parseMountRequest(req)).toMatchObject({ requester: 'pod', usePodIdentity: true });
  });

  it("names the sync controller's flag and chart value when the token for the audience is missing", () => {
    const req = syncRequestFor(cluster, sa, { tokens: {} });
    expect(() => parseMountRequest(req)).toThrow(
      expect.objectContaining({
        reason: 'MissingToken',
        message: expect.stringMatching(
          /audience "sts.amazonaws.com".*the sync controller needs --token-request-audience=sts.amazonaws.com \(its chart's value tokenRequestAudience\)/,
        ),
      }),
    );
    const other = syncRequestFor(cluster, sa, {
      tokens: { api: cluster.serviceAccountToken(sa, { audience: 'api' }) },
    });
    expect(() => parseMountRequest(other)).toThrow(/--token-request-audience=sts.amazonaws.com/);
  });
});
