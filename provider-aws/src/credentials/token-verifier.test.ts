import { until } from '@sscsi/common/testing';
import crypto from 'node:crypto';

import { CLUSTER_ISSUER, FakeCluster } from '../testing/fake-cluster';
import type { Jwk } from './token-verifier';
import { clusterSigningKeys, TokenVerifier } from './token-verifier';

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

const ISSUER = 'https://kubernetes.default.svc';
const claims = (over: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: ['sts.amazonaws.com'],
  sub: SUBJECT,
  exp: NOW / 1000 + 3600,
  nbf: NOW / 1000 - 10,
  'kubernetes.io': { namespace: 'default', pod: { name: 'app-1', uid: 'uid-1' } },
  ...over,
});
const expectation = {
  audience: 'sts.amazonaws.com',
  pod: { namespace: 'default', serviceAccount: 'app', name: 'app-1', uid: 'uid-1' },
  requester: 'pod' as const,
};

describe('TokenVerifier', () => {
  const cluster = keyPair('k1');
  const stranger = keyPair('k1');
  let fetches = 0;
  const verifier = () => {
    fetches = 0;
    return new TokenVerifier(
      async () => {
        fetches++;
        return { issuer: ISSUER, keys: [cluster.jwk] };
      },
      () => NOW,
    );
  };

  it('accepts a token signed by the cluster for the audience and subject', async () => {
    expect(await verifier().verify(sign(cluster.privateKey, 'k1', claims()), expectation)).toEqual({
      requester: 'pod',
      pod: { name: 'app-1', uid: 'uid-1' },
    });
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
    expect(await verifier().verify(token(), expectation)).toBeUndefined();
  });

  it('verifies ES256 tokens', async () => {
    const ec = keyPair('e1', 'ec');
    const v = new TokenVerifier(
      async () => ({ issuer: ISSUER, keys: [ec.jwk] }),
      () => NOW,
    );
    expect(await v.verify(sign(ec.privateKey, 'e1', claims(), 'ES256'), expectation)).toBeDefined();
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
    expect(await v.verify(sign(cluster.privateKey, 'k1', claims()), expectation)).toBeUndefined();
  });
});

describe('TokenVerifier: issuer, pod binding and key fetch failures', () => {
  let now = NOW;
  const cluster = new FakeCluster(CLUSTER_ISSUER, () => now);
  const pod = { namespace: 'default', serviceAccount: 'app', name: 'app-1', uid: 'uid-1' };
  // The requesting pod, as the mount request names it.
  const expected = { audience: 'sts.amazonaws.com', pod, requester: 'pod' as const };
  const token = (claims?: Record<string, unknown>) =>
    cluster.token(pod, { audience: 'sts.amazonaws.com', claims });
  const fromCluster = () =>
    new TokenVerifier(
      async () => cluster.signingKeys(),
      () => now,
    );

  it('accepts a token of the cluster bound to the requesting pod', async () => {
    expect(await fromCluster().verify(token(), expected)).toEqual({
      requester: 'pod',
      pod: { name: 'app-1', uid: 'uid-1' },
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['another issuer', { iss: 'https://oidc.example.com/other-cluster' }],
    ['no issuer', { iss: undefined }],
    [
      'a binding to another pod of the ServiceAccount',
      { 'kubernetes.io': { namespace: 'default', pod: { name: 'app-2', uid: 'uid-2' } } },
    ],
    [
      'a binding to a former pod of the same name',
      { 'kubernetes.io': { namespace: 'default', pod: { name: 'app-1', uid: 'uid-0' } } },
    ],
    ['no pod binding', { 'kubernetes.io': { namespace: 'default' } }],
    ['no kubernetes.io claim', { 'kubernetes.io': undefined }],
    [
      'a binding in another namespace',
      { 'kubernetes.io': { namespace: 'other', pod: { name: 'app-1', uid: 'uid-1' } } },
    ],
  ])('rejects a token with %s', async (_name, claims) => {
    expect(await fromCluster().verify(token(claims), expected)).toBeUndefined();
  });

  it('checks the pod name when the request does not name the pod uid', async () => {
    const withoutUid = { ...expected, pod: { namespace: 'default', serviceAccount: 'app', name: 'app-1' } };
    expect(await fromCluster().verify(token(), withoutUid)).toBeDefined();
    const other = token({ 'kubernetes.io': { namespace: 'default', pod: { name: 'app-2', uid: 'uid-1' } } });
    expect(await fromCluster().verify(other, withoutUid)).toBeUndefined();
  });

  it('backs off after the keys cannot be fetched, then tries again', async () => {
    let fetches = 0;
    let failing = true;
    const v = new TokenVerifier(
      async () => {
        fetches++;
        if (failing) throw new Error('the API server is down');
        return cluster.signingKeys();
      },
      () => now,
    );
    for (let i = 0; i < 20; i++) expect(await v.verify(token(), expected)).toBeUndefined();
    expect(fetches).toBe(1);
    failing = false;
    now += 60_000;
    expect(await v.verify(token(), expected)).toBeDefined();
    expect(fetches).toBe(2);
  });
});

describe("TokenVerifier: the sync controller's token, bound to no pod", () => {
  let now = NOW;
  const cluster = new FakeCluster(CLUSTER_ISSUER, () => now);
  const sa = { namespace: 'team-a', serviceAccount: 'reader' };
  // The sync controller's request: its own pod, the SecretSync's namespace and ServiceAccount.
  const expected = {
    audience: 'sts.amazonaws.com',
    pod: { ...sa, name: 'secrets-store-sync-controller-0', uid: 'controller-uid' },
    requester: 'serviceaccount' as const,
  };
  const token = (claims?: Record<string, unknown>, forged = false) =>
    cluster.serviceAccountToken(sa, { audience: 'sts.amazonaws.com', claims, forged });
  const fromCluster = () =>
    new TokenVerifier(
      async () => cluster.signingKeys(),
      () => now,
    );
  afterEach(() => {
    now = NOW;
  });

  it('accepts a token of the cluster for the ServiceAccount and namespace the request names', async () => {
    expect(await fromCluster().verify(token(), expected)).toEqual({ requester: 'serviceaccount' });
  });

  it('accepts one without a kubernetes.io claim, as older clusters issue them', async () => {
    expect(await fromCluster().verify(token({ 'kubernetes.io': undefined }), expected)).toEqual({
      requester: 'serviceaccount',
    });
  });

  it.each<[string, () => string]>([
    ['a token of another ServiceAccount', () => token({ sub: 'system:serviceaccount:team-a:writer' })],
    [
      'a token of the same ServiceAccount name in another namespace',
      () =>
        cluster.serviceAccountToken(
          { namespace: 'team-b', serviceAccount: 'reader' },
          { audience: 'sts.amazonaws.com' },
        ),
    ],
    [
      'a namespace claim that contradicts the subject',
      () => token({ 'kubernetes.io': { namespace: 'team-b', serviceaccount: { name: 'reader', uid: 'x' } } }),
    ],
    ['another audience', () => token({ aud: ['pods.eks.amazonaws.com'] })],
    ['an audience list without ours', () => token({ aud: ['api', 'vault'] })],
    ['an expired token', () => token({ exp: Math.floor(NOW / 1000) - 120 })],
    ['a token without expiry', () => token({ exp: undefined })],
    ['a token not yet valid', () => token({ nbf: Math.floor(NOW / 1000) + 600 })],
    ['a signature by another key', () => token({}, true)],
    ['another issuer', () => token({ iss: 'https://oidc.example.com/other-cluster' })],
    [
      "a pod's token (bound to the controller's pod)",
      () =>
        cluster.token(
          { ...sa, name: 'secrets-store-sync-controller-0', uid: 'controller-uid' },
          { audience: 'sts.amazonaws.com' },
        ),
    ],
    [
      "a pod's token (bound to a pod of the ServiceAccount)",
      () => cluster.token({ ...sa, name: 'reader-1', uid: 'uid-r1' }, { audience: 'sts.amazonaws.com' }),
    ],
  ])('rejects %s', async (_name, make) => {
    expect(await fromCluster().verify(make(), expected)).toBeUndefined();
  });

  it('rejects the token of a request that names another namespace than the SecretSync token is for', async () => {
    const elsewhere = { ...expected, pod: { ...expected.pod, namespace: 'team-b' } };
    expect(await fromCluster().verify(token(), elsewhere)).toBeUndefined();
  });

  it("does not let a ServiceAccount's token pass for a pod's, whatever pod the request names", async () => {
    const forPod = { ...expected, requester: 'pod' as const };
    expect(await fromCluster().verify(token(), forPod)).toBeUndefined();
  });

  it('says no when the keys cannot be fetched', async () => {
    const v = new TokenVerifier(
      async () => {
        throw new Error('forbidden');
      },
      () => now,
    );
    expect(await v.verify(token(), expected)).toBeUndefined();
  });

  it('stops accepting the token once it has expired', async () => {
    const v = fromCluster();
    const t = token({ exp: Math.floor(NOW / 1000) + 600 });
    expect(await v.verify(t, expected)).toBeDefined();
    now = NOW + 700_000;
    expect(await v.verify(t, expected)).toBeUndefined();
  });
});

describe('TokenVerifier: fetching the keys under load and faults', () => {
  const pod = { namespace: 'default', serviceAccount: 'app', name: 'app-1', uid: 'uid-1' };
  const expected = { audience: 'sts.amazonaws.com', pod, requester: 'pod' as const };

  it('makes one fetch for many tokens verified at once, and one again when it fails', async () => {
    const now = NOW;
    const cluster = new FakeCluster(CLUSTER_ISSUER, () => now);
    let fetches = 0;
    let fail = true;
    let release: () => void = () => undefined;
    const v = new TokenVerifier(
      () => {
        fetches++;
        return new Promise((resolve, reject) => {
          release = () => (fail ? reject(new Error('503')) : resolve(cluster.signingKeys()));
        });
      },
      () => now,
    );
    const token = cluster.token(pod, { audience: 'sts.amazonaws.com' });
    const failing = Array.from({ length: 50 }, () => v.verify(token, expected));
    await until(() => fetches === 1);
    release();
    expect(await Promise.all(failing)).toEqual(Array(50).fill(undefined));
    expect(fetches).toBe(1);
    fail = false;
    expect(await v.verify(token, expected)).toBeUndefined();
    expect(fetches).toBe(1);
  });

  it('waits longer after each failure, up to five minutes, and starts over after a success', async () => {
    let now = NOW;
    const cluster = new FakeCluster(CLUSTER_ISSUER, () => now);
    const fetchedAt: number[] = [];
    let failing = true;
    const v = new TokenVerifier(
      async () => {
        fetchedAt.push(now - NOW);
        if (failing) throw new Error('forbidden');
        return cluster.signingKeys();
      },
      () => now,
    );
    // One verification a second for an hour: fetches happen only when each pause is over.
    for (let s = 0; s < 3600; s++, now += 1000) {
      await v.verify(cluster.token(pod, { audience: 'sts.amazonaws.com' }), expected);
    }
    const pauses = fetchedAt.slice(1).map((t, i) => (t - (fetchedAt[i] ?? 0)) / 1000);
    expect(pauses.slice(0, 7)).toEqual([5, 10, 20, 40, 80, 160, 300]);
    expect(new Set(pauses.slice(7))).toEqual(new Set([300]));
    failing = false;
    now += 300_000;
    expect(await v.verify(cluster.token(pod, { audience: 'sts.amazonaws.com' }), expected)).toBeDefined();
  });

  it('keeps verifying with the keys it has while a fetch for an unknown key backs off', async () => {
    let now = NOW;
    const cluster = new FakeCluster(CLUSTER_ISSUER, () => now);
    let fetches = 0;
    let failing = false;
    const v = new TokenVerifier(
      async () => {
        fetches++;
        if (failing) throw new Error('timeout');
        return cluster.signingKeys();
      },
      () => now,
    );
    const token = () => cluster.token(pod, { audience: 'sts.amazonaws.com' });
    expect(await v.verify(token(), expected)).toBeDefined();
    failing = true;
    now += 60_000;
    const rotated = sign(keyPair('k9', 'rsa').privateKey, 'k9', {
      ...claims({ 'kubernetes.io': { namespace: 'default', pod: { name: 'app-1', uid: 'uid-1' } } }),
      exp: now / 1000 + 3600,
      nbf: now / 1000,
    });
    expect(await v.verify(rotated, expected)).toBeUndefined();
    expect(await v.verify(rotated, expected)).toBeUndefined();
    expect(fetches).toBe(2);
    expect(await v.verify(token(), expected)).toBeDefined();
  });

  it('stops trusting keys it could not refresh for longer than their lifetime', async () => {
    let now = NOW;
    const cluster = new FakeCluster(CLUSTER_ISSUER, () => now);
    let failing = false;
    const v = new TokenVerifier(
      async () => {
        if (failing) throw new Error('timeout');
        return cluster.signingKeys();
      },
      () => now,
    );
    expect(await v.verify(cluster.token(pod, { audience: 'sts.amazonaws.com' }), expected)).toBeDefined();
    failing = true;
    now += 11 * 60_000;
    expect(await v.verify(cluster.token(pod, { audience: 'sts.amazonaws.com' }), expected)).toBeUndefined();
  });
});

describe('clusterSigningKeys', () => {
  const api = (answers: Record<string, unknown>) => ({
    paths: [] as string[],
    async get<T>(path: string): Promise<T> {
      this.paths.push(path);
      if (!(path in answers)) throw new Error(`GET ${path}: 404`);
      return answers[path] as T;
    },
  });

  it("reads the issuer from the discovery document and the keys from the API server's JWKS", async () => {
    const cluster = new FakeCluster('https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE');
    const { issuer, keys } = cluster.signingKeys();
    const server = api({
      '/.well-known/openid-configuration': { issuer, jwks_uri: `${issuer}/keys` },
      '/openid/v1/jwks': { keys },
    });
    expect(await clusterSigningKeys(server)()).toEqual({ issuer, keys });
    expect(server.paths.sort()).toEqual(['/.well-known/openid-configuration', '/openid/v1/jwks']);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'no issuer',
      { '/.well-known/openid-configuration': {}, '/openid/v1/jwks': { keys: [] } },
      /names no issuer/,
    ],
    [
      'no keys',
      { '/.well-known/openid-configuration': { issuer: 'https://x' }, '/openid/v1/jwks': {} },
      /no "keys"/,
    ],
    ['no discovery document', { '/openid/v1/jwks': { keys: [] } }, /404/],
  ])('fails with %s', async (_name, answers, message) => {
    await expect(clusterSigningKeys(api(answers))()).rejects.toThrow(message);
  });
});
