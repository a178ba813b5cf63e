// TLS material as openssl writes it, made fresh per run.
import { OpensslFolder, thrownBy } from '@sscsi/common/testing';

import { SyncFailure } from '../sync/failure';
import { secretData } from './secret-data';

let tls: OpensslFolder;
const read = (name: string) => tls.read(name);

beforeAll(() => {
  tls = new OpensslFolder('ssc-data-');
  tls.selfSigned('leaf', 'leaf');
  tls.selfSigned('ca', 'ca');
  tls.run('rsa', '-in', 'leaf.key', '-traditional', '-out', 'leaf-pkcs1.key');
  tls.run('pkcs8', '-topk8', '-in', 'leaf.key', '-passout', 'pass:pw', '-out', 'leaf-encrypted.key');
});

afterAll(() => tls.remove());

const files = (entries: Record<string, string | Buffer>) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, typeof v === 'string' ? Buffer.from(v) : v] as const));

const failureOf = (run: () => unknown) => thrownBy(run, SyncFailure);

describe('secretData', () => {
  it('takes each item from the file of exactly its sourcePath, in order; empty contents are nil', () => {
    const data = secretData(
      [
        { sourcePath: 'foo', targetKey: 'bar' },
        { sourcePath: ' dir/x ', targetKey: ' x ' },
        { sourcePath: 'empty', targetKey: 'e' },
      ],
      'Opaque',
      files({ foo: 'secret', 'dir/x': Buffer.from([0xff, 0]), empty: '', unused: 'u' }),
    );
    expect([...data.keys()]).toEqual(['bar', 'x', 'e']);
    expect(data.get('bar')?.toString()).toBe('secret');
    expect(data.get('x')).toEqual(Buffer.from([0xff, 0]));
    expect(data.get('e')).toBeNull();
  });

  it.each([
    [[{ sourcePath: 'missing', targetKey: 'k' }], 'file matching sourcePath missing not found in the pod'],
    [[{ sourcePath: './foo', targetKey: 'k' }], 'file matching sourcePath ./foo not found in the pod'],
    [[{ sourcePath: ' ', targetKey: 'k' }], 'source path in secretObject.data is empty'],
    [[{ sourcePath: 'foo', targetKey: '' }], 'target key in secretObject.data is empty'],
  ])('refuses %j as upstream: %s', (items, detail) => {
    const err = failureOf(() => secretData(items, 'Opaque', files({ foo: 'x' })));
    expect([err.reason, err.message]).toEqual([
      'RemoteSecretStoreFetchFailed',
      `fetching secrets from the provider failed: ${detail}`,
    ]);
  });

  it('passes the bytes of every type but kubernetes.io/tls through', () => {
    const data = secretData(
      [{ sourcePath: 'cert', targetKey: 'tls.crt' }],
      'kubernetes.io/basic-auth',
      files({ cert: read('leaf.key') }),
    );
    expect(data.get('tls.crt')).toEqual(read('leaf.key'));
  });

  it('makes tls.crt of the certificates and tls.key of the key (PKCS#1, as openssl -traditional)', () => {
    const bundle = Buffer.concat([read('leaf.key'), read('leaf.crt'), read('ca.crt')]);
    const data = secretData(
      [
        { sourcePath: 'bundle', targetKey: 'tls.crt' },
        { sourcePath: 'bundle', targetKey: 'tls.key' },
      ],
      'kubernetes.io/tls',
      files({ bundle }),
    );
    expect(data.get('tls.crt')?.toString()).toBe(`${read('leaf.crt')}${read('ca.crt')}`);
    expect(data.get('tls.key')?.toString()).toBe(read('leaf-pkcs1.key').toString());
  });

  it('refuses a TLS key it cannot read, never writing an empty key (upstream: its bug B13), and other keys', () => {
    const encrypted = failureOf(() =>
      secretData(
        [{ sourcePath: 'k', targetKey: 'tls.key' }],
        'kubernetes.io/tls',
        files({ k: read('leaf-encrypted.key') }),
      ),
    );
    expect(encrypted.message).toMatch(
      /^fetching secrets from the provider failed: failed to get cert data for tls\.key: the private key cannot be read/,
    );
    expect(encrypted.message).not.toMatch(/MII|BEGIN/);
    const other = failureOf(() =>
      secretData(
        [{ sourcePath: 'c', targetKey: 'ca.crt' }],
        'kubernetes.io/tls',
        files({ c: read('ca.crt') }),
      ),
    );
    expect(other.message).toBe(
      "fetching secrets from the provider failed: failed to get cert data for ca.crt: key 'ca.crt' is not supported. Only 'tls.key' and 'tls.crt' are supported",
    );
    const empty = failureOf(() =>
      secretData([{ sourcePath: 'c', targetKey: 'tls.crt' }], 'kubernetes.io/tls', files({ c: '' })),
    );
    expect(empty.reason).toBe('RemoteSecretStoreFetchFailed');
  });
});
