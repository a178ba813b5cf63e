// Beyond upstream, through the Mount handler: objects written as many files (jsonKeysAsFiles,
// parametersUnderPath) and reads with a chained role (assumeRoleArn), with AWS, STS and the
// cluster faked.
import { rejectionOf } from '@sscsi/common/testing';
import type { MountRequest__Output, MountResponse } from '@sscsi/proto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { AwsClients } from './aws-clients';
import type { AwsCredentials } from './credentials/credential-cache';
import { CredentialCache } from './credentials/credential-cache';
import { IdentityResolver } from './credentials/identity';
import { TokenVerifier } from './credentials/token-verifier';
import { MountError } from './errors';
import { MAX_TREE_BYTES, MAX_TREE_FILES } from './parameters/tree-limits';
import { FakeAws } from './testing/fake-aws';
import { FakeCluster } from './testing/fake-cluster';
import type { StsCall } from './testing/fake-sts';
import { awsError, FakeSts, unavailable } from './testing/fake-sts';
import {
  mountHarness,
  mountRequest,
  podAttributes,
  POD_ROLE as OWN_ROLE,
  REGION,
} from './testing/mount-harness';

const FAILOVER = 'us-west-2';
const TARGET = 'arn:aws:iam::444455556666:role/secrets-reader';
const cluster = new FakeCluster();
const pod = { namespace: 'default', serviceAccount: 'app', name: 'app-0', uid: 'uid-app-0' };

function request(targetPath: string, parameters: Record<string, string>): MountRequest__Output {
  const token = cluster.token(pod, { audience: 'sts.amazonaws.com' });
  const tokens = JSON.stringify({ 'sts.amazonaws.com': { token } });
  return mountRequest(targetPath, { ...podAttributes(pod, tokens), region: REGION, ...parameters });
}

/** STS with trust policies: the target role trusts OWN_ROLE only. */
const stsAsAws = (call: StsCall) => {
  if (call.operation === 'AssumeRole' && call.callerRole !== OWN_ROLE)
    throw awsError('AccessDenied', 403, `${call.callerRole ?? '?'} may not assume ${call.roleArn}`);
};

/** The Mount handler with the pod's real identity: its token verified, its roles assumed at STS. */
function harness(options: { driverWritesSecrets?: boolean; sts?: FakeSts } = {}) {
  const aws = new FakeAws();
  const sts = options.sts ?? new FakeSts(stsAsAws);
  /** The role each AWS read was signed as, by service and region. */
  const readsAs: string[] = [];
  const clients = {
    secretsManager: (region: string, c: AwsCredentials) => {
      readsAs.push(`secretsmanager ${region} ${sts.roleOf(c.accessKeyId) ?? '?'}`);
      return aws.clients.secretsManager(region, c);
    },
    ssm: (region: string, c: AwsCredentials) => {
      readsAs.push(`ssm ${region} ${sts.roleOf(c.accessKeyId) ?? '?'}`);
      return aws.clients.ssm(region, c);
    },
  } as unknown as AwsClients;
  const { service } = mountHarness({
    driverWritesSecrets: options.driverWritesSecrets ?? true,
    identity: new IdentityResolver({
      clients: sts,
      cache: new CredentialCache(),
      verifier: new TokenVerifier(async () => cluster.signingKeys()),
      lookups: { roleArn: async () => OWN_ROLE },
      podIdentity: { credentials: async () => Promise.reject(new Error('no Pod Identity here')) },
      metrics: { credentialCache: () => undefined },
    }),
    clients,
  });
  return { aws, sts, service, readsAs };
}

const filesOf = (response: MountResponse) =>
  Object.fromEntries((response.files ?? []).map((f) => [f.path, Buffer.from(f.contents ?? '').toString()]));

const mountErrorOf = (work: Promise<unknown>) => rejectionOf(work, MountError);

const TARGET_PATH = '/var/lib/kubelet/pods/uid-app-0/volumes/kubernetes.io~csi/secrets/mount';

describe('jsonKeysAsFiles: one file per top-level key of a JSON secret', () => {
  const secret = JSON.stringify({ username: 'admin', password: 'p@ss w0rd', port: 5432, tls: { on: true } });

  it('writes each key in the directory of the secret, strings as they are, other values as JSON', async () => {
    const { aws, service } = harness();
    aws.putSecret(REGION, 'prod/db', { v7: { value: secret, stages: ['AWSCURRENT'] } });
    const response = await service.mount(
      request(TARGET_PATH, {
        objects:
          '- {objectName: prod/db, objectType: secretsmanager, jsonKeysAsFiles: "true", filePermission: "0640"}',
      }),
    );
    expect(filesOf(response)).toEqual({
      'prod_db/username': 'admin',
      'prod_db/password': 'p@ss w0rd',
      'prod_db/port': '5432',
      'prod_db/tls': '{"on":true}',
    });
    expect(response.files?.map((f) => f.mode)).toEqual([0o640, 0o640, 0o640, 0o640]);
    expect(response.objectVersion?.map((v) => [v.id, v.version])).toEqual([
      ['prod_db/username', 'v7'],
      ['prod_db/password', 'v7'],
      ['prod_db/port', 'v7'],
      ['prod_db/tls', 'v7'],
    ]);
  });

  it('splits a JSON SSM parameter too, read in the batch of the plain parameters', async () => {
    const { aws, service } = harness();
    aws.putParameter(REGION, '/app/config', {
      value: JSON.stringify({ mode: 'fast', level: 2 }),
      version: 4,
    });
    aws.putParameter(REGION, '/app/plain', { value: 'p', version: 1 });
    const response = await service.mount(
      request(TARGET_PATH, {
        objects: [
          '- {objectName: /app/config, objectType: ssmparameter, objectAlias: config, jsonKeysAsFiles: "true"}',
          '- {objectName: /app/plain, objectType: ssmparameter}',
        ].join('\n'),
      }),
    );
    expect(filesOf(response)).toEqual({ 'config/mode': 'fast', 'config/level': '2', _app_plain: 'p' });
    expect(aws.count('GetParameters')).toBe(1);
    expect(aws.count('GetParametersByPath')).toBe(0);
  });

  it('in provider-writes mode, the directory and its files are in the mount', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'provider-tree-'));
    try {
      const { aws, service } = harness({ driverWritesSecrets: false });
      aws.putSecret(REGION, 'db', { v1: { value: secret, stages: ['AWSCURRENT'] } });
      await service.mount(
        request(root, {
          objects:
            '- {objectName: db, objectType: secretsmanager, objectAlias: creds, jsonKeysAsFiles: "true"}',
        }),
      );
      expect(fs.readFileSync(path.join(root, 'creds', 'password'), 'utf8')).toBe('p@ss w0rd');
      expect(fs.readdirSync(path.join(root, 'creds')).sort()).toEqual([
        'password',
        'port',
        'tls',
        'username',
      ]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it.each<[string, string, RegExp]>([
    [
      'a value that is not JSON',
      'p@ss w0rd',
      /object "db" has jsonKeysAsFiles: true but its value is not a JSON object/,
    ],
    ['a JSON list', '["p@ss w0rd"]', /its value is not a JSON object/],
    ['an empty JSON object', '{}', /object "db" \(jsonKeysAsFiles\) is a JSON object without keys/],
    [
      'two keys that name one file after path translation',
      JSON.stringify({ 'a/b': 'p@ss w0rd', a_b: 'x' }),
      /object "db": keys "a\/b" and "a_b" both name file "a_b" after path translation/,
    ],
    [
      'a key that names no file',
      JSON.stringify({ '': 'p@ss w0rd' }),
      /object "db", key "": file name "" names no file/,
    ],
    [
      'more bytes than one object may write',
      JSON.stringify({
        a: 'x'.repeat(MAX_TREE_BYTES / 2),
        b: 'y'.repeat(MAX_TREE_BYTES / 2),
        c: 'p@ss w0rd',
      }),
      new RegExp(`object "db": its files would hold more than ${MAX_TREE_BYTES} bytes`),
    ],
    [
      'more keys than one object may write',
      JSON.stringify(
        Object.fromEntries(Array.from({ length: MAX_TREE_FILES + 1 }, (_, i) => [`k${i}`, 'p@ss w0rd'])),
      ),
      new RegExp(
        `object "db" \\(jsonKeysAsFiles\\) would write ${MAX_TREE_FILES + 1} files, more than the ${MAX_TREE_FILES}`,
      ),
    ],
  ])('refuses %s, naming the object and never a value', async (_name, value, message) => {
    const { aws, service } = harness();
    aws.putSecret(REGION, 'db', { v1: { value, stages: ['AWSCURRENT'] } });
    const err = await mountErrorOf(
      service.mount(
        request(TARGET_PATH, {
          objects: '- {objectName: db, objectType: secretsmanager, jsonKeysAsFiles: "true"}',
        }),
      ),
    );
    expect(err.reason).toBe('InvalidSecretContent');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('p@ss');
  });

  it('a key with a slash is a folder when path translation is off, and cannot leave the directory', async () => {
    const { aws, service } = harness();
    aws.putSecret(REGION, 'db', {
      v1: { value: JSON.stringify({ 'tls/cert': 'C', user: 'U' }), stages: ['AWSCURRENT'] },
    });
    const objects = '- {objectName: db, objectType: secretsmanager, jsonKeysAsFiles: "true"}';
    const response = await service.mount(request(TARGET_PATH, { objects, pathTranslation: 'False' }));
    expect(filesOf(response)).toEqual({ 'db/tls/cert': 'C', 'db/user': 'U' });
    aws.putSecret(REGION, 'db', {
      v2: { value: JSON.stringify({ '../../etc/x': 'p@ss' }), stages: ['AWSCURRENT'] },
    });
    const err = await mountErrorOf(
      service.mount(request(TARGET_PATH, { objects, pathTranslation: 'False' })),
    );
    expect(err.message).toMatch(
      /key "..\/..\/etc\/x": file name "..\/..\/etc\/x" contains "..": it would leave the mount/,
    );
  });
});

describe('parametersUnderPath: every SSM parameter under a path', () => {
  function tree(aws: FakeAws, region = REGION, root = '/app/prod') {
    for (const name of ['db/password', 'db/user', 'api-key', 'feature/flags/new-ui', 'log-level'])
      aws.putParameter(region, `${root}/${name}`, { value: `${name}@${region}`, version: 3 });
    aws.putParameter(region, '/app/prodigy', { value: 'not under /app/prod', version: 1 });
  }

  it('recursive: all of them, page after page, decrypted, named by path translation', async () => {
    const { aws, service } = harness();
    tree(aws);
    aws.pageSize = 2;
    const response = await service.mount(
      request(TARGET_PATH, {
        objects: '- {objectName: /app/prod, objectType: ssmparameter, parametersUnderPath: recursive}',
      }),
    );
    expect(filesOf(response)).toEqual({
      '_app_prod/api-key': `api-key@${REGION}`,
      '_app_prod/db_password': `db/password@${REGION}`,
      '_app_prod/db_user': `db/user@${REGION}`,
      '_app_prod/feature_flags_new-ui': `feature/flags/new-ui@${REGION}`,
      '_app_prod/log-level': `log-level@${REGION}`,
    });
    const calls = aws.calls.filter((c) => c.op === 'GetParametersByPath');
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => c.input)).toEqual([
      expect.objectContaining({
        Path: '/app/prod',
        Recursive: true,
        WithDecryption: true,
        NextToken: undefined,
      }),
      expect.objectContaining({ NextToken: '2', WithDecryption: true }),
      expect.objectContaining({ NextToken: '4', WithDecryption: true }),
    ]);
    expect(response.objectVersion?.every((v) => v.version === '3')).toBe(true);
  });

  it('direct: only the parameters one level under the path; in an alias, folders kept with translation off', async () => {
    const { aws, service } = harness();
    tree(aws);
    const direct = await service.mount(
      request(TARGET_PATH, {
        objects:
          '- {objectName: /app/prod/, objectType: ssmparameter, objectAlias: config, parametersUnderPath: direct}',
      }),
    );
    expect(Object.keys(filesOf(direct)).sort()).toEqual(['config/api-key', 'config/log-level']);
    const nested = await service.mount(
      request(TARGET_PATH, {
        pathTranslation: 'False',
        objects:
          '- {objectName: /app/prod, objectType: ssmparameter, objectAlias: config, parametersUnderPath: recursive}',
      }),
    );
    expect(Object.keys(filesOf(nested)).sort()).toEqual([
      'config/api-key',
      'config/db/password',
      'config/db/user',
      'config/feature/flags/new-ui',
      'config/log-level',
    ]);
  });

  it('next to other objects: one GetParameters batch for the plain ones, a listing for the tree', async () => {
    const { aws, service } = harness();
    tree(aws);
    aws.putParameter(REGION, '/other', { value: 'o', version: 1 });
    const response = await service.mount(
      request(TARGET_PATH, {
        objects: [
          '- {objectName: /other, objectType: ssmparameter}',
          '- {objectName: /app/prod, objectType: ssmparameter, objectAlias: prod, parametersUnderPath: direct}',
        ].join('\n'),
      }),
    );
    expect(Object.keys(filesOf(response))).toEqual(['_other', 'prod/api-key', 'prod/log-level']);
    expect(aws.count('GetParameters')).toBe(1);
    expect(aws.count('GetParametersByPath')).toBe(1);
  });

  it('stops reading once the tree is larger than one object may write', async () => {
    const { aws, service } = harness();
    for (let i = 0; i < MAX_TREE_FILES + 500; i++)
      aws.putParameter(REGION, `/big/p${String(i).padStart(5, '0')}`, { value: 'v', version: 1 });
    const err = await mountErrorOf(
      service.mount(
        request(TARGET_PATH, {
          objects: '- {objectName: /big, objectType: ssmparameter, parametersUnderPath: direct}',
        }),
      ),
    );
    expect(err.reason).toBe('InvalidSecretContent');
    expect(err.message).toBe(
      `object "/big" (parametersUnderPath) would write more files, more than the ${MAX_TREE_FILES} one object may write: list parts of it as separate objects`,
    );
    expect(aws.count('GetParametersByPath')).toBe(MAX_TREE_FILES / 10 + 1);
  });

  it('refuses a path with nothing under it: check the path and the region', async () => {
    const { aws, service } = harness();
    tree(aws);
    const err = await mountErrorOf(
      service.mount(
        request(TARGET_PATH, {
          objects: '- {objectName: /app/staging, objectType: ssmparameter, parametersUnderPath: recursive}',
        }),
      ),
    );
    expect(err.message).toBe(
      'object "/app/staging" (parametersUnderPath) has no parameters under it: check the path and the region',
    );
  });

  it('a refused listing names the path, the region and the AWS error code', async () => {
    const { aws, service } = harness();
    tree(aws);
    aws.failNext('GetParametersByPath', () =>
      Object.assign(new Error('not authorized to perform: ssm:GetParametersByPath'), {
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const err = await mountErrorOf(
      service.mount(
        request(TARGET_PATH, {
          objects: '- {objectName: /app/prod, objectType: ssmparameter, parametersUnderPath: direct}',
        }),
      ),
    );
    expect(err.message).toContain(
      'failed to fetch the parameters under "/app/prod" from SSM Parameter Store in us-east-1: AccessDeniedException',
    );
  });

  it('fails over: the failoverObject path in the failover region when the primary is unavailable', async () => {
    const { aws, service } = harness();
    tree(aws);
    tree(aws, FAILOVER, '/app/prod-dr');
    aws.failNext('GetParametersByPath', unavailable);
    const response = await service.mount(
      request(TARGET_PATH, {
        failoverRegion: FAILOVER,
        objects:
          '- {objectName: /app/prod, objectType: ssmparameter, objectAlias: prod, parametersUnderPath: direct, failoverObject: {objectName: /app/prod-dr}}',
      }),
    );
    expect(filesOf(response)).toEqual({
      'prod/api-key': `api-key@${FAILOVER}`,
      'prod/log-level': `log-level@${FAILOVER}`,
    });
  });
});

describe('assumeRoleArn through the Mount handler', () => {
  it('reads every object with the chained role, in the failover region too', async () => {
    const { aws, sts, service, readsAs } = harness();
    aws.putSecret(REGION, 'db', { v1: { value: 's', stages: ['AWSCURRENT'] } });
    aws.putParameter(FAILOVER, '/p', { value: 'p', version: 1 });
    aws.failNext('GetParameters', unavailable);
    const response = await service.mount(
      request(TARGET_PATH, {
        assumeRoleArn: TARGET,
        failoverRegion: FAILOVER,
        objects:
          '- {objectName: db, objectType: secretsmanager}\n- {objectName: /p, objectType: ssmparameter}',
      }),
    );
    expect(filesOf(response)).toEqual({ db: 's', _p: 'p' });
    expect(new Set(readsAs)).toEqual(
      new Set([`secretsmanager ${REGION} ${TARGET}`, `ssm ${REGION} ${TARGET}`, `ssm ${FAILOVER} ${TARGET}`]),
    );
    expect(
      sts.calls
        .filter((c) => c.operation === 'AssumeRole')
        .map((c) => c.region)
        .sort(),
    ).toEqual([REGION, FAILOVER]);
  });

  it('STS unavailable for the chained role in the primary region: reads in the failover region', async () => {
    const sts = new FakeSts((call) => {
      if (call.operation === 'AssumeRole' && call.region === REGION) throw unavailable();
      stsAsAws(call);
    });
    const { aws, service, readsAs } = harness({ sts });
    aws.putSecret(FAILOVER, 'db', { v1: { value: 's', stages: ['AWSCURRENT'] } });
    const response = await service.mount(
      request(TARGET_PATH, {
        assumeRoleArn: TARGET,
        failoverRegion: FAILOVER,
        objects: '- {objectName: db, objectType: secretsmanager}',
      }),
    );
    expect(filesOf(response)).toEqual({ db: 's' });
    expect(readsAs).toEqual([`secretsmanager ${FAILOVER} ${TARGET}`]);
  });

  it("a role that does not trust the pod's role: the mount fails naming both, and reads nothing", async () => {
    const sts = new FakeSts((call) => {
      if (call.operation === 'AssumeRole')
        throw awsError('AccessDenied', 403, 'not authorized to perform sts:AssumeRole');
    });
    const { service, readsAs } = harness({ sts });
    const err = await mountErrorOf(
      service.mount(
        request(TARGET_PATH, {
          assumeRoleArn: TARGET,
          objects: '- {objectName: db, objectType: secretsmanager}',
        }),
      ),
    );
    expect(err.reason).toBe('CredentialsError');
    expect(err.message).toContain(
      `failed to assume role ${TARGET} (assumeRoleArn) with the credentials of role ${OWN_ROLE}`,
    );
    expect(readsAs).toEqual([]);
  });

  it('a malformed assumeRoleArn is refused before any call', async () => {
    const { sts, service } = harness();
    const err = await mountErrorOf(
      service.mount(
        request(TARGET_PATH, {
          assumeRoleArn: 'secrets-reader',
          objects: '- {objectName: db, objectType: secretsmanager}',
        }),
      ),
    );
    expect(err.reason).toBe('InvalidParameters');
    expect(err.message).toMatch(/^assumeRoleArn "secrets-reader" is not an IAM role ARN/);
    expect(sts.calls).toEqual([]);
  });
});
