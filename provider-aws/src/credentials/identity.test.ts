import { until } from '@sscsi/common/testing';

import type { MountInput } from '../parameters/mount-request';
import { CredentialCache } from './credential-cache';
import type { MountOptions, PodOfToken, SyncOptions } from '../testing/fake-cluster';
import { claimsOf, FakeCluster, mountInputFor, podNamed, syncInputFor } from '../testing/fake-cluster';
import { awsError, FakeSts, unavailable } from '../testing/fake-sts';
import { PodIdentityAgentOnLoopback } from '../testing/pod-identity-agent';
import { IdentityResolver } from './identity';
import { PodIdentityAgent } from './pod-identity';
import type { SigningKeysSource } from './token-verifier';
import { TokenVerifier } from './token-verifier';

jest.setTimeout(10_000);

const ROLE = 'arn:aws:iam::123456789012:role/app';
const cluster = new FakeCluster();

/** STS as AWS runs it: only tokens the cluster signed are exchanged. */
const judgedByStsAsAws = (call: { token: string }) => {
  if (!cluster.signed(call.token)) throw awsError('InvalidIdentityToken', 400, 'Couldn’t verify the token');
};

const mountOf = (pod: PodOfToken, options?: MountOptions): MountInput => mountInputFor(cluster, pod, options);
/** The sync controller's request for a SecretSync of ServiceAccount default/<serviceAccount>. */
const syncOf = (serviceAccount = 'app', options?: SyncOptions): MountInput =>
  syncInputFor(cluster, { namespace: 'default', serviceAccount }, options);

/** Counts the callers that reached the shared credential fetch, so tests wait on that. */
class ObservedCache extends CredentialCache {
  callers = 0;

  override fetch(...args: Parameters<CredentialCache['fetch']>): ReturnType<CredentialCache['fetch']> {
    this.callers++;
    return super.fetch(...args);
  }
}

function resolverWith(
  sts: FakeSts,
  agentUrl = 'http://127.0.0.1:1/v1/credentials',
  signingKeys: SigningKeysSource = async () => cluster.signingKeys(),
) {
  const cache = new ObservedCache();
  const metrics = { hits: 0, misses: 0, byRequester: [] as string[] };
  const resolver = new IdentityResolver({
    clients: sts,
    cache,
    verifier: new TokenVerifier(signingKeys),
    lookups: { roleArn: async () => ROLE },
    podIdentity: new PodIdentityAgent({ ipv4Url: agentUrl, ipv6Url: agentUrl, timeoutMs: 5000 }),
    metrics: {
      credentialCache: (kind: string, requester: string, hit: boolean) => {
        if (hit) metrics.hits++;
        else metrics.misses++;
        metrics.byRequester.push(`${kind}/${requester}/${hit ? 'hit' : 'miss'}`);
      },
    },
  });
  return { resolver, cache, metrics };
}

describe('IdentityResolver: IRSA credentials shared by the pods of a ServiceAccount', () => {
  it('serves one valid and five forged tokens at once: only the valid one gets credentials', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    const { resolver } = resolverWith(sts);
    const valid = mountOf(podNamed('app-0'));
    const forged = Array.from({ length: 5 }, (_, i) => {
      const pod = podNamed(`app-${i + 1}`);
      return mountOf(pod, { token: cluster.token(pod, { audience: 'sts.amazonaws.com', forged: true }) });
    });
    const outcomes = await Promise.allSettled(
      [valid, ...forged].map((input) => resolver.credentials(input, 'us-east-1')),
    );
    expect(outcomes[0]).toMatchObject({ status: 'fulfilled' });
    for (const outcome of outcomes.slice(1)) {
      expect(outcome).toMatchObject({
        status: 'rejected',
        reason: { reason: 'CredentialsError', message: expect.stringContaining('InvalidIdentityToken') },
      });
    }
    // Each forged token went to STS itself, which refused it.
    const tokensSent = sts.calls.map((c) => c.token);
    for (const input of forged) expect(tokensSent).toContain(input.tokens.get('sts.amazonaws.com'));
  });

  it('makes one STS call for many pods starting at once, each after its own token verified', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    sts.holding = true;
    const { resolver, cache, metrics } = resolverWith(sts);
    const mounts = Array.from({ length: 20 }, (_, i) =>
      resolver.credentials(mountOf(podNamed(`app-${i}`)), 'us-east-1'),
    );
    const [call] = await sts.received(1);
    await until(() => cache.callers === 20);
    call?.answer();
    const credentials = await Promise.all(mounts);
    expect(new Set(credentials.map((c) => c.accessKeyId)).size).toBe(1);
    expect(sts.calls).toHaveLength(1);
    expect(metrics).toMatchObject({ hits: 19, misses: 1 });
  });

  it.each<[string, () => MountInput]>([
    ['another pod', () => mountOf(podNamed('app-2'))],
    ['a SecretSync', () => syncOf('app')],
  ])(
    'does not fail %s waiting on a shared call that failed: it then asks STS with its own token',
    async (_waiting, waiting) => {
      const sts = new FakeSts(judgedByStsAsAws);
      sts.holding = true;
      const { resolver, cache } = resolverWith(sts);
      const first = resolver.credentials(mountOf(podNamed('app-1')), 'us-east-1');
      const second = waiting();
      const secondAnswer = resolver.credentials(second, 'us-east-1');
      const [shared] = await sts.received(1);
      await until(() => cache.callers === 2);
      shared?.fail(unavailable());
      await expect(first).rejects.toMatchObject({ reason: 'CredentialsError' });
      const [, own] = await sts.received(2);
      expect(own?.token).toBe(second.tokens.get('sts.amazonaws.com'));
      own?.answer();
      await expect(secondAnswer).resolves.toMatchObject({ accessKeyId: expect.any(String) });
    },
  );

  it('does not cancel the pods waiting on a shared call when the pod that started it gives up', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    sts.holding = true;
    const { resolver, cache } = resolverWith(sts);
    const gaveUp = new AbortController();
    const firstAnswer = resolver.credentials(mountOf(podNamed('app-1')), 'us-east-1', gaveUp.signal);
    const secondAnswer = resolver.credentials(mountOf(podNamed('app-2')), 'us-east-1');
    const [shared] = await sts.received(1);
    await until(() => cache.callers === 2);
    gaveUp.abort(new Error('the kubelet gave up'));
    await expect(firstAnswer).rejects.toThrow();
    expect(shared?.signal?.aborted).not.toBe(true);
    shared?.answer();
    await expect(secondAnswer).resolves.toMatchObject({ accessKeyId: expect.any(String) });
    expect(sts.calls).toHaveLength(1);
  });

  it('cancels the shared call once every pod waiting on it has given up, and keeps nothing', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    sts.holding = true;
    const { resolver, cache } = resolverWith(sts);
    const one = new AbortController();
    const two = new AbortController();
    const answers = [
      resolver.credentials(mountOf(podNamed('app-1')), 'us-east-1', one.signal),
      resolver.credentials(mountOf(podNamed('app-2')), 'us-east-1', two.signal),
    ];
    const [shared] = await sts.received(1);
    await until(() => cache.callers === 2);
    one.abort(new Error('gone'));
    await expect(answers[0]).rejects.toThrow('gone');
    expect(shared?.signal?.aborted).not.toBe(true);
    two.abort(new Error('gone too'));
    await expect(answers[1]).rejects.toThrow('gone too');
    expect(shared?.signal?.aborted).toBe(true);
    expect(cache.size).toBe(0);
    sts.holding = false;
    await expect(resolver.credentials(mountOf(podNamed('app-3')), 'us-east-1')).resolves.toBeDefined();
    expect(sts.calls).toHaveLength(2);
  });

  it('never serves or fills the cache with a token that does not verify locally', async () => {
    // STS accepts anything here (as moto does), so only the local check stands between a
    // forged token and another pod's credentials.
    const sts = new FakeSts();
    const { resolver, metrics } = resolverWith(sts);
    const pod = podNamed('app-1');
    const forgedMount = () =>
      mountOf(pod, { token: cluster.token(pod, { audience: 'sts.amazonaws.com', forged: true }) });
    const fromForged = await resolver.credentials(forgedMount(), 'us-east-1');
    const fromValid = await resolver.credentials(mountOf(podNamed('app-2')), 'us-east-1');
    expect(fromValid.accessKeyId).not.toBe(fromForged.accessKeyId);
    const againForged = await resolver.credentials(forgedMount(), 'us-east-1');
    expect(againForged.accessKeyId).not.toBe(fromValid.accessKeyId);
    expect(sts.calls).toHaveLength(3);
    expect(metrics).toMatchObject({ hits: 0, misses: 3 });
  });

  it('sends a token of an earlier pod of the same name to STS rather than serve it from the cache', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    const { resolver, metrics } = resolverWith(sts);
    const earlier = podNamed('app-0');
    const replacement = { ...earlier, uid: 'uid-of-the-replacement' };
    await resolver.credentials(mountOf(podNamed('app-1')), 'us-east-1');
    const stale = cluster.token(earlier, { audience: 'sts.amazonaws.com' });
    await resolver.credentials(mountOf(replacement, { token: stale }), 'us-east-1');
    expect(sts.calls.map((c) => c.token)).toContain(stale);
    expect(metrics).toMatchObject({ hits: 0, misses: 2 });
  });

  it('names the session for the ServiceAccount that shares it, not for the first pod', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    const { resolver } = resolverWith(sts);
    const first = await resolver.credentials(mountOf(podNamed('app-1')), 'us-east-1');
    const second = await resolver.credentials(mountOf(podNamed('app-2')), 'us-east-1');
    expect(second).toBe(first);
    expect(sts.calls.map((c) => [c.sessionName, c.roleArn])).toEqual([['sa.default.app', ROLE]]);
  });

  it('keeps credentials apart per ServiceAccount and per region', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    const { resolver } = resolverWith(sts);
    const app = await resolver.credentials(mountOf(podNamed('a-1')), 'us-east-1');
    const other = await resolver.credentials(mountOf(podNamed('o-1', 'other')), 'us-east-1');
    const west = await resolver.credentials(mountOf(podNamed('a-2')), 'us-west-2');
    expect(new Set([app.accessKeyId, other.accessKeyId, west.accessKeyId]).size).toBe(3);
    expect(sts.calls.map((c) => [c.region, c.sessionName])).toEqual([
      ['us-east-1', 'sa.default.app'],
      ['us-east-1', 'sa.default.other'],
      ['us-west-2', 'sa.default.app'],
    ]);
  });
});

describe("IdentityResolver: a SecretSync's request (the sync controller's token, bound to no pod)", () => {
  it('shares the IRSA session of its ServiceAccount with the pods of that ServiceAccount, both ways', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    const { resolver, metrics } = resolverWith(sts);
    const fromPod = await resolver.credentials(mountOf(podNamed('app-1')), 'us-east-1');
    const fromSync = await resolver.credentials(syncOf('app'), 'us-east-1');
    expect(fromSync).toBe(fromPod);
    const other = await resolver.credentials(syncOf('other'), 'us-east-1');
    const otherPod = await resolver.credentials(mountOf(podNamed('o-1', 'other')), 'us-east-1');
    expect(otherPod).toBe(other);
    expect(other.accessKeyId).not.toBe(fromPod.accessKeyId);
    expect(sts.calls.map((c) => c.sessionName)).toEqual(['sa.default.app', 'sa.default.other']);
    expect(metrics.byRequester).toEqual([
      'irsa/pod/miss',
      'irsa/serviceaccount/hit',
      'irsa/serviceaccount/miss',
      'irsa/pod/hit',
    ]);
  });

  it("assumes the role of the request's ServiceAccount with the controller's token, not the controller's pod", async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    const { resolver } = resolverWith(sts);
    const input = syncOf('app');
    await resolver.credentials(input, 'eu-west-1');
    expect(sts.calls).toEqual([
      expect.objectContaining({
        operation: 'AssumeRoleWithWebIdentity',
        region: 'eu-west-1',
        roleArn: ROLE,
        sessionName: 'sa.default.app',
        token: input.tokens.get('sts.amazonaws.com'),
      }),
    ]);
  });

  it('makes one STS call for many SecretSyncs and pods of one ServiceAccount at once', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    sts.holding = true;
    const { resolver, cache, metrics } = resolverWith(sts);
    const requests = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0 ? syncOf('app') : mountOf(podNamed(`app-${i}`)),
    );
    const answers = requests.map((input) => resolver.credentials(input, 'us-east-1'));
    const [call] = await sts.received(1);
    await until(() => cache.callers === 20);
    call?.answer();
    expect(new Set((await Promise.all(answers)).map((c) => c.accessKeyId)).size).toBe(1);
    expect(sts.calls).toHaveLength(1);
    expect(metrics).toMatchObject({ hits: 19, misses: 1 });
  });

  it.each<[string, () => MountInput]>([
    [
      'a forged token',
      () =>
        syncOf('app', {
          tokens: {
            'sts.amazonaws.com': cluster.serviceAccountToken(
              { namespace: 'default', serviceAccount: 'app' },
              { audience: 'sts.amazonaws.com', forged: true },
            ),
          },
        }),
    ],
    [
      'a token of another ServiceAccount',
      () =>
        syncOf('app', {
          tokens: {
            'sts.amazonaws.com': cluster.serviceAccountToken(
              { namespace: 'default', serviceAccount: 'admin' },
              { audience: 'sts.amazonaws.com' },
            ),
          },
        }),
    ],
    [
      'a token of the same ServiceAccount name in another namespace',
      () =>
        syncOf('app', {
          tokens: {
            'sts.amazonaws.com': cluster.serviceAccountToken(
              { namespace: 'kube-system', serviceAccount: 'app' },
              { audience: 'sts.amazonaws.com' },
            ),
          },
        }),
    ],
    [
      'an expired token',
      () =>
        syncOf('app', {
          tokens: {
            'sts.amazonaws.com': cluster.serviceAccountToken(
              { namespace: 'default', serviceAccount: 'app' },
              { audience: 'sts.amazonaws.com', claims: { exp: Math.floor(Date.now() / 1000) - 600 } },
            ),
          },
        }),
    ],
    [
      "a pod's token of the ServiceAccount, bound to a pod the request does not name",
      () =>
        syncOf('app', {
          tokens: {
            'sts.amazonaws.com': cluster.token(podNamed('app-9'), { audience: 'sts.amazonaws.com' }),
          },
        }),
    ],
  ])('never serves or fills the cache for %s: STS judges it', async (_name, input) => {
    // STS accepts anything here (as moto does), so only the local check keeps the cache apart.
    const sts = new FakeSts();
    const { resolver, cache, metrics } = resolverWith(sts);
    const kept = await resolver.credentials(mountOf(podNamed('app-1')), 'us-east-1');
    const request = input();
    const judged = await resolver.credentials(request, 'us-east-1');
    expect(judged.accessKeyId).not.toBe(kept.accessKeyId);
    expect(sts.calls[1]?.token).toBe(request.tokens.get('sts.amazonaws.com'));
    expect(cache.size).toBe(1);
    expect(await resolver.credentials(mountOf(podNamed('app-2')), 'us-east-1')).toBe(kept);
    expect(metrics.byRequester).toEqual(['irsa/pod/miss', expect.stringMatching(/\/miss$/), 'irsa/pod/hit']);
  });

  it('sends a token it cannot verify (the keys unreadable) to STS each time, and keeps nothing', async () => {
    const sts = new FakeSts(judgedByStsAsAws);
    const { resolver, cache } = resolverWith(sts, undefined, async () => {
      throw new Error('forbidden: /openid/v1/jwks');
    });
    const first = await resolver.credentials(syncOf('app'), 'us-east-1');
    const second = await resolver.credentials(syncOf('app'), 'us-east-1');
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(sts.calls).toHaveLength(2);
    expect(cache.size).toBe(0);
  });

  it('is refused by STS when STS refuses its token, and the error names the ServiceAccount', async () => {
    const sts = new FakeSts((call) => {
      if (call.token.length > 0)
        throw awsError('AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    });
    const { resolver, cache } = resolverWith(sts);
    await expect(resolver.credentials(syncOf('app'), 'us-east-1')).rejects.toMatchObject({
      reason: 'CredentialsError',
      message: expect.stringMatching(/ServiceAccount default\/app .*system:serviceaccount:default:app/),
    });
    expect(cache.size).toBe(0);
  });
});

/** The node's Pod Identity agent: credentials that name the pod of the token, as EKS tags them. */
function podIdentityAgent(): PodIdentityAgentOnLoopback {
  const agent: PodIdentityAgentOnLoopback = new PodIdentityAgentOnLoopback((token, res) => {
    if (!cluster.signed(token)) {
      res.writeHead(400).end('{"message":"invalid token"}');
      return;
    }
    const pod = claimsOf(token)['kubernetes.io']?.pod;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(
      JSON.stringify({
        AccessKeyId: `ASIA-${pod?.name}-${pod?.uid}-${agent.authorizations.length}`,
        SecretAccessKey: 'secret-key',
        Token: 'session-token',
        Expiration: new Date(Date.now() + 3600_000).toISOString(),
      }),
    );
  });
  return agent;
}

describe('IdentityResolver: EKS Pod Identity credentials belong to one pod', () => {
  let agent: PodIdentityAgentOnLoopback;
  let agentUrl: string;
  beforeEach(async () => {
    agent = podIdentityAgent();
    agentUrl = await agent.start();
  });
  afterEach(async () => agent.stop());

  it('never serves one pod the credentials of another pod of its ServiceAccount', async () => {
    const { resolver } = resolverWith(new FakeSts(), agentUrl);
    const pods = ['app-1', 'app-2', 'app-3'].map((name) => podNamed(name));
    const concurrent = await Promise.all(
      pods.map((pod) => resolver.credentials(mountOf(pod, { usePodIdentity: true }), 'us-east-1')),
    );
    pods.forEach((pod, i) => expect(concurrent[i]?.accessKeyId).toContain(`-${pod.name}-${pod.uid}-`));
    const later = await resolver.credentials(
      mountOf(podNamed('app-4'), { usePodIdentity: true }),
      'us-east-1',
    );
    expect(later.accessKeyId).toContain('-app-4-uid-app-4-');
    expect(agent.authorizations).toHaveLength(4);
  });

  it('serves a pod remount from that pod own credentials once its new token verifies', async () => {
    const { resolver, metrics } = resolverWith(new FakeSts(), agentUrl);
    const pod = podNamed('app-1');
    const first = await resolver.credentials(mountOf(pod, { usePodIdentity: true }), 'us-east-1');
    const remount = await resolver.credentials(mountOf(pod, { usePodIdentity: true }), 'us-east-1');
    expect(remount).toBe(first);
    expect(agent.authorizations).toHaveLength(1);
    expect(metrics).toMatchObject({ hits: 1, misses: 1 });
  });

  it('sends a token of another pod to the agent instead of serving the pod named in the request', async () => {
    const { resolver } = resolverWith(new FakeSts(), agentUrl);
    const pod = podNamed('app-1');
    const own = await resolver.credentials(mountOf(pod, { usePodIdentity: true }), 'us-east-1');
    const othersToken = cluster.token(podNamed('app-2'), { audience: 'pods.eks.amazonaws.com' });
    const claimed = await resolver.credentials(
      mountOf(pod, { usePodIdentity: true, token: othersToken }),
      'us-east-1',
    );
    expect(claimed.accessKeyId).not.toBe(own.accessKeyId);
    expect(agent.authorizations).toEqual([expect.any(String), othersToken]);
  });

  it('does not fail the other pods when one pod token is refused', async () => {
    const { resolver } = resolverWith(new FakeSts(), agentUrl);
    const refused = podNamed('app-1');
    const outcomes = await Promise.allSettled([
      resolver.credentials(
        mountOf(refused, {
          usePodIdentity: true,
          token: cluster.token(refused, { audience: 'pods.eks.amazonaws.com', forged: true }),
        }),
        'us-east-1',
      ),
      resolver.credentials(mountOf(podNamed('app-2'), { usePodIdentity: true }), 'us-east-1'),
    ]);
    expect(outcomes[0]).toMatchObject({
      status: 'rejected',
      reason: { reason: 'CredentialsError', message: expect.stringContaining('HTTP 400') },
    });
    expect(outcomes[1]).toMatchObject({ status: 'fulfilled' });
  });
});
