import crypto from 'node:crypto';

import { decodeJwt, keysFromJwks, MalformedToken, signatureValid, validityProblem } from './jwt';
import { forgeToken, signToken } from './test-tokens';

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwks = {
  keys: [
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1' },
    { kty: 'oct', kid: 'unusable', k: '' },
  ],
};
const now = 1_800_000_000;
const claims = {
  iss: 'https://kubernetes.default.svc',
  sub: 'system:serviceaccount:default:app',
  aud: ['sts.amazonaws.com'],
  exp: now + 3600,
  nbf: now - 10,
  iat: now - 10,
  'kubernetes.io': {
    namespace: 'default',
    serviceaccount: { name: 'app', uid: 'sa-uid' },
    pod: { name: 'app-1', uid: 'pod-uid' },
  },
};

describe('decodeJwt', () => {
  it('reads the claims a Kubernetes service-account token carries', () => {
    const jwt = decodeJwt(signToken(claims, rsa.privateKey, { kid: 'rsa-1' }));
    expect(jwt).toMatchObject({ alg: 'RS256', kid: 'rsa-1' });
    expect(jwt.claims).toEqual({
      iss: 'https://kubernetes.default.svc',
      sub: 'system:serviceaccount:default:app',
      aud: ['sts.amazonaws.com'],
      exp: now + 3600,
      nbf: now - 10,
      iat: now - 10,
      kubernetes: {
        namespace: 'default',
        serviceAccount: { name: 'app', uid: 'sa-uid' },
        pod: { name: 'app-1', uid: 'pod-uid' },
      },
    });
  });

  it('takes a single audience as a list of one', () => {
    expect(decodeJwt(signToken({ ...claims, aud: 'x' }, rsa.privateKey)).claims.aud).toEqual(['x']);
  });

  it.each([
    ['two parts', 'a.b'],
    ['a header that is not JSON', `${Buffer.from('nope').toString('base64url')}.e30.sig`],
    ['a payload that is a list', `e30.${Buffer.from('[1]').toString('base64url')}.sig`],
    ['an empty string', ''],
  ])('refuses %s', (_name, token) => {
    expect(() => decodeJwt(token)).toThrow(MalformedToken);
  });
});

describe('signatureValid', () => {
  const keys = keysFromJwks(jwks);

  it('leaves out keys it cannot use', () => {
    expect([...keys.keys()].sort()).toEqual(['ec-1', 'rsa-1']);
  });

  it.each<[string, () => string, string, boolean]>([
    ['RS256 by the issuer', () => signToken(claims, rsa.privateKey, { kid: 'rsa-1' }), 'rsa-1', true],
    [
      'ES256 by the issuer',
      () => signToken(claims, ec.privateKey, { kid: 'ec-1', alg: 'ES256' }),
      'ec-1',
      true,
    ],
    [
      'the same claims signed by another key',
      () => forgeToken(signToken(claims, rsa.privateKey, { kid: 'rsa-1' })),
      'rsa-1',
      false,
    ],
    ['alg none', () => signToken(claims, rsa.privateKey, { kid: 'rsa-1', alg: 'none' }), 'rsa-1', false],
    [
      'claims changed after signing',
      () => {
        const [h, , s] = signToken(claims, rsa.privateKey, { kid: 'rsa-1' }).split('.');
        const other = Buffer.from(
          JSON.stringify({ ...claims, sub: 'system:serviceaccount:kube-system:admin' }),
        );
        return `${h}.${other.toString('base64url')}.${s}`;
      },
      'rsa-1',
      false,
    ],
    [
      'the right signature checked with the wrong key',
      () => signToken(claims, rsa.privateKey, { kid: 'rsa-1' }),
      'ec-1',
      false,
    ],
  ])('%s', (_name, make, kid, expected) => {
    const key = keys.get(kid) as crypto.KeyObject;
    expect(signatureValid(decodeJwt(make()), key)).toBe(expected);
  });
});

describe('validityProblem', () => {
  it.each<[string, object, string | undefined]>([
    ['valid', {}, undefined],
    ['expired', { exp: now - 1 }, 'expired'],
    ['expiring this second', { exp: now }, 'expired'],
    ['no exp', { exp: undefined }, 'no-expiry'],
    ['not yet valid', { nbf: now + 3600 }, 'not-yet-valid'],
    ['nbf within the allowed skew', { nbf: now + 30 }, undefined],
  ])('%s', (_name, changes, problem) => {
    const jwt = decodeJwt(signToken({ ...claims, ...changes }, rsa.privateKey));
    expect(validityProblem(jwt.claims, now)).toBe(problem);
  });
});
