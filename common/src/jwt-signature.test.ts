import crypto from 'node:crypto';

import { jwtAlgorithmAccepted, jwtSignatureValid } from './jwt-signature';

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const input = Buffer.from('header.payload');
const signed = (hash: string, key: crypto.KeyObject, dsaEncoding?: 'ieee-p1363') =>
  crypto.sign(hash, input, dsaEncoding ? { key, dsaEncoding } : key);

describe('jwtSignatureValid', () => {
  it.each([
    ['RS256', signed('sha256', rsa.privateKey), rsa.publicKey, true],
    ['RS512', signed('sha512', rsa.privateKey), rsa.publicKey, true],
    ['ES256', signed('sha256', ec.privateKey, 'ieee-p1363'), ec.publicKey, true],
    // A DER signature where JWTs carry the raw (r, s) pair.
    ['ES256', signed('sha256', ec.privateKey), ec.publicKey, false],
    ['RS256', signed('sha256', rsa.privateKey), ec.publicKey, false],
    ['RS384', signed('sha256', rsa.privateKey), rsa.publicKey, false],
    ['none', Buffer.alloc(0), rsa.publicKey, false],
    ['HS256', signed('sha256', rsa.privateKey), rsa.publicKey, false],
  ])('%s: %#', (alg, signature, key, valid) => {
    expect(jwtSignatureValid(alg, input, signature, key)).toBe(valid);
  });

  it('accepts the asymmetric algorithms only', () => {
    expect(['RS256', 'RS384', 'RS512', 'ES256', 'ES384'].every(jwtAlgorithmAccepted)).toBe(true);
    expect(['none', 'HS256', 'PS256', 'constructor', ''].some(jwtAlgorithmAccepted)).toBe(false);
  });
});
