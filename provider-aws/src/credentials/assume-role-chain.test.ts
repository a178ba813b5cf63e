// A class's assumeRoleArn: the pod's own credentials (IRSA or Pod Identity) chained into another
// role with sts:AssumeRole. What is asked of STS, what is kept, who shares it, what errors say.
import { until } from '@sscsi/common/testing';

import type { MountInput } from '../parameters/mount-request';
import { CredentialCache } from './credential-cache';
import type { MountOptions, PodOfToken } from '../testing/fake-cluster';
import { FakeCluster, mountInputFor, podNamed, syncInputFor } from '../testing/fake-cluster';
import type { StsCall } from '../testing/fake-sts';
import { awsError, FakeSts, unavailable } from '../testing/fake-sts';
import { IdentityResolver, StsUnavailableError } from './identity';
import { TokenVerifier } from './token-verifier';

const OWN_ROLE = 'arn:aws:iam::111122223333:role/app';
const TARGET = 'arn:aws:iam::444455556666:role/secrets-reader';
const OTHER_TARGET = 'arn:aws:iam::444455556666:role/other-reader';
const cluster = new FakeCluster();

/**
 * STS as AWS runs it, with trust policies: web identity tokens must be the cluster's; the target
 * role trusts only OWN_ROLE, and with external ID "tenant-42" when one is asked for.
 */
function judgedAsAws(call: StsCall): void {
  if (call.operation === 'AssumeRoleWithWebIdentity') {
    if (!cluster.signed(call.token)) throw awsError('InvalidIdentityToken', 400, 'Couldn’t verify the token');
    return;
  }
  if (call.callerRole !== OWN_ROLE || (call.externalId !== undefined && call.externalId !== 'tenant-42')) {
    throw awsError(
      'AccessDenied',
      403,
      `User: ${call.callerRole ?? 'unknown'} is not authorized to perform: sts:AssumeRole on resource: ${call.roleArn}`,
    );
  }
}

const withTarget = (pod: PodOfToken, parameters: Record<string, string> = {}, options: MountOptions = {}) =>
  mountInputFor(cluster, pod, {
    ...options,
    parameters: { assumeRoleArn: TARGET, ...parameters, ...options.parameters },
  });

function resolverWith(sts: FakeSts, podIdentityCalls: string[] = []) {
  const cache = new CredentialCache();
  const resolver = new IdentityResolver({
    clients: sts,
    cache,
    verifier: new TokenVerifier(async () => cluster.signingKeys()),
    lookups: { roleArn: async () => OWN_ROLE },
    // Pod Identity's agent hands out credentials of the association's role, OWN_ROLE here.
    podIdentity: {
      credentials: async (token: string) => {
        podIdentityCalls.push(token);
        if (!cluster.signed(token)) throw new Error('the agent refused the token');
        const accessKeyId = `ASIAPODIDENTITY${podIdentityCalls.length}`;
        sts.registerKey(accessKeyId, OWN_ROLE);
        return {
          accessKeyId,
          secretAccessKey: 's',
          sessionToken: 't',
          expiration: new Date(Date.now() + 3600_000),
        };
      },
    },
    metrics: { credentialCache: () => undefined },
  });
  return { resolver, cache };
}

const byOperation = (sts: FakeSts, operation: StsCall['operation']) =>
  sts.calls.filter((c) => c.operation === operation);

describe('assumeRoleArn: the pod reads with the role it chains into', () => {
  it('assumes its own role with its token, then the class role with those credentials', async () => {
    const sts = new FakeSts(judgedAsAws);
    const { resolver } = resolverWith(sts);
    const input = withTarget(podNamed('app-0'), {
      assumeRoleExternalId: 'tenant-42',
      assumeRoleSessionDuration: '15m',
    });
    const credentials = await resolver.credentials(input, 'us-east-1');
    expect(sts.calls.map((c) => [c.operation, c.roleArn])).toEqual([
      ['AssumeRoleWithWebIdentity', OWN_ROLE],
      ['AssumeRole', TARGET],
    ]);
    const [web, chained] = sts.calls as [StsCall, StsCall];
    expect(chained).toMatchObject({
      region: 'us-east-1',
      callerRole: OWN_ROLE,
      externalId: 'tenant-42',
      durationSeconds: 900,
      sessionName: web.sessionName,
    });
    // The target's credentials, not the pod's own.
    expect(sts.roleOf(credentials.accessKeyId)).toBe(TARGET);
  });

  it('chains Pod Identity credentials as well', async () => {
    const sts = new FakeSts(judgedAsAws);
    const agent: string[] = [];
    const { resolver } = resolverWith(sts, agent);
    const input = withTarget(podNamed('app-0'), {}, { usePodIdentity: true });
    const credentials = await resolver.credentials(input, 'us-east-1');
    expect(agent).toHaveLength(1);
    expect(sts.calls.map((c) => [c.operation, c.callerRole])).toEqual([['AssumeRole', OWN_ROLE]]);
    expect(sts.roleOf(credentials.accessKeyId)).toBe(TARGET);
  });

  it('keeps the chained credentials: 20 pods of the ServiceAccount at once make one call of each kind', async () => {
    const sts = new FakeSts(judgedAsAws);
    sts.holding = true;
    const { resolver } = resolverWith(sts);
    const mounts = Array.from({ length: 20 }, (_, i) =>
      resolver.credentials(withTarget(podNamed(`app-${i}`)), 'us-east-1'),
    );
    (await sts.received(1))[0]?.answer();
    (await sts.received(2))[1]?.answer();
    const served = await Promise.all(mounts);
    expect(new Set(served.map((c) => c.accessKeyId)).size).toBe(1);
    expect(byOperation(sts, 'AssumeRoleWithWebIdentity')).toHaveLength(1);
    expect(byOperation(sts, 'AssumeRole')).toHaveLength(1);
    // A later pod is served from the cache.
    await resolver.credentials(withTarget(podNamed('app-20')), 'us-east-1');
    expect(sts.calls).toHaveLength(2);
  });

  it("serves a SecretSync's request the chain its ServiceAccount's pods made, and only after its token verified", async () => {
    const sts = new FakeSts(judgedAsAws);
    const { resolver, cache } = resolverWith(sts);
    const sync = (token?: string) =>
      syncInputFor(
        cluster,
        { namespace: 'default', serviceAccount: 'app' },
        {
          parameters: { assumeRoleArn: TARGET },
          ...(token ? { tokens: { 'sts.amazonaws.com': token } } : {}),
        },
      );
    const fromPod = await resolver.credentials(withTarget(podNamed('app-0')), 'us-east-1');
    expect(await resolver.credentials(sync(), 'us-east-1')).toBe(fromPod);
    expect(sts.calls).toHaveLength(2);
    const forged = cluster.serviceAccountToken(
      { namespace: 'default', serviceAccount: 'app' },
      { audience: 'sts.amazonaws.com', forged: true },
    );
    await expect(resolver.credentials(sync(forged), 'us-east-1')).rejects.toMatchObject({
      message: expect.stringContaining('InvalidIdentityToken'),
    });
    expect(byOperation(sts, 'AssumeRole')).toHaveLength(1);
    expect(cache.size).toBe(2);
  });

  it("keeps one entry per target role, external ID and duration; the pod's own credentials once", async () => {
    const sts = new FakeSts(judgedAsAws);
    const { resolver } = resolverWith(sts);
    const pod = podNamed('app-0');
    const a = await resolver.credentials(withTarget(pod), 'us-east-1');
    const b = await resolver.credentials(withTarget(pod, { assumeRoleExternalId: 'tenant-42' }), 'us-east-1');
    const own = await resolver.credentials(mountInputFor(cluster, pod), 'us-east-1');
    expect(new Set([a.accessKeyId, b.accessKeyId, own.accessKeyId]).size).toBe(3);
    expect(sts.roleOf(own.accessKeyId)).toBe(OWN_ROLE);
    expect(byOperation(sts, 'AssumeRoleWithWebIdentity')).toHaveLength(1);
    expect(byOperation(sts, 'AssumeRole')).toHaveLength(2);
  });

  it('never serves kept chained credentials to a pod whose token does not verify', async () => {
    const sts = new FakeSts(judgedAsAws);
    const { resolver, cache } = resolverWith(sts);
    await resolver.credentials(withTarget(podNamed('app-0')), 'us-east-1');
    const kept = cache.size;
    const forger = podNamed('app-1');
    const forged = withTarget(
      forger,
      {},
      {
        token: cluster.token(forger, { audience: 'sts.amazonaws.com', forged: true }),
      },
    );
    await expect(resolver.credentials(forged, 'us-east-1')).rejects.toMatchObject({
      reason: 'CredentialsError',
      message: expect.stringContaining('InvalidIdentityToken'),
    });
    // STS judged the forged token itself; no AssumeRole was made for it, nothing new was kept.
    expect(sts.calls.at(-1)).toMatchObject({ operation: 'AssumeRoleWithWebIdentity', roleArn: OWN_ROLE });
    expect(byOperation(sts, 'AssumeRole')).toHaveLength(1);
    expect(cache.size).toBe(kept);
  });

  it('a pod whose token is signed but not verifiable here gets its own chain, not kept', async () => {
    // A token STS accepts but the local verifier cannot place (another pod's uid than the request's).
    const sts = new FakeSts(judgedAsAws);
    const { resolver, cache } = resolverWith(sts);
    const pod = podNamed('app-0');
    const impostor = { ...withTarget(pod), pod: { ...pod, name: 'other', uid: 'uid-other' } } as MountInput;
    const credentials = await resolver.credentials(impostor, 'us-east-1');
    expect(sts.roleOf(credentials.accessKeyId)).toBe(TARGET);
    expect(cache.size).toBe(0);
    await resolver.credentials(impostor, 'us-east-1');
    expect(byOperation(sts, 'AssumeRole')).toHaveLength(2);
  });

  it('does not share chained credentials between ServiceAccounts', async () => {
    const sts = new FakeSts(judgedAsAws);
    const { resolver } = resolverWith(sts);
    const a = await resolver.credentials(withTarget(podNamed('a-0', 'app')), 'us-east-1');
    const b = await resolver.credentials(withTarget(podNamed('b-0', 'other')), 'us-east-1');
    expect(a.accessKeyId).not.toBe(b.accessKeyId);
    expect(byOperation(sts, 'AssumeRole')).toHaveLength(2);
  });

  it('a caller that gives up does not cancel the chain for the others', async () => {
    const sts = new FakeSts(judgedAsAws);
    sts.holding = true;
    const { resolver } = resolverWith(sts);
    const leaving = new AbortController();
    const first = resolver.credentials(withTarget(podNamed('app-0')), 'us-east-1', leaving.signal);
    const second = resolver.credentials(withTarget(podNamed('app-1')), 'us-east-1');
    (await sts.received(1))[0]?.answer();
    const [, chained] = await sts.received(2);
    leaving.abort(new Error('the driver gave up'));
    await expect(first).rejects.toThrow('the driver gave up');
    chained?.answer();
    expect(sts.roleOf((await second).accessKeyId)).toBe(TARGET);
    expect(chained?.signal?.aborted).toBe(false);
  });
});

describe('assumeRoleArn: errors name both roles', () => {
  it("a trust policy that does not let the pod in: names the target, the pod's role and what to fix", async () => {
    const sts = new FakeSts(judgedAsAws);
    const { resolver } = resolverWith(sts);
    const input = withTarget(podNamed('app-0'), { assumeRoleExternalId: 'wrong-tenant' });
    const failure = resolver.credentials(input, 'us-east-1');
    await expect(failure).rejects.toMatchObject({ reason: 'CredentialsError' });
    const message = ((await failure.catch((e: unknown) => e)) as Error).message;
    expect(message).toContain(`failed to assume role ${TARGET} (assumeRoleArn)`);
    expect(message).toContain(`with the credentials of role ${OWN_ROLE} of ServiceAccount default/app`);
    expect(message).toContain('in us-east-1: AccessDenied');
    expect(message).toContain(
      `the trust policy of ${TARGET} must allow ${OWN_ROLE} to call sts:AssumeRole with this sts:ExternalId`,
    );
    expect(message).not.toContain('wrong-tenant');
  });

  it("with Pod Identity: names the ServiceAccount's association", async () => {
    const sts = new FakeSts((call) => {
      if (call.operation === 'AssumeRole') throw awsError('AccessDenied', 403, 'not authorized');
    });
    const { resolver } = resolverWith(sts);
    const input = withTarget(podNamed('app-0'), { assumeRoleArn: OTHER_TARGET }, { usePodIdentity: true });
    await expect(resolver.credentials(input, 'us-east-1')).rejects.toThrow(
      `failed to assume role ${OTHER_TARGET} (assumeRoleArn) with the credentials of the EKS Pod Identity role of ServiceAccount default/app in us-east-1: AccessDenied`,
    );
  });

  it("the pod's own role refused: the error is about the pod's own role, and no AssumeRole is made", async () => {
    const sts = new FakeSts((call) => {
      if (call.operation === 'AssumeRoleWithWebIdentity')
        throw awsError('AccessDenied', 403, 'Not authorized');
    });
    const { resolver } = resolverWith(sts);
    await expect(resolver.credentials(withTarget(podNamed('app-0')), 'us-east-1')).rejects.toThrow(
      `failed to assume role ${OWN_ROLE} for ServiceAccount default/app in us-east-1: AccessDenied`,
    );
    expect(byOperation(sts, 'AssumeRole')).toHaveLength(0);
  });

  it('STS unavailable for the chained call: an error the failover region may fix, kept nothing', async () => {
    const sts = new FakeSts((call) => {
      if (call.operation === 'AssumeRole' && call.region === 'us-east-1') throw unavailable();
    });
    const { resolver, cache } = resolverWith(sts);
    const input = withTarget(podNamed('app-0'), { failoverRegion: 'us-west-2' });
    const failure = await resolver.credentials(input, 'us-east-1').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StsUnavailableError);
    expect((failure as StsUnavailableError).message).toContain(`failed to assume role ${TARGET}`);
    expect(cache.size).toBe(1); // the pod's own credentials only
    const credentials = await resolver.credentials(input, 'us-west-2');
    expect(sts.roleOf(credentials.accessKeyId)).toBe(TARGET);
    await until(() => sts.calls.length === 4);
    expect(sts.calls.map((c) => `${c.operation} ${c.region}`)).toEqual([
      'AssumeRoleWithWebIdentity us-east-1',
      'AssumeRole us-east-1',
      'AssumeRoleWithWebIdentity us-west-2',
      'AssumeRole us-west-2',
    ]);
  });
});
