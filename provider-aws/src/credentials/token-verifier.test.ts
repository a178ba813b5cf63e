import crypto from 'node:crypto';

import type { Jwk } from './token-verifier';
import { TokenVerifier } from './token-verifier';

const NOW = 1_800_000_000_000;
const SUBJECT = 'system:serviceaccount:default:app';

function keyPair(kid: string, type: 'rsa' | 'ec' = 'rsa') {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, jwk: { ...(publicKey.export({ format: 'jwk' }) as Jwk), kid } };
}

function sign(
  privateKey: crypto.KeyObject,
  kid: string,
  claims: Record<string, unknown>,
  alg = 'RS256',
): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const data = `${enc({ alg, kid })}.${enc(claims)}`;
  const signature = crypto.sign(
    'sha256',
    Buffer.from(data),
    alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey,
  );
  return `${data}.${signature.toString('base64url')}`;
}

const claims = (over: Record<string, unknown> = {}) => ({
  aud: ['sts.amazonaws.com'],
  sub: SUBJECT,
  exp: NOW / 1000 + 3600,
  nbf: NOW / 1000 - 10,
  ...over,
});
const expectation = { audience: 'sts.amazonaws.com', subject: SUBJECT };

describe('TokenVerifier', () => {
  const cluster = keyPair('k1');
  const stranger = keyPair('k1');
  let fetches = 0;
  const verifier = () => {
    fetches = 0;
    return new TokenVerifier(
      async () => {
        fetches++;
        return { keys: [cluster.jwk] };
      },
      () => NOW,
    );
  };

  it('accepts a token signed by the cluster for the audience and subject', async () => {
    expect(await verifier().verify(sign(cluster.privateKey, 'k1', claims()), expectation)).toBe(true);
  });

  it.each<[string, () => string]>([
    ['a signature by another key', () => sign(stranger.privateKey, 'k1', claims())],
    ['another audience', () => sign(cluster.privateKey, 'k1', claims({ aud: ['pods.eks.amazonaws.com'] }))],
    [
      'another subject',
      () => sign(cluster.privateKey, 'k1', claims({ sub: 'system:serviceaccount:default:other' })),
    ],
    ['an expired token', () => sign(cluster.privateKey, 'k1', claims({ exp: NOW / 1000 - 120 }))],
    ['a token not yet valid', () => sign(cluster.privateKey, 'k1', claims({ nbf: NOW / 1000 + 600 }))],
    ['an unknown key id', () => sign(cluster.privateKey, 'k2', claims())],
    [
      'alg none',
      () =>
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`,
    ],
    ['garbage', () => 'not.a.jwt'],
    [
      'a tampered payload',
      () => {
        const [h, , s] = sign(cluster.privateKey, 'k1', claims()).split('.');
        return `${h}.${Buffer.from(JSON.stringify(claims({ sub: SUBJECT, exp: NOW / 1000 + 99999 }))).toString('base64url')}.${s}`;
      },
    ],
  ])('rejects %s', async (_name, token) => {
    expect(await verifier().verify(token(), expectation)).toBe(false);
  });

  it('verifies ES256 tokens', async () => {
    const ec = keyPair('e1', 'ec');
    const v = new TokenVerifier(
      async () => ({ keys: [ec.jwk] }),
      () => NOW,
    );
    expect(await v.verify(sign(ec.privateKey, 'e1', claims(), 'ES256'), expectation)).toBe(true);
  });

  it('fetches the keys once, not per token', async () => {
    const v = verifier();
    for (let i = 0; i < 5; i++) await v.verify(sign(cluster.privateKey, 'k1', claims()), expectation);
    expect(fetches).toBe(1);
  });

  it('says no when the keys cannot be fetched', async () => {
    const v = new TokenVerifier(
      async () => {
        throw new Error('forbidden');
      },
      () => NOW,
    );
    expect(await v.verify(sign(cluster.privateKey, 'k1', claims()), expectation)).toBe(false);
  });
});
