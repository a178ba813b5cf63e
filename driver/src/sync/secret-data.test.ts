import forge from 'node-forge';
import crypto from 'node:crypto';
import { thrownBy } from '@sscsi/common/testing';

import { buildSecretContent, SyncError } from './secret-data';

function selfSigned() {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  cert.setSubject([{ name: 'commonName', value: 'app.example' }]);
  cert.setIssuer([{ name: 'commonName', value: 'app.example' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  const keyPkcs8 = forge.pki.privateKeyInfoToPem(
    forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keys.privateKey)),
  );
  const pfx = Buffer.from(
    forge.asn1
      .toDer(forge.pkcs12.toPkcs12Asn1(keys.privateKey, [cert], '', { algorithm: '3des' }))
      .getBytes(),
    'binary',
  );
  return { certPem, keyPkcs8, pfx };
}

const files = (map: Record<string, string | Buffer>) => (p: string) => {
  const v = map[p];
  if (v === undefined) throw new Error('ENOENT');
  return Buffer.from(v);
};

describe('buildSecretContent', () => {
  it('maps files to keys', () => {
    const content = buildSecretContent(
      {
        secretName: 'my-db-secret',
        type: 'Opaque',
        data: [
          { objectName: 'username', key: 'username' },
          { objectName: 'password', key: 'password' },
        ],
      },
      files({ username: 'mamezou-tech', password: 'pw' }),
    );
    expect(content.type).toBe('Opaque');
    expect(Object.fromEntries(Object.entries(content.data).map(([k, v]) => [k, v.toString()]))).toEqual({
      username: 'mamezou-tech',
      password: 'pw',
    });
  });

  const tls = selfSigned();

  it('builds tls.crt and tls.key from a PEM bundle, the key as PKCS#1', () => {
    const bundle = `${tls.keyPkcs8}\n${tls.certPem}`;
    const content = buildSecretContent(
      {
        secretName: 'tls',
        type: 'kubernetes.io/tls',
        data: [
          { objectName: 'cert', key: 'tls.crt' },
          { objectName: 'cert', key: 'tls.key' },
        ],
      },
      files({ cert: bundle }),
    );
    expect(content.data['tls.crt']?.toString()).toMatch(
      /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\n$/,
    );
    expect(content.data['tls.key']?.toString()).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    const key = crypto.createPrivateKey(content.data['tls.key'] ?? '');
    const cert = new crypto.X509Certificate(content.data['tls.crt'] ?? '');
    expect(cert.checkPrivateKey(key)).toBe(true);
  });

  it('builds tls.crt and tls.key from a PFX with an empty password', () => {
    const content = buildSecretContent(
      {
        secretName: 'tls',
        type: 'kubernetes.io/tls',
        data: [
          { objectName: 'pfx', key: 'tls.crt' },
          { objectName: 'pfx', key: 'tls.key' },
        ],
      },
      files({ pfx: tls.pfx }),
    );
    const cert = new crypto.X509Certificate(content.data['tls.crt'] ?? '');
    expect(cert.subject).toContain('app.example');
    expect(cert.checkPrivateKey(crypto.createPrivateKey(content.data['tls.key'] ?? ''))).toBe(true);
  });

  it.each<[string, Parameters<typeof buildSecretContent>[0], Record<string, string>, RegExp]>([
    [
      'a missing tls key',
      { secretName: 't', type: 'kubernetes.io/tls', data: [{ objectName: 'c', key: 'tls.crt' }] },
      { c: tls.certPem },
      /missing the key tls.key/,
    ],
    [
      'basic-auth without username or password',
      { secretName: 'b', type: 'kubernetes.io/basic-auth', data: [{ objectName: 'x', key: 'user' }] },
      { x: 'v' },
      /missing the key username or password/,
    ],
    [
      'ssh-auth without its key',
      { secretName: 's', type: 'kubernetes.io/ssh-auth', data: [{ objectName: 'x', key: 'key' }] },
      { x: 'v' },
      /missing the key ssh-privatekey/,
    ],
    [
      'dockerconfigjson without its key',
      { secretName: 'd', type: 'kubernetes.io/dockerconfigjson', data: [{ objectName: 'x', key: 'cfg' }] },
      { x: '{}' },
      /missing the key \.dockerconfigjson/,
    ],
    [
      'dockercfg without its key',
      { secretName: 'd', type: 'kubernetes.io/dockercfg', data: [{ objectName: 'x', key: 'cfg' }] },
      { x: '{}' },
      /missing the key \.dockercfg/,
    ],
    [
      'a file outside the mount',
      { secretName: 'e', type: 'Opaque', data: [{ objectName: '../../etc/passwd', key: 'p' }] },
      {},
      /must name a file inside the mount/,
    ],
    [
      'an absolute objectName',
      { secretName: 'e', type: 'Opaque', data: [{ objectName: '/etc/passwd', key: 'p' }] },
      {},
      /must name a file inside the mount/,
    ],
    [
      'a file that is not mounted',
      { secretName: 'e', type: 'Opaque', data: [{ objectName: 'nope', key: 'p' }] },
      {},
      /no file "nope" in the mounted volume/,
    ],
    [
      'an invalid key',
      { secretName: 'e', type: 'Opaque', data: [{ objectName: 'x', key: 'a/b' }] },
      { x: 'v' },
      /not a valid Secret data key/,
    ],
    [
      'an invalid type',
      { secretName: 'e', type: 'Bad Type!', data: [{ objectName: 'x', key: 'k' }] },
      { x: 'v' },
      /not a valid Secret type/,
    ],
    ['no data', { secretName: 'e', type: 'Opaque', data: [] }, {}, /data is empty/],
    // Upstream refuses it too; the class must say Opaque.
    [
      'an empty type',
      { secretName: 'e', type: '', data: [{ objectName: 'x', key: 'k' }] },
      { x: 'v' },
      /type is empty/,
    ],
  ])('rejects %s and never quotes a value', (_name, secretObject, map, message) => {
    const error = thrownBy(() => buildSecretContent(secretObject, files(map)), SyncError);
    expect(error.message).toMatch(message);
    for (const value of Object.values(map)) if (value.length > 2) expect(error.message).not.toContain(value);
  });

  it('accepts basic-auth with username and password, and any valid custom type', () => {
    expect(
      buildSecretContent(
        { secretName: 'b', type: 'kubernetes.io/basic-auth', data: [{ objectName: 'u', key: 'username' }] },
        files({ u: 'x' }),
      ).type,
    ).toBe('kubernetes.io/basic-auth');
    expect(
      buildSecretContent(
        { secretName: 'c', type: 'example.com/custom', data: [{ objectName: 'u', key: 'k' }] },
        files({ u: 'x' }),
      ).type,
    ).toBe('example.com/custom');
  });
});
