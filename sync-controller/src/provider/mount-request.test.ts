import { mountAttributes, mountCall } from './mount-request';

const E2E_OBJECTS = 'array:\n  - |\n    objectName: foo\n    objectVersion: v1\n';

describe('the Mount request', () => {
  it("sends upstream's attributes for the e2e class, byte for byte", () => {
    expect(
      mountAttributes({
        parameters: { objects: E2E_OBJECTS },
        pod: { name: 'secrets-store-sync-controller-manager-abc', uid: 'pod-uid-1' },
        namespace: 'test-v1alpha1',
        serviceAccountName: 'default',
        tokens: undefined,
      }),
    ).toBe(
      '{"csi.storage.k8s.io/pod.name":"secrets-store-sync-controller-manager-abc","csi.storage.k8s.io/pod.namespace":"test-v1alpha1","csi.storage.k8s.io/pod.uid":"pod-uid-1","csi.storage.k8s.io/serviceAccount.name":"default","objects":"array:\\n  - |\\n    objectName: foo\\n    objectVersion: v1\\n"}',
    );
  });

  it("lets our attributes win over the class's, and adds the tokens only when there are any", () => {
    const attributes = (tokens: string | undefined) =>
      JSON.parse(
        mountAttributes({
          parameters: {
            'csi.storage.k8s.io/pod.namespace': 'spoofed',
            'csi.storage.k8s.io/serviceAccount.tokens': 'from-the-class',
            region: 'eu-west-1',
          },
          pod: { name: '', uid: '' },
          namespace: 'ns',
          serviceAccountName: 'app',
          tokens,
        }),
      ) as Record<string, string>;
    expect(attributes(undefined)).toEqual({
      'csi.storage.k8s.io/pod.name': '',
      'csi.storage.k8s.io/pod.uid': '',
      'csi.storage.k8s.io/pod.namespace': 'ns',
      'csi.storage.k8s.io/serviceAccount.name': 'app',
      'csi.storage.k8s.io/serviceAccount.tokens': 'from-the-class',
      region: 'eu-west-1',
    });
    expect(attributes('{"aud":{}}')['csi.storage.k8s.io/serviceAccount.tokens']).toBe('{"aud":{}}');
  });

  it('takes a class without parameters as one with none (upstream panics)', () => {
    for (const parameters of [undefined, null]) {
      expect(
        mountAttributes({
          parameters,
          pod: { name: 'p', uid: 'u' },
          namespace: 'ns',
          serviceAccountName: 'sa',
          tokens: undefined,
        }),
      ).toBe(
        '{"csi.storage.k8s.io/pod.name":"p","csi.storage.k8s.io/pod.namespace":"ns","csi.storage.k8s.io/pod.uid":"u","csi.storage.k8s.io/serviceAccount.name":"sa"}',
      );
    }
  });

  it('escapes HTML characters as Go does', () => {
    expect(
      mountAttributes({
        parameters: { q: 'a<b>&c' },
        pod: { name: '', uid: '' },
        namespace: 'ns',
        serviceAccountName: 'sa',
        tokens: undefined,
      }),
    ).toContain('"q":"a\\u003cb\\u003e\\u0026c"');
  });

  it('sends no secrets, the fixed target path, 0644 and no current versions', () => {
    const call = mountCall({
      parameters: {},
      pod: { name: '', uid: '' },
      namespace: 'ns',
      serviceAccountName: 'sa',
      tokens: undefined,
    });
    expect(call).toEqual({
      attributes: expect.any(String),
      secrets: '{}',
      targetPath: '/mnt/secrets-store',
      permission: '420',
      currentObjectVersion: [],
    });
  });
});
