// Key material as the tools people use write it: openssl's `ecparam -genkey` output, PKCS#8 keys,
// PFX files from `openssl pkcs12 -export` (current and -legacy encryption), made fresh per run.
import crypto from 'node:crypto';

import { OpensslFolder } from './testing/openssl';
import { thrownBy } from './testing/thrown';
import { certificatesOf, privateKeyOf, TlsError } from './tls';

let folder: OpensslFolder;
const openssl = (...args: string[]) => folder.run(...args);
const read = (name: string) => folder.read(name);

beforeAll(() => {
  folder = new OpensslFolder('sscsi-tls-');
  // `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
  openssl('ecparam', '-genkey', '-name', 'prime256v1', '-out', 'ec.pem');
  openssl(
    'req',
    '-x509',
    '-key',
    'ec.pem',
    '-nodes',
    '-subj',
    '/CN=ec.example',
    '-days',
    '1',
    '-out',
    'ec.crt',
  );
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', 'ec.pem', '-out', 'ec-pkcs8.pem');
  openssl('pkcs12', '-export', '-passout', 'pass:', '-in', 'ec.crt', '-inkey', 'ec.pem', '-out', 'ec.pfx');
  openssl(
    'pkcs12',
    '-export',
    '-legacy',
    '-passout',
    'pass:',
    '-in',
    'ec.crt',
    '-inkey',
    'ec.pem',
    '-out',
    'ec-legacy.pfx',
  );
  folder.selfSigned('rsa', 'rsa.example');
  openssl('pkcs12', '-export', '-passout', 'pass:', '-in', 'rsa.crt', '-inkey', 'rsa.key', '-out', 'rsa.pfx');
  openssl('pkcs8', '-topk8', '-passout', 'pass:hunter22', '-in', 'rsa.key', '-out', 'rsa-encrypted.pem');
  openssl(
    'pkcs12',
    '-export',
    '-legacy',
    '-name',
    'web',
    '-passout',
    'pass:',
    '-in',
    'rsa.crt',
    '-inkey',
    'rsa.key',
    '-out',
    'rsa-named.pfx',
  );
});

afterAll(() => folder.remove());

/** The key and certificate belong together, and the key is the one that was mounted. */
function expectPair(keyPem: Buffer, certPem: Buffer, original: Buffer): void {
  const key = crypto.createPrivateKey(keyPem);
  expect(new crypto.X509Certificate(certPem).checkPrivateKey(key)).toBe(true);
  const publicOf = (k: crypto.KeyObject) => crypto.createPublicKey(k).export({ format: 'der', type: 'spki' });
  expect(publicOf(key).equals(publicOf(crypto.createPrivateKey(original)))).toBe(true);
}

describe('privateKeyOf', () => {
  it('takes the key after an EC PARAMETERS block (openssl ecparam -genkey), as SEC1', () => {
    const bundle = Buffer.concat([read('ec.pem'), read('ec.crt')]);
    expect(bundle.toString()).toMatch(/^-----BEGIN EC PARAMETERS-----/);
    const key = privateKeyOf(bundle);
    expect(key.toString()).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n[\s\S]+-----END EC PRIVATE KEY-----\n$/);
    expectPair(key, certificatesOf(bundle), read('ec.pem'));
  });

  it('re-encodes a PKCS#8 EC key as SEC1 and a PKCS#8 RSA key as PKCS#1', () => {
    expect(privateKeyOf(read('ec-pkcs8.pem')).toString()).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    expect(privateKeyOf(read('rsa.key')).toString()).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
  });

  it('takes the last key of a bundle, as upstream does', () => {
    const bundle = Buffer.concat([read('rsa.key'), read('rsa.crt'), read('ec.pem')]);
    expect(crypto.createPrivateKey(privateKeyOf(bundle)).asymmetricKeyType).toBe('ec');
  });

  it.each([
    ['EC, current openssl encryption', 'ec.pfx', 'ec.crt', 'ec.pem', /^-----BEGIN EC PRIVATE KEY-----/],
    ['EC, -legacy encryption', 'ec-legacy.pfx', 'ec.crt', 'ec.pem', /^-----BEGIN EC PRIVATE KEY-----/],
    ['RSA', 'rsa.pfx', 'rsa.crt', 'rsa.key', /^-----BEGIN RSA PRIVATE KEY-----/],
  ])('reads a PFX with an empty password (%s), labelled by its real type', (_name, pfx, crt, key, label) => {
    const out = privateKeyOf(read(pfx));
    expect(out.toString()).toMatch(label);
    const certs = certificatesOf(read(pfx));
    expect(new crypto.X509Certificate(certs).fingerprint256).toBe(
      new crypto.X509Certificate(read(crt)).fingerprint256,
    );
    expectPair(out, certs, read(key));
  });

  it('refuses an encrypted key, a bundle without a key, and parameters alone, quoting no key material', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.concat([read('rsa-encrypted.pem'), read('rsa.crt')]), /the private key cannot be read/],
      [read('rsa.crt'), /no private key found/],
      [
        Buffer.from(read('ec.pem').toString().split('-----BEGIN EC PRIVATE KEY')[0] ?? ''),
        /no private key found/,
      ],
    ];
    for (const [input, message] of cases) {
      const error = thrownBy(() => privateKeyOf(input), TlsError);
      expect(error.message).toMatch(message);
      expect(error.message).not.toMatch(/MII|BEGIN/);
    }
  });
});

describe('certificatesOf', () => {
  it('keeps the certificates of a PEM bundle as they are, in order, without keys', () => {
    const bundle = Buffer.concat([read('rsa.key'), read('rsa.crt'), read('ec.crt')]);
    expect(certificatesOf(bundle).toString()).toBe(`${read('rsa.crt')}${read('ec.crt')}`);
  });

  it("writes a PFX's certificate as Go's pkcs12.ToPEM does when asked (upstream's sync controller's bytes)", () => {
    const fingerprint = new crypto.X509Certificate(read('rsa.crt')).fingerprint
      .replace(/:/g, '')
      .toLowerCase();
    const body = read('rsa.crt').toString().replace('-----BEGIN CERTIFICATE-----\n', '');
    expect(certificatesOf(read('rsa-named.pfx'), { pfxBagAttributes: true }).toString()).toBe(
      `-----BEGIN CERTIFICATE-----\nfriendlyName: web\nlocalKeyId: ${fingerprint}\n\n${body}`,
    );
    // The driver's form: node-forge's PEM, the same certificate.
    const plain = certificatesOf(read('rsa-named.pfx')).toString();
    expect(plain).not.toMatch(/localKeyId/);
    expect(new crypto.X509Certificate(plain).fingerprint).toBe(
      new crypto.X509Certificate(read('rsa.crt')).fingerprint,
    );
  });

  it('refuses input that is neither PEM nor a PFX with an empty password', () => {
    expect(() => certificatesOf(Buffer.from('hello'))).toThrow(TlsError);
    expect(() => certificatesOf(read('rsa.key'))).toThrow(/no certificate found/);
  });
});
