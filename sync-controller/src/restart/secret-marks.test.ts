import type { Secret } from '@sscsi/common';
import crypto from 'node:crypto';
import { promisify } from 'node:util';

import { SecretMarks, withoutData } from './secret-marks';

const secret = (data: Record<string, string>, uid = 'uid-1', type = 'Opaque'): Secret => ({
  metadata: {
    name: 'env',
    namespace: 'shop',
    uid,
    resourceVersion: '7',
    labels: { a: 'b' },
    annotations: { x: 'y' },
  },
  type,
  data,
});

describe('withoutData', () => {
  it('keeps the name, uid and labels, and a digest in place of the data', () => {
    const kept = withoutData(secret({ password: Buffer.from('hunter2').toString('base64') }));
    expect(kept).toEqual({
      metadata: { name: 'env', namespace: 'shop', uid: 'uid-1', resourceVersion: '7', labels: { a: 'b' } },
      dataDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(JSON.stringify(kept)).not.toContain(Buffer.from('hunter2').toString('base64'));
  });

  it('gives one digest for the same data in any key order, another for other data, keys or type', () => {
    const d = (s: Secret) => withoutData(s).dataDigest;
    expect(d(secret({ a: 'MQ==', b: 'Mg==' }))).toBe(d(secret({ b: 'Mg==', a: 'MQ==' })));
    expect(d(secret({ a: 'MQ==' }))).not.toBe(d(secret({ a: 'Mg==' })));
    expect(d(secret({ a: 'MQ==' }))).not.toBe(d(secret({ b: 'MQ==' })));
    expect(d(secret({ ab: '' }))).not.toBe(d(secret({ a: 'b' })));
    expect(d(secret({ a: 'MQ==' }))).not.toBe(d(secret({ a: 'MQ==' }, 'uid-1', 'kubernetes.io/tls')));
  });
});

describe('SecretMarks', () => {
  it('marks the same data of one Secret the same, and salts with its uid', async () => {
    const marks = new SecretMarks(10);
    const one = await marks.mark(withoutData(secret({ a: 'MQ==' })));
    expect(one).toMatch(/^[0-9a-f]{32}$/);
    expect(await new SecretMarks(10).mark(withoutData(secret({ a: 'MQ==' })))).toBe(one);
    expect(await marks.mark(withoutData(secret({ a: 'MQ==' }, 'uid-2')))).not.toBe(one);
    expect(await marks.mark(withoutData(secret({ a: 'Mg==' })))).not.toBe(one);
  });

  it('computes a mark once per Secret and data, however many ask at once', async () => {
    let computed = 0;
    const pbkdf2 = promisify(crypto.pbkdf2);
    const marks = new SecretMarks(10, (...args) => {
      computed++;
      return pbkdf2(...args);
    });
    const s = withoutData(secret({ a: 'MQ==' }));
    const asked = [marks.mark(s), marks.mark(s), marks.mark(s)];
    expect(new Set(await Promise.all(asked)).size).toBe(1);
    await marks.mark(s);
    expect(computed).toBe(1);
    await marks.mark(withoutData(secret({ a: 'Mg==' })));
    expect(computed).toBe(2);
  });
});
