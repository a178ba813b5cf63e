import { describeRequest } from './aws-request';
import { Authorizer, parameterArn } from './authorizer';
import type { SecretSource } from './secret-directory';
import { signedHeaders } from './sigv4';

const ACCOUNT = '123456789012';
const REGION = 'ap-northeast-1';
const KNOWN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:db-AbCdEf`;
const secrets: SecretSource = {
  describe: async (_region, id) =>
    id === 'db' || id === KNOWN ? { arn: KNOWN, name: 'db', tags: { team: 'a' } } : undefined,
};
const authorizer = new Authorizer({
  iam: { role: async () => undefined, oidcProvider: async () => undefined },
  secrets,
  account: ACCOUNT,
  now: () => 0,
});

/** A signed JSON (Secrets Manager, SSM) or query (STS, IAM) request, as the SDK would send it. */
function request(service: string, operation: string, params: Record<string, unknown>) {
  const url = new URL('http://127.0.0.1:15000/');
  const json = service === 'secretsmanager' || service === 'ssm';
  const body = Buffer.from(
    json
      ? JSON.stringify(params)
      : new URLSearchParams({ Action: operation, ...(params as Record<string, string>) }).toString(),
  );
  const headers: Record<string, string> = json
    ? {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `${service === 'ssm' ? 'AmazonSSM' : 'secretsmanager'}.${operation}`,
      }
    : { 'content-type': 'application/x-www-form-urlencoded' };
  const signed = signedHeaders(
    { method: 'POST', url, headers, body },
    { accessKeyId: 'k', secretAccessKey: 's' },
    REGION,
    service,
  );
  return describeRequest({ method: 'POST', url: '/', headers: signed, body });
}

describe('parameterArn', () => {
  it.each([
    ['/sample-app/db/password', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/sample-app/db/password`],
    ['/sample-app/db/password:3', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/sample-app/db/password`],
    ['plain', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/plain`],
    [`arn:aws:ssm:us-west-2:${ACCOUNT}:parameter/x:label`, `arn:aws:ssm:us-west-2:${ACCOUNT}:parameter/x`],
  ])('%s', (name, arn) => {
    expect(parameterArn(name, REGION, ACCOUNT)).toBe(arn);
  });
});

describe('what a request is judged on', () => {
  it.each<[string, ReturnType<typeof request>, Array<[string, string]>]>([
    [
      'a secret by name: its full ARN',
      request('secretsmanager', 'GetSecretValue', { SecretId: 'db' }),
      [['secretsmanager:GetSecretValue', KNOWN]],
    ],
    [
      'a secret by ARN',
      request('secretsmanager', 'DescribeSecret', { SecretId: KNOWN }),
      [['secretsmanager:DescribeSecret', KNOWN]],
    ],
    [
      'a secret that does not exist: the ARN its name would have',
      request('secretsmanager', 'GetSecretValue', { SecretId: 'nope' }),
      [['secretsmanager:GetSecretValue', `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:nope`]],
    ],
    [
      'BatchGetSecretValue: the batch, then each secret',
      request('secretsmanager', 'BatchGetSecretValue', { SecretIdList: ['db', 'nope'] }),
      [
        ['secretsmanager:BatchGetSecretValue', '*'],
        ['secretsmanager:GetSecretValue', KNOWN],
        ['secretsmanager:GetSecretValue', `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:nope`],
      ],
    ],
    ['ListSecrets', request('secretsmanager', 'ListSecrets', {}), [['secretsmanager:ListSecrets', '*']]],
    [
      'each parameter of a batch',
      request('ssm', 'GetParameters', { Names: ['/a/b', '/c:2'] }),
      [
        ['ssm:GetParameters', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/a/b`],
        ['ssm:GetParameters', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/c`],
      ],
    ],
    [
      'a parameter path',
      request('ssm', 'GetParametersByPath', { Path: '/a' }),
      [['ssm:GetParametersByPath', `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/a`]],
    ],
    ['GetCallerIdentity needs nothing', request('sts', 'GetCallerIdentity', {}), []],
    [
      'an IAM role',
      request('iam', 'GetRole', { RoleName: 'app' }),
      [['iam:GetRole', `arn:aws:iam::${ACCOUNT}:role/app`]],
    ],
  ])('%s', async (_name, req, expected) => {
    const checks = await authorizer.checksOf(req);
    expect(checks.map((c) => [c.action, c.resource])).toEqual(expected);
  });

  it("gives policies the secret's tags, the secret id and the stage asked for", async () => {
    const [check] = await authorizer.checksOf(
      request('secretsmanager', 'GetSecretValue', { SecretId: 'db', VersionStage: 'AWSCURRENT' }),
    );
    expect(check?.context.get('secretsmanager:ResourceTag/team')).toEqual(['a']);
    expect(check?.context.get('aws:ResourceTag/team')).toEqual(['a']);
    expect(check?.context.get('secretsmanager:SecretId')).toEqual(['db']);
    expect(check?.context.get('secretsmanager:VersionStage')).toEqual(['AWSCURRENT']);
  });

  it('gives CreateSecret its name and request tags', async () => {
    const [check] = await authorizer.checksOf(
      request('secretsmanager', 'CreateSecret', { Name: 'new', Tags: [{ Key: 'team', Value: 'b' }] }),
    );
    expect(check?.context.get('secretsmanager:Name')).toEqual(['new']);
    expect(check?.context.get('aws:RequestTag/team')).toEqual(['b']);
    expect(check?.context.get('aws:TagKeys')).toEqual(['team']);
  });
});
