// Secrets selected by name prefix and tags (objectNamePrefix, objectTags), through the Mount
// handler: the files a first mount writes, what a rotation remount lists and reads, the limits,
// and the errors a user sees.
import { rejectionOf } from '@sscsi/common/testing';
import type { MountResponse } from '@sscsi/proto';

import type { AwsClients } from './aws-clients';
import type { AwsCredentials } from './credentials/credential-cache';
import { MountError } from './errors';
import { SharedAnswers } from './fetch/shared-answers';
import { MAX_TREE_BYTES } from './parameters/tree-limits';
import { MAX_LISTED_SECRETS, MAX_SELECTED_SECRETS } from './parameters/tree-limits';
import { FakeAws } from './testing/fake-aws';
import { awsError } from './testing/fake-sts';
import { mountHarness, mountRequest, podAttributes, REGION } from './testing/mount-harness';

const FAILOVER = 'us-west-2';
const TARGET_PATH = '/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/v/mount';
const tokens = JSON.stringify({ 'sts.amazonaws.com': { token: 'header.payload.signature' } });
const pod = { name: 'app', namespace: 'default', uid: 'uid-app', serviceAccount: 'sa' };

const request = (
  objects: string,
  extra: Record<string, string> = {},
  current: MountResponse['objectVersion'] = [],
) =>
  mountRequest(
    TARGET_PATH,
    { ...podAttributes(pod, tokens), region: REGION, objects, ...extra },
    (current ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' })),
  );

const filesOf = (response: MountResponse) =>
  Object.fromEntries((response.files ?? []).map((f) => [f.path, Buffer.from(f.contents ?? '').toString()]));

const put = (
  aws: FakeAws,
  name: string,
  version: string,
  tags: Record<string, string> = {},
  region = REGION,
) =>
  aws.putSecret(region, name, { [version]: { value: `${name}@${version}`, stages: ['AWSCURRENT'] } }, tags);

function secrets(aws: FakeAws): void {
  put(aws, 'prod/app/db', 'db-1', { team: 'payments' });
  put(aws, 'prod/app/api/key', 'api-1', { team: 'payments' });
  put(aws, 'prod/app/cache', 'cache-1', { team: 'search' });
  put(aws, 'prod/application', 'x-1', { team: 'payments' });
}

const BY_PREFIX = '- {objectNamePrefix: prod/app/, filePermission: "0600"}';

describe('objectNamePrefix and objectTags through the Mount handler', () => {
  it('a prefix: every secret under it, one file each named by path translation, in name order', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    const response = await service.mount(request(BY_PREFIX));
    expect(response.files?.map((f) => [f.path, f.mode])).toEqual([
      ['prod_app/api_key', 0o600],
      ['prod_app/cache', 0o600],
      ['prod_app/db', 0o600],
    ]);
    expect(filesOf(response)['prod_app/db']).toBe('prod/app/db@db-1');
    expect(response.objectVersion).toEqual([
      { id: 'prod_app/api_key', version: 'api-1' },
      { id: 'prod_app/cache', version: 'cache-1' },
      { id: 'prod_app/db', version: 'db-1' },
    ]);
    expect(aws.count('ListSecrets')).toBe(1);
    expect(aws.count('GetSecretValue')).toBe(3);
    expect(aws.count('DescribeSecret')).toBe(0);
  });

  it('tags and a prefix, in an alias, folders kept with translation off', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    const response = await service.mount(
      request('- {objectNamePrefix: prod/app, objectTags: {team: payments}, objectAlias: pay}', {
        pathTranslation: 'False',
      }),
    );
    expect(Object.keys(filesOf(response))).toEqual(['pay/app/api/key', 'pay/app/db', 'pay/application']);
  });

  it('a rotation remount lists again and reads only what changed, was added, or is gone', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    const first = await service.mount(request(BY_PREFIX));
    aws.calls.length = 0;

    const unchanged = await service.mount(request(BY_PREFIX, {}, first.objectVersion));
    expect(filesOf(unchanged)).toEqual(filesOf(first));
    expect(aws.calls.map((c) => c.op)).toEqual(['ListSecrets']);

    aws.calls.length = 0;
    put(aws, 'prod/app/db', 'db-2', { team: 'payments' });
    put(aws, 'prod/app/new', 'new-1');
    aws.deleteSecret(REGION, 'prod/app/cache');
    const rotated = await service.mount(request(BY_PREFIX, {}, unchanged.objectVersion));
    expect(filesOf(rotated)).toEqual({
      'prod_app/api_key': 'prod/app/api/key@api-1',
      'prod_app/db': 'prod/app/db@db-2',
      'prod_app/new': 'prod/app/new@new-1',
    });
    expect(aws.calls.map((c) => `${c.op} ${String(c.input.SecretId ?? '')}`).sort()).toEqual([
      'GetSecretValue prod/app/db',
      'GetSecretValue prod/app/new',
      'ListSecrets ',
    ]);
  });

  it('a match deleted between the listing and its read fails a required entry, naming it', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    aws.failNext('GetSecretValue', () => awsError('ResourceNotFoundException', 400, 'gone'));
    const err = await rejectionOf(service.mount(request(BY_PREFIX)), MountError);
    expect(err.message).toBe(
      `failed to read secret "prod/app/api/key", one of the secrets selected by objectNamePrefix "prod/app/", in ${REGION}: ResourceNotFoundException: gone (it was listed, then deleted: the next mount lists again; with optional: true the mount goes on without it)`,
    );
    expect(err.reason).toBe('FetchError');
  });

  it('the shared answers: mounts of one identity at once make one ListSecrets', async () => {
    const shared = new SharedAnswers({ windowMs: 0, coalesceMs: 0 });
    // One identity: the credential cache hands its pods one credentials object.
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 't' };
    const { aws, service } = mountHarness({
      sharedAnswers: shared,
      identity: { credentials: async () => credentials },
    });
    secrets(aws);
    aws.delay = () => 5;
    const mounts = await Promise.all(
      ['a', 'b', 'c'].map((p) =>
        service.mount(
          mountRequest(`/pods/${p}/mount`, {
            ...podAttributes(pod, tokens),
            region: REGION,
            objects: BY_PREFIX,
          }),
        ),
      ),
    );
    expect(mounts.map((m) => Object.keys(filesOf(m)).length)).toEqual([3, 3, 3]);
    expect(aws.count('ListSecrets')).toBe(1);
    expect(aws.count('GetSecretValue')).toBe(3);
  });

  it('the shared answers: two identities (two credentials objects) do not share a listing', async () => {
    const shared = new SharedAnswers({ windowMs: 60_000, coalesceMs: 0 });
    const bySa = new Map<string, AwsCredentials>();
    const { aws, service } = mountHarness({
      sharedAnswers: shared,
      identity: {
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
      },
    });
    secrets(aws);
    aws.delay = () => 5;
    const mountAs = (p: string, serviceAccount: string) =>
      service.mount(
        mountRequest(`/pods/${p}/mount`, {
          ...podAttributes({ ...pod, serviceAccount }, tokens),
          region: REGION,
          objects: BY_PREFIX,
        }),
      );
    const mounts = await Promise.all([mountAs('a', 'alpha'), mountAs('b', 'beta'), mountAs('c', 'alpha')]);
    expect(mounts.map((m) => Object.keys(filesOf(m)).length)).toEqual([3, 3, 3]);
    expect(bySa.size).toBe(2);
    expect(aws.count('ListSecrets')).toBe(2);
  });

  it("a mount's AWS calls in flight stay within its concurrency, a selection's reads included", async () => {
    const aws = new FakeAws();
    let inFlight = 0;
    let most = 0;
    const counted = <C extends { send: (...args: never[]) => Promise<unknown> }>(client: C): C =>
      ({
        send: async (...args: Parameters<C['send']>) => {
          most = Math.max(most, ++inFlight);
          try {
            // One slow read: the other objects, then the selection, are read meanwhile.
            const input = (args[0] as unknown as { input?: { SecretId?: string } }).input;
            if (input?.SecretId === 'one') await new Promise((resolve) => setTimeout(resolve, 40));
            return await client.send(...args);
          } finally {
            inFlight--;
          }
        },
      }) as unknown as C;
    const clients = {
      secretsManager: (region: string, credentials: AwsCredentials) =>
        counted(aws.clients.secretsManager(region, credentials)),
      ssm: (region: string, credentials: AwsCredentials) => counted(aws.clients.ssm(region, credentials)),
    } as unknown as AwsClients;
    const { service } = mountHarness({ aws, clients, concurrency: 2 });
    secrets(aws);
    for (const name of ['one', 'two', 'three', 'four']) put(aws, name, 'v');
    aws.delay = () => 5;
    const objects = [
      BY_PREFIX,
      ...['one', 'two', 'three', 'four'].map((n) => `- {objectName: ${n}, objectType: secretsmanager}`),
    ].join('\n');
    const response = await service.mount(request(objects));
    expect(Object.keys(filesOf(response))).toHaveLength(3 + 4);
    expect(aws.count('GetSecretValue')).toBe(3 + 4);
    expect(most).toBe(2);
  });

  it('the shared answers keep no failed listing: the next remount lists again', async () => {
    const shared = new SharedAnswers({ windowMs: 60_000, coalesceMs: 0 });
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 't' };
    const { aws, service } = mountHarness({
      sharedAnswers: shared,
      identity: { credentials: async () => credentials },
    });
    secrets(aws);
    const first = await service.mount(request(BY_PREFIX));
    aws.failNext('ListSecrets', () => awsError('ThrottlingException', 400, 'Rate exceeded'));
    const failed = await rejectionOf(service.mount(request(BY_PREFIX, {}, first.objectVersion)), MountError);
    expect(failed.message).toMatch(/ThrottlingException/);
    put(aws, 'prod/app/new', 'new-1');
    const next = await service.mount(request(BY_PREFIX, {}, first.objectVersion));
    expect(Object.keys(filesOf(next))).toContain('prod_app/new');
    expect(aws.count('ListSecrets')).toBe(3);
  });

  it('a throttled listing is read in the failover region, the whole selection there', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    put(aws, 'prod/app/db', 'w-1', {}, FAILOVER);
    aws.failNext('ListSecrets', () => awsError('ThrottlingException', 400, 'Rate exceeded'));
    const response = await service.mount(request(BY_PREFIX, { failoverRegion: FAILOVER }));
    expect(filesOf(response)).toEqual({ 'prod_app/db': 'prod/app/db@w-1' });
  });
});

describe('objectNamePrefix and objectTags: the errors a user sees', () => {
  const failure = (work: Promise<unknown>) => rejectionOf(work, MountError);

  it('a role without secretsmanager:ListSecrets', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    aws.failNext('ListSecrets', () =>
      awsError('AccessDeniedException', 400, 'not authorized to perform: secretsmanager:ListSecrets'),
    );
    const err = await failure(service.mount(request(BY_PREFIX)));
    expect(err.message).toBe(
      `failed to list the secrets selected by objectNamePrefix "prod/app/" in ${REGION}: AccessDeniedException: not authorized to perform: secretsmanager:ListSecrets (the pod's IAM role needs secretsmanager:ListSecrets on resource "*": it cannot be limited to some secrets)`,
    );
    expect(err.reason).toBe('FetchError');
  });

  it('a match the role may not read: the mount fails naming it', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    aws.failNext('GetSecretValue', () => awsError('AccessDeniedException', 400, 'denied'));
    const err = await failure(service.mount(request('- {objectNamePrefix: prod/app/api/}')));
    expect(err.message).toBe(
      `failed to read secret "prod/app/api/key", one of the secrets selected by objectNamePrefix "prod/app/api/", in ${REGION}: AccessDeniedException: denied (the pod's IAM role needs secretsmanager:GetSecretValue on every secret the entry selects)`,
    );
  });

  it('nothing selected', async () => {
    const { aws, service } = mountHarness();
    secrets(aws);
    const err = await failure(service.mount(request('- {objectTags: {team: nobody}, objectAlias: x}')));
    expect(err.message).toMatch(
      /^the secrets selected by objectTags \{"team":"nobody"\} match no secret: check the prefix/,
    );
    expect(err.reason).toBe('InvalidSecretContent');
  });

  it('more secrets than one entry may select', async () => {
    const { aws, service } = mountHarness();
    for (let i = 0; i <= MAX_SELECTED_SECRETS; i++) put(aws, `many/s${String(i).padStart(3, '0')}`, 'v');
    aws.listPageSize = 50;
    const err = await failure(service.mount(request('- {objectNamePrefix: many/}')));
    expect(err.message).toBe(
      `the secrets selected by objectNamePrefix "many/" match more secrets, more than the ${MAX_SELECTED_SECRETS} one entry may select: narrow the prefix or the tags, or split it into several entries`,
    );
    expect(aws.count('GetSecretValue')).toBe(0);
  });

  it('more secrets listed than one entry may go through, however few match', async () => {
    const { aws, service } = mountHarness();
    // AWS matches the tag value as a prefix: "paymentsX" passes the filter, then is not selected.
    for (let i = 0; i <= MAX_LISTED_SECRETS; i++)
      put(aws, `wide/s${String(i).padStart(4, '0')}`, 'v', { team: 'paymentsX' });
    put(aws, 'wide/zz', 'v', { team: 'payments' });
    const err = await failure(
      service.mount(request('- {objectNamePrefix: wide/, objectTags: {"té": x, team: payments}}')),
    );
    expect(err.message).toBe(
      `the secrets selected by objectNamePrefix "wide/" and objectTags {"té":"x","team":"payments"}: ListSecrets would list more than ${MAX_LISTED_SECRETS} secrets for it, matches or not (AWS narrows the listing by the prefix and by one tag only, each as a prefix): give a longer objectNamePrefix, or list first in objectTags a tag few secrets carry (the first whose key a filter can carry is sent)`,
    );
    expect(aws.count('ListSecrets')).toBe(MAX_LISTED_SECRETS / 100);
    expect(aws.count('GetSecretValue')).toBe(0);
  });

  it('more bytes than one entry may write', async () => {
    const { aws, service } = mountHarness();
    const big = 'x'.repeat(MAX_TREE_BYTES / 2 + 1);
    for (const name of ['big/a', 'big/b'])
      aws.putSecret(REGION, name, { v: { value: big, stages: ['AWSCURRENT'] } });
    const err = await failure(service.mount(request('- {objectNamePrefix: big/}')));
    expect(err.message).toMatch(
      /^the secrets selected by objectNamePrefix "big\/": its files would hold more than/,
    );
  });

  it('two matches naming one file after path translation', async () => {
    const { aws, service } = mountHarness();
    put(aws, 'p/a/b', 'v');
    put(aws, 'p/a_b', 'v');
    const err = await failure(service.mount(request('- {objectNamePrefix: p/}')));
    expect(err.message).toBe(
      'the secrets selected by objectNamePrefix "p/": secrets "p/a/b" and "p/a_b" both name file "a_b" after path translation',
    );
  });
});

describe('an optional selection (optional: true)', () => {
  const OPTIONAL = '- {objectNamePrefix: prod/app/, optional: true}';
  const versionsOf = (r: MountResponse) =>
    Object.fromEntries((r.objectVersion ?? []).map((v) => [v.id, v.version]));
  const missingCount = async (h: ReturnType<typeof mountHarness>) =>
    (await h.registry.getSingleMetric('aws_provider_optional_objects_missing_total')?.get())?.values.find(
      (v) => v.labels.type === 'secretsmanager',
    )?.value ?? 0;

  it('mounts the other matches when one is deleted, or scheduled for deletion, after the listing; records each', async () => {
    const h = mountHarness();
    secrets(h.aws);
    h.aws.failNext('GetSecretValue', () => awsError('ResourceNotFoundException', 400, 'gone'));
    // The fake lists a secret scheduled for deletion (AWS does not): deleted between the two calls.
    h.aws.scheduleDeletion(REGION, 'prod/app/cache');
    const r = await h.service.mount(request(OPTIONAL));
    expect(filesOf(r)).toEqual({ 'prod_app/db': 'prod/app/db@db-1' });
    expect(versionsOf(r)).toEqual({
      'prod_app/db': 'db-1',
      'prod_app/api_key': 'missing',
      'prod_app/cache': 'missing',
    });
    expect(h.events.recorded.map((e) => [e.reason, e.message])).toEqual([
      [
        'OptionalObjectMissing',
        `secret "prod/app/api/key" (one of the secrets selected by objectNamePrefix "prod/app/", an optional entry) is missing in ${REGION} (ResourceNotFoundException): the volume has no file "prod_app/api_key"`,
      ],
      [
        'OptionalObjectMissing',
        `secret "prod/app/cache" (one of the secrets selected by objectNamePrefix "prod/app/", an optional entry) is missing in ${REGION} (InvalidRequestException): the volume has no file "prod_app/cache"`,
      ],
    ]);
    expect(await missingCount(h)).toBe(2);
    expect(h.logs.filter((l) => l.includes('optional object missing'))).toHaveLength(2);

    // The next rotation, the secret back: its file too; the one still missing is not announced again.
    h.events.recorded.length = 0;
    const back = await h.service.mount(request(OPTIONAL, {}, r.objectVersion));
    expect(Object.keys(filesOf(back))).toEqual(['prod_app/api_key', 'prod_app/db']);
    expect(versionsOf(back)['prod_app/cache']).toBe('missing');
    expect(h.events.recorded).toEqual([]);
  });

  it('records a missing match whose name makes no file name, and announces it once', async () => {
    const h = mountHarness();
    secrets(h.aws);
    // "..data" is a name the volume keeps for itself: present, the match would fail the mount.
    put(h.aws, 'prod/app/..data', 'x-1');
    h.aws.scheduleDeletion(REGION, 'prod/app/..data');
    const r = await h.service.mount(request(OPTIONAL));
    expect(Object.keys(filesOf(r))).toEqual(['prod_app/api_key', 'prod_app/cache', 'prod_app/db']);
    expect(versionsOf(r)).toMatchObject({ 'prod_app//prod/app/..data': 'missing' });
    const announced = [
      `secret "prod/app/..data" (one of the secrets selected by objectNamePrefix "prod/app/", an optional entry) is missing in ${REGION} (InvalidRequestException): its name makes no file name in directory "prod_app", so the volume has no file for it`,
    ];
    expect(h.events.recorded.map((e) => e.message)).toEqual(announced);

    const again = await h.service.mount(request(OPTIONAL, {}, r.objectVersion));
    expect(versionsOf(again)).toEqual(versionsOf(r));
    expect(h.events.recorded.map((e) => e.message)).toEqual(announced);
    expect(await missingCount(h)).toBe(2);
  });

  it('still fails when the role may not read a match: denied is never "missing"', async () => {
    const h = mountHarness();
    secrets(h.aws);
    h.aws.failNext('GetSecretValue', () => awsError('AccessDeniedException', 400, 'denied'));
    const err = await rejectionOf(h.service.mount(request(OPTIONAL)), MountError);
    expect(err.message).toBe(
      `failed to read secret "prod/app/api/key", one of the secrets selected by objectNamePrefix "prod/app/", in ${REGION}: AccessDeniedException: denied (the pod's IAM role needs secretsmanager:GetSecretValue on every secret the entry selects)`,
    );
    expect(err.reason).toBe('FetchError');
    expect(h.events.recorded).toEqual([]);
  });

  it('still fails when the listing is denied', async () => {
    const h = mountHarness();
    secrets(h.aws);
    h.aws.failNext('ListSecrets', () => awsError('AccessDeniedException', 400, 'denied'));
    const err = await rejectionOf(h.service.mount(request(OPTIONAL)), MountError);
    expect(err.message).toMatch(/^failed to list the secrets selected by objectNamePrefix "prod\/app\/"/);
  });

  it('selecting nothing is missing as a whole: no directory, and the others mounted', async () => {
    const h = mountHarness();
    put(h.aws, 'db', 'v1');
    const r = await h.service.mount(request(`${OPTIONAL}\n- {objectName: db, objectType: secretsmanager}`));
    expect(filesOf(r)).toEqual({ db: 'db@v1' });
    expect(versionsOf(r)).toEqual({ db: 'v1', prod_app: 'missing' });
    expect(h.events.recorded.map((e) => e.message)).toEqual([
      `optional objects entry (the secrets selected by objectNamePrefix "prod/app/") is missing in ${REGION} (NoSecretSelected): the volume has no file "prod_app"`,
    ]);
  });
});
