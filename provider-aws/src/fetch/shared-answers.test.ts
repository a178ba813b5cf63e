// AWS answers shared by the mounts of one verified identity: rotation rounds of many pods through
// the real Mount handler (AWS faked, counting calls), what a round may reuse and what it may not,
// and the shared calls' behaviour under cancellation and failure.
import { until } from '@sscsi/common/testing';
import type { MountRequest__Output, MountResponse } from '@sscsi/proto';
import { DescribeSecretCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import type { GetParametersCommand } from '@aws-sdk/client-ssm';

import { CredentialCache } from '../credentials/credential-cache';
import { FakeCluster, podNamed } from '../testing/fake-cluster';
import { awsError, FakeSts } from '../testing/fake-sts';
import type { AwsClients } from '../aws-clients';
import type { AwsCredentials } from '../credentials/credential-cache';
import type { IdentityResolver } from '../credentials/identity';
import { IdentityResolver as RealIdentityResolver } from '../credentials/identity';
import { PodIdentityAgent } from '../credentials/pod-identity';
import { TokenVerifier } from '../credentials/token-verifier';
import { FakeAws } from '../testing/fake-aws';
import { HeldClient } from '../testing/held-client';
import { mountHarness, mountRequest, podAttributes } from '../testing/mount-harness';
import { MAX_KEPT_ANSWERS } from './kept-answers';
import type { MountRound, Sender } from './shared-answers';
import { MAX_KEPT_LISTING_BYTES, MAX_KEPT_VALUE_BYTES, SharedAnswers } from './shared-answers';
import { parameterNameOf } from './ssm-names';

const REGION = 'us-east-1';
const WINDOW_MS = 30_000;
const OBJECTS = [
  '- {objectName: MyDBSecret, objectType: secretsmanager}',
  '- {objectName: /app/db/username, objectType: ssmparameter}',
  '- {objectName: /app/db/password, objectType: ssmparameter}',
].join('\n');

type Versions = Array<{ id: string; version: string }>;

interface Pod {
  name: string;
  serviceAccount: string;
  tokens: string;
  versions: Versions;
}

const targetOf = (pod: Pod) => `/var/lib/kubelet/pods/uid-${pod.name}/volumes/kubernetes.io~csi/v/mount`;

function request(pod: Pod, objects = OBJECTS): MountRequest__Output {
  const mounting = { ...pod, namespace: 'default', uid: `uid-${pod.name}` };
  return mountRequest(
    targetOf(pod),
    { ...podAttributes(mounting, pod.tokens), region: REGION, objects },
    pod.versions,
  );
}

const contents = (res: MountResponse) =>
  Object.fromEntries((res.files ?? []).map((f) => [f.path, Buffer.from(f.contents ?? '').toString()]));

type Identity = Pick<IdentityResolver, 'credentials'>;

/** One credentials object per ServiceAccount: what the credential cache gives verified pods. */
function credentialsPerServiceAccount(): Identity {
  const bySa = new Map<string, AwsCredentials>();
  return {
    credentials: async (input) => {
      const sa = input.pod.serviceAccount;
      const credentials = bySa.get(sa) ?? {
        accessKeyId: `AKID-${sa}`,
        secretAccessKey: 's',
        sessionToken: 't',
      };
      bySa.set(sa, credentials);
      return credentials;
    },
  };
}

/** As IAM does with a GetParameters call that names one parameter the role may not read: denied whole. */
function denying(aws: FakeAws, names: ReadonlySet<string>): AwsClients {
  const ssm = (region: string, credentials: AwsCredentials) => {
    const client = aws.clients.ssm(region, credentials);
    return {
      send: (command: GetParametersCommand, options?: { abortSignal?: AbortSignal }) => {
        const denied = (command.input.Names ?? []).find((n) => names.has(parameterNameOf(n)));
        if (denied === undefined) return client.send(command, options);
        aws.calls.push({ region, op: 'GetParameters', input: { ...command.input } });
        return Promise.reject(awsError('AccessDeniedException', 400, `not authorized to read ${denied}`));
      },
    };
  };
  return { secretsManager: aws.clients.secretsManager, ssm } as unknown as AwsClients;
}

function harness(options: { identity?: Identity; windowMs?: number; denied?: string[] } = {}) {
  const aws = new FakeAws();
  let now = 1_000_000;
  const shared = new SharedAnswers({
    windowMs: options.windowMs ?? WINDOW_MS,
    coalesceMs: 1,
    now: () => now,
  });
  const { service, registry } = mountHarness({
    identity: options.identity ?? credentialsPerServiceAccount(),
    clients: denying(aws, new Set(options.denied ?? [])),
    sharedAnswers: shared,
  });
  const tokens = JSON.stringify({ 'sts.amazonaws.com': { token: 'header.payload.signature' } });
  const pods = (count: number, serviceAccountOf: (i: number) => string): Pod[] =>
    Array.from({ length: count }, (_, i) => ({
      name: `pod-${i}`,
      serviceAccount: serviceAccountOf(i),
      tokens,
      versions: [],
    }));
  /** Every pod mounts at once; each keeps the versions it got, as the driver does. */
  const round = async (all: Pod[]) => {
    const before = aws.calls.length;
    const results = await Promise.all(all.map((pod) => service.mount(request(pod))));
    results.forEach((res, i) => {
      (all[i] as Pod).versions = (res.objectVersion ?? []).map((v) => ({
        id: v.id ?? '',
        version: v.version ?? '',
      }));
    });
    return { results, calls: aws.calls.slice(before) };
  };
  const advance = (ms: number) => {
    now += ms;
  };
  return { aws, service, shared, pods, round, advance, registry };
}

function putArticle(aws: FakeAws, generation: number) {
  aws.putSecret(REGION, 'MyDBSecret', {
    [`v${generation}`]: { value: `{"password":"p${generation}"}`, stages: ['AWSCURRENT'] },
  });
  aws.putParameter(REGION, '/app/db/username', { value: `user${generation}`, version: generation });
  aws.putParameter(REGION, '/app/db/password', { value: `pass${generation}`, version: generation });
}

const ops = (calls: Array<{ op: string }>) =>
  calls.reduce<Record<string, number>>((n, c) => ({ ...n, [c.op]: (n[c.op] ?? 0) + 1 }), {});

describe('a rotation round of 110 pods', () => {
  it('of one identity makes one DescribeSecret and one GetParameters, and every pod gets its files', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const pods = h.pods(110, () => 'app');
    await h.round(pods);
    h.advance(120_000);
    const { results, calls } = await h.round(pods);
    expect(ops(calls)).toEqual({ DescribeSecret: 1, GetParameters: 1 });
    for (const res of results) {
      expect(contents(res)).toEqual({
        MyDBSecret: '{"password":"p1"}',
        _app_db_username: 'user1',
        _app_db_password: 'pass1',
      });
    }
  });

  it('of 110 ServiceAccounts makes one call per identity and service: calls grow with identities x objects, not pods', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const pods = h.pods(110, (i) => `sa-${i}`);
    await h.round(pods);
    h.advance(120_000);
    const { calls } = await h.round(pods);
    expect(ops(calls)).toEqual({ DescribeSecret: 110, GetParameters: 110 });
    // Never a call carrying one identity's request for another: each call was made by its own pod.
    expect(new Set(calls.map((c) => JSON.stringify(c.input))).size).toBe(1 + 1);
  });

  it('gets a value changed between two rounds to every pod in the next round, even within the window', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const pods = h.pods(110, () => 'app');
    await h.round(pods);
    h.advance(1_000);
    await h.round(pods);
    putArticle(h.aws, 2);
    h.advance(1_000); // far less than the window: answers of the last round are still kept
    const { results, calls } = await h.round(pods);
    for (const res of results) {
      expect(contents(res)).toEqual({
        MyDBSecret: '{"password":"p2"}',
        _app_db_username: 'user2',
        _app_db_password: 'pass2',
      });
    }
    expect(ops(calls)).toEqual({ DescribeSecret: 1, GetSecretValue: 1, GetParameters: 1 });
  });

  it('serves later remounts of the same round from the kept answers, until the window is over', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const [early, late, later] = h.pods(3, () => 'app') as [Pod, Pod, Pod];
    await h.round([early, late, later]);
    h.advance(120_000);
    expect(ops((await h.round([early])).calls)).toEqual({ DescribeSecret: 1, GetParameters: 1 });
    h.advance(WINDOW_MS - 1_000);
    expect((await h.round([late])).calls).toEqual([]);
    h.advance(2_000);
    expect(ops((await h.round([later])).calls)).toEqual({ DescribeSecret: 1, GetParameters: 1 });
  });
});

describe('a changed secret', () => {
  it('is read once per round even when the remounts come one after another', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const pods = h.pods(3, () => 'app');
    await h.round(pods);
    h.advance(120_000);
    putArticle(h.aws, 2);
    const calls: Array<{ op: string }> = [];
    for (const pod of pods) {
      const { results, calls: made } = await h.round([pod]);
      expect(contents(results[0] as MountResponse).MyDBSecret).toBe('{"password":"p2"}');
      calls.push(...made);
      h.advance(1_000);
    }
    expect(ops(calls)).toEqual({ DescribeSecret: 1, GetSecretValue: 1, GetParameters: 1 });
  });

  it('values kept for other pods stay within their byte budget', async () => {
    const h = harness();
    const big = (g: number) => ({ [`v${g}`]: { value: `${g}`.repeat(16 * 1024), stages: ['AWSCURRENT'] } });
    for (let i = 0; i < 200; i++) h.aws.putSecret(REGION, `big-${i}`, big(1));
    const pods = h.pods(200, (i) => `sa-${i}`);
    const objects = (i: number) => `- {objectName: big-${i}, objectType: secretsmanager}`;
    const mountAll = () =>
      Promise.all(
        pods.map(async (pod, i) => {
          const res = await h.service.mount(request(pod, objects(i)));
          pod.versions = (res.objectVersion ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' }));
          return res;
        }),
      );
    await mountAll();
    h.advance(120_000);
    for (let i = 0; i < 200; i++) h.aws.putSecret(REGION, `big-${i}`, big(2));
    const results = await mountAll();
    expect(results.map((r) => contents(r)[`big-${results.indexOf(r)}`]?.slice(0, 1))).toEqual(
      Array(200).fill('2'),
    );
    expect(h.shared.size.valueBytes).toBeGreaterThan(0);
    expect(h.shared.size.valueBytes).toBeLessThanOrEqual(MAX_KEPT_VALUE_BYTES);
  });
});

describe('what a mount may reuse', () => {
  it('a volume never gets back an answer from before its own previous mount', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const [pod] = h.pods(1, () => 'app') as [Pod];
    await h.round([pod]);
    await h.round([pod]);
    putArticle(h.aws, 2);
    const { results, calls } = await h.round([pod]);
    expect(contents(results[0] as MountResponse)['_app_db_password']).toBe('pass2');
    expect(ops(calls)).toEqual({ DescribeSecret: 1, GetSecretValue: 1, GetParameters: 1 });
  });

  it('a first mount uses no kept answer (with rotation off it would keep a stale value for good)', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const [a, b] = h.pods(2, () => 'app') as [Pod, Pod];
    await h.round([a]);
    putArticle(h.aws, 2);
    const { results } = await h.round([b]);
    expect(contents(results[0] as MountResponse)).toEqual({
      MyDBSecret: '{"password":"p2"}',
      _app_db_username: 'user2',
      _app_db_password: 'pass2',
    });
  });

  it('first mounts at once share the calls in flight: 110 new pods, one GetSecretValue', async () => {
    const h = harness();
    putArticle(h.aws, 1);
    h.aws.delay = () => 5;
    const { calls } = await h.round(h.pods(110, () => 'app'));
    expect(ops(calls)).toEqual({ GetSecretValue: 1, GetParameters: 1 });
  });

  it('with a window of 0 only calls in flight are shared', async () => {
    const h = harness({ windowMs: 0 });
    putArticle(h.aws, 1);
    const [a, b] = h.pods(2, () => 'app') as [Pod, Pod];
    await h.round([a, b]);
    h.advance(120_000);
    await h.round([a]);
    expect(ops((await h.round([b])).calls)).toEqual({ DescribeSecret: 1, GetParameters: 1 });
  });
});

describe('memory', () => {
  it('2,000 short-lived pods leave no secret values behind, and at most the bound of parameter answers', async () => {
    const h = harness();
    for (let start = 0; start < 2000; start += 50) {
      const pods = Array.from({ length: 50 }, (_, i) => {
        const name = `short-${start + i}`;
        h.aws.putSecret(REGION, `${name}-secret`, {
          v1: { value: 'x'.repeat(1024), stages: ['AWSCURRENT'] },
        });
        h.aws.putParameter(REGION, `/${name}/p`, { value: 'y', version: 1 });
        const pod: Pod = { name, serviceAccount: 'app', tokens: '{}', versions: [] };
        return pod;
      });
      await Promise.all(
        pods.map((pod) =>
          h.service.mount(
            request(
              { ...pod, tokens: JSON.stringify({ 'sts.amazonaws.com': { token: 'a.b.c' } }) },
              `- {objectName: ${pod.name}-secret, objectType: secretsmanager}\n- {objectName: /${pod.name}/p, objectType: ssmparameter}`,
            ),
          ),
        ),
      );
    }
    expect(h.shared.size.answers).toBeLessThanOrEqual(MAX_KEPT_ANSWERS);
    h.advance(WINDOW_MS);
    h.shared.sweep();
    expect(h.shared.size).toEqual({ answers: 0, valueBytes: 0, listingBytes: 0, volumes: 0 });
  });
});

describe('selection listings kept', () => {
  it('keep only what a selection reads of a page (no ARNs, no descriptions), within their byte budget', async () => {
    const h = harness();
    // 20 secrets with 10 long tags each: one listing page is over 100 KiB as kept.
    const tags = Object.fromEntries(Array.from({ length: 10 }, (_, t) => [`tag${t}`, 'v'.repeat(250)]));
    for (let i = 0; i < 20; i++)
      h.aws.putSecret(REGION, `big/s${i}`, { v1: { value: 'x', stages: ['AWSCURRENT'] } }, tags);
    const pods = h.pods(30, (i) => `sa-${i}`);
    const results = await Promise.all(
      pods.map((pod) => h.service.mount(request(pod, '- {objectNamePrefix: big/}'))),
    );
    expect(results.map((r) => Object.keys(contents(r)).length)).toEqual(Array(30).fill(20));
    expect(h.aws.count('ListSecrets')).toBe(30);
    expect(h.shared.size.listingBytes).toBeGreaterThan(100 * 1024);
    expect(h.shared.size.listingBytes).toBeLessThanOrEqual(MAX_KEPT_LISTING_BYTES);
  });

  it('a joined listing answers the page as the selection reads it', async () => {
    const shared = new SharedAnswers({ windowMs: WINDOW_MS, coalesceMs: 1 });
    const held = new HeldClient();
    const credentials = { accessKeyId: 'AKID' };
    const list = () => new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['p/'] }] });
    const [a, b] = ['/la', '/lb'].map((p) =>
      shared.secretsManager(held, credentials, REGION, shared.beginMount(p, true)).send(list()),
    );
    await until(() => held.calls.length === 1);
    held.calls[0]?.answer({
      $metadata: { httpStatusCode: 200 },
      SecretList: [
        {
          Name: 'p/a',
          ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:p/a-AbCdEf',
          Description: 'd'.repeat(2048),
          KmsKeyId: 'alias/k',
          Tags: [{ Key: 'team', Value: 'a' }],
          SecretVersionsToStages: { v1: ['AWSCURRENT'] },
        },
      ],
      NextToken: 'next',
    });
    const page = {
      $metadata: {},
      SecretList: [
        { Name: 'p/a', Tags: [{ Key: 'team', Value: 'a' }], SecretVersionsToStages: { v1: ['AWSCURRENT'] } },
      ],
      NextToken: 'next',
    };
    await expect(a).resolves.toEqual(page);
    await expect(b).resolves.toEqual(page);
    expect(shared.size.listingBytes).toBeLessThan(1024);
  });
});

describe('who shares', () => {
  const cluster = new FakeCluster();

  it('pods whose own token verified share; a pod whose token did not verify locally shares with no one', async () => {
    const sts = new FakeSts((call) => {
      if (!cluster.signed(call.token)) throw awsError('InvalidIdentityToken', 400);
    });
    const identity = new RealIdentityResolver({
      clients: sts,
      cache: new CredentialCache(),
      verifier: new TokenVerifier(async () => cluster.signingKeys()),
      lookups: { roleArn: async () => 'arn:aws:iam::111122223333:role/app' },
      podIdentity: new PodIdentityAgent({
        ipv4Url: 'http://127.0.0.1:1',
        ipv6Url: 'http://127.0.0.1:1',
        timeoutMs: 100,
      }),
      metrics: { credentialCache: () => undefined },
    });
    const h = harness({ identity });
    putArticle(h.aws, 1);
    const pods: Pod[] = ['a', 'b', 'c', 'd'].map((name) => ({
      name,
      serviceAccount: 'app',
      // d presents a token the cluster signed for another pod: STS accepts it, the local check does not.
      tokens: JSON.stringify({
        'sts.amazonaws.com': {
          token: cluster.token(podNamed(name === 'd' ? 'a' : name), { audience: 'sts.amazonaws.com' }),
        },
      }),
      versions: [],
    }));
    await h.round(pods);
    h.advance(120_000);
    const { calls } = await h.round(pods);
    expect(ops(calls)).toEqual({ DescribeSecret: 2, GetParameters: 2 });
  });
});

describe('shared calls: cancellation and faults', () => {
  const credentials = { accessKeyId: 'AKID' };
  const shared = new SharedAnswers({ windowMs: WINDOW_MS, coalesceMs: 1 });
  const round = (path: string): MountRound => shared.beginMount(path, true);

  it('a cancelled mount does not cancel the call others wait on; the last one leaving does', async () => {
    const held = new HeldClient();
    const a = new AbortController();
    const b = new AbortController();
    const c = new AbortController();
    const describe = () => new DescribeSecretCommand({ SecretId: 'cancel-me' });
    const [ca, cb, cc] = ['/a', '/b', '/c'].map((p) =>
      shared.secretsManager(held, credentials, REGION, round(p)),
    ) as unknown as [Sender, Sender, Sender];
    const first = ca.send(describe(), { abortSignal: a.signal });
    const second = cb.send(describe(), { abortSignal: b.signal });
    await until(() => held.calls.length === 1);
    a.abort(new Error('driver gave up'));
    await expect(first).rejects.toThrow('driver gave up');
    expect(held.calls[0]?.signal?.aborted).toBe(false);
    held.calls[0]?.answer({ VersionIdsToStages: { v1: ['AWSCURRENT'] } });
    await expect(second).resolves.toEqual({ VersionIdsToStages: { v1: ['AWSCURRENT'] } });

    const other = () => new DescribeSecretCommand({ SecretId: 'all-leave' });
    const third = cc.send(other(), { abortSignal: c.signal });
    await until(() => held.calls.length === 2);
    c.abort(new Error('gone'));
    await expect(third).rejects.toThrow('gone');
    expect(held.calls[1]?.signal?.aborted).toBe(true);
    // Nothing kept of a call no one waited for: the next mount asks again.
    void shared.secretsManager(held, credentials, REGION, round('/d')).send(other());
    await until(() => held.calls.length === 3);
    held.calls[2]?.answer({});
  });

  it('a failed answer is not kept: the next mount asks AWS again', async () => {
    const held = new HeldClient();
    const describe = () => new DescribeSecretCommand({ SecretId: 'flaky' });
    const first = shared.secretsManager(held, credentials, REGION, round('/e')).send(describe());
    await until(() => held.calls.length === 1);
    held.calls[0]?.fail(awsError('ThrottlingException', 400));
    await expect(first).rejects.toMatchObject({ name: 'ThrottlingException' });
    const again = shared.secretsManager(held, credentials, REGION, round('/f')).send(describe());
    await until(() => held.calls.length === 2);
    held.calls[1]?.answer({ VersionIdsToStages: {} });
    await expect(again).resolves.toEqual({ VersionIdsToStages: {} });
  });

  it("one mount's forbidden parameter, coalesced into others' call, fails only that mount", async () => {
    const h = harness({ denied: ['/other/secret'] });
    putArticle(h.aws, 1);
    h.aws.putParameter(REGION, '/other/secret', { value: 'x', version: 1 });
    const pods = h.pods(5, () => 'app');
    const nosy: Pod = { ...(pods[0] as Pod), name: 'nosy', versions: [] };
    const outcomes = await Promise.allSettled([
      ...pods.map((pod) => h.service.mount(request(pod))),
      h.service.mount(request(nosy, '- {objectName: /other/secret, objectType: ssmparameter}')),
    ]);
    expect(outcomes.slice(0, 5).map((o) => o.status)).toEqual(Array(5).fill('fulfilled'));
    expect(outcomes[5]).toMatchObject({
      status: 'rejected',
      reason: { message: expect.stringMatching(/AccessDeniedException/) },
    });
    // The mixed call, then the pods' names alone (one call for all five) and the forbidden one alone.
    expect(h.aws.count('GetParameters')).toBe(3);
  });

  it("one mount's missing parameter fails only that mount", async () => {
    const h = harness();
    putArticle(h.aws, 1);
    const [pod] = h.pods(1, () => 'app') as [Pod];
    const lost: Pod = { ...pod, name: 'lost' };
    const outcomes = await Promise.allSettled([
      h.service.mount(request(pod)),
      h.service.mount(request(lost, '- {objectName: /no/such, objectType: ssmparameter}')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
    expect(h.aws.count('GetParameters')).toBe(1);
  });
});
