// The gate end to end in one process: real AWS SDK clients against it, a stand-in for moto behind it
// (answers any STS call with fresh credentials and any other call with a fixed value), IAM state
// and the issuer's keys from in-memory fakes. What each refusal looks like to an SDK caller.
import type { ListSecretsCommandInput } from '@aws-sdk/client-secrets-manager';
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import { createLogger } from '@sscsi/common';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { CallCounter, FaultBook } from './faults';
import { GateClock } from './faults';
import { gateParts } from './gate-parts';
import type { GateParts } from './gate-server';
import { GateServer } from './gate-server';
import type { IamSource, OidcProviderRecord, RoleRecord } from './iam-directory';
import { parsePolicyDocument } from './policy-document';
import type { SecretRecord, SecretSource } from './secret-directory';
import { signedHeaders } from './sigv4';
import { forgeToken, signToken } from './test-tokens';
import { Upstream } from './upstream';

const ACCOUNT = '123456789012';
const ISSUER = 'https://kubernetes.default.svc';
const OIDC = `arn:aws:iam::${ACCOUNT}:oidc-provider/kubernetes.default.svc`;
const REGION = 'ap-northeast-1';
const ROOT = { accessKeyId: 'lab', secretAccessKey: 'lab' };
const signing = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'cluster-key';

const doc = (statements: object[], source: string) =>
  parsePolicyDocument(JSON.stringify({ Version: '2012-10-17', Statement: statements }), source);

function role(
  name: string,
  trust: object[],
  policies: object[],
  tags: Record<string, string> = {},
): RoleRecord {
  return {
    name,
    arn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
    trust: doc(trust, `role/${name} trust policy`),
    policies: [doc(policies, `role/${name} inline policy`)],
    tags,
    maxSessionSeconds: 3600,
  };
}

const irsaTrust = (sub: string) => [
  {
    Effect: 'Allow',
    Principal: { Federated: OIDC },
    Action: 'sts:AssumeRoleWithWebIdentity',
    Condition: {
      StringEquals: { 'kubernetes.default.svc:sub': sub, 'kubernetes.default.svc:aud': 'sts.amazonaws.com' },
    },
  },
];
const secretArn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;

const roles = new Map<string, RoleRecord>([
  [
    'reader',
    role('reader', irsaTrust('system:serviceaccount:default:app'), [
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: `arn:aws:secretsmanager:*:*:secret:allowed-*`,
      },
      { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' },
    ]),
  ],
  [
    'chained',
    role(
      'chained',
      [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' }],
      [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: '*' }],
    ),
  ],
  [
    'untrusting',
    role(
      'untrusting',
      [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/other` },
          Action: 'sts:AssumeRole',
        },
      ],
      [],
    ),
  ],
  [
    'abac',
    role(
      'abac',
      [
        {
          Effect: 'Allow',
          Principal: { Service: 'pods.eks.amazonaws.com' },
          Action: ['sts:AssumeRole', 'sts:TagSession'],
        },
      ],
      [
        {
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: '*',
          Condition: {
            StringEquals: {
              'secretsmanager:ResourceTag/kubernetes-namespace': '${aws:PrincipalTag/kubernetes-namespace}',
            },
          },
        },
      ],
    ),
  ],
  ['no-pod-trust', role('no-pod-trust', irsaTrust('system:serviceaccount:default:app'), [])],
  [
    'lister',
    role('lister', irsaTrust('system:serviceaccount:default:app'), [
      { Effect: 'Allow', Action: 'secretsmanager:ListSecrets', Resource: '*' },
    ]),
  ],
  [
    'narrow-lister',
    role('narrow-lister', irsaTrust('system:serviceaccount:default:app'), [
      {
        Effect: 'Allow',
        Action: ['secretsmanager:ListSecrets', 'secretsmanager:GetSecretValue'],
        Resource: 'arn:aws:secretsmanager:*:*:secret:allowed-*',
      },
    ]),
  ],
  [
    'external',
    role(
      'external',
      [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'sts:ExternalId': 'shop-7' } },
        },
      ],
      [],
    ),
  ],
]);
const providers = new Map<string, OidcProviderRecord>([
  [OIDC, { arn: OIDC, url: 'kubernetes.default.svc', clientIds: ['sts.amazonaws.com'] }],
]);
const fakeIam: IamSource = {
  role: async (name) => roles.get(name),
  oidcProvider: async (arn) => providers.get(arn),
};
const secretRecords: Record<string, SecretRecord> = {
  'allowed-db': {
    arn: secretArn('allowed-db'),
    name: 'allowed-db',
    tags: { 'kubernetes-namespace': 'default' },
  },
  'other-db': { arn: secretArn('other-db'), name: 'other-db', tags: { 'kubernetes-namespace': 'prod' } },
};
const fakeSecrets: SecretSource = { describe: async (_region, id) => secretRecords[id] };

let issued = 0;
function stsXml(action: string, arn: string): string {
  issued += 1;
  return `<${action}Response><${action}Result><Credentials><AccessKeyId>ASIAFAKE${issued}</AccessKeyId><SecretAccessKey>secret${issued}</SecretAccessKey><SessionToken>token${issued}</SessionToken><Expiration>${new Date(Date.now() + 3600_000).toISOString()}</Expiration></Credentials><AssumedRoleUser><Arn>${arn}</Arn></AssumedRoleUser></${action}Result></${action}Response>`;
}

/** moto's stand-in: credentials for any STS call, a value for any other. */
const moto = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    if (form.get('Action')?.startsWith('AssumeRole')) {
      const name = form.get('RoleArn')?.split('/').at(-1);
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.end(
        stsXml(
          String(form.get('Action')),
          `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/${form.get('RoleSessionName')}`,
        ),
      );
      return;
    }
    if (form.get('Action') === 'GetCallerIdentity') {
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.end(
        `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>x</Arn><UserId>u</UserId><Account>${ACCOUNT}</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`,
      );
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
    res.end(
      JSON.stringify({
        Name: 'x',
        SecretString: 'the-value',
        VersionId: 'v1',
        Parameters: [],
        InvalidParameters: [],
      }),
    );
  });
});

const jwks = { keys: [{ ...signing.publicKey.export({ format: 'jwk' }), kid: KID }] };
const clock = new GateClock();
const cluster = { name: 'lab', region: REGION, account: ACCOUNT, issuer: ISSUER };
let endpoint: string;
let agentUrl: string;
const servers: http.Server[] = [];
let upstream: Upstream;
let parts: GateParts;
let faults: FaultBook;
let calls: CallCounter;

beforeAll(async () => {
  await new Promise<void>((resolve) => moto.listen(0, '127.0.0.1', resolve));
  upstream = new Upstream(`http://127.0.0.1:${(moto.address() as AddressInfo).port}`);
  parts = gateParts({
    cluster,
    upstream,
    root: ROOT,
    iam: fakeIam,
    secrets: fakeSecrets,
    cacheTtlMs: 60_000,
    issuerDocuments: async (path) =>
      path.includes('openid-configuration') ? { issuer: ISSUER, jwks_uri: `${ISSUER}/openid/v1/jwks` } : jwks,
    issuerKeys: { ttlMs: 60_000, refetchMinMs: 1000 },
    assumeRole: async (roleArn, sessionName) => {
      issued += 1;
      return {
        accessKeyId: `ASIAPOD${issued}`,
        secretAccessKey: `podsecret${issued}`,
        sessionToken: `podtoken${issued}`,
        expiresAt: Date.now() + 3600_000,
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleArn.split('/').at(-1)}/${sessionName}`,
      };
    },
    clock,
    logger: createLogger({
      name: 'gate-test',
      json: true,
      verbosity: 0,
      destination: { write: () => undefined },
    }),
  });
  ({ faults, calls } = parts);
  const gate = new GateServer(parts);
  for (const handler of [gate.handle, gate.handleAgent]) {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
  }
  endpoint = `http://127.0.0.1:${(servers[0]?.address() as AddressInfo).port}`;
  agentUrl = `http://127.0.0.1:${(servers[1]?.address() as AddressInfo).port}/v1/credentials`;
});

afterAll(async () => {
  upstream.close();
  for (const server of [...servers, moto]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

beforeEach(() => {
  faults.clear();
  calls.reset();
  clock.offsetMs = 0;
});

const now = () => Math.floor(Date.now() / 1000);
const podToken = (
  o: { sub?: string; aud?: string; exp?: number; ns?: string; sa?: string; bound?: boolean } = {},
) =>
  signToken(
    {
      iss: ISSUER,
      sub: o.sub ?? `system:serviceaccount:${o.ns ?? 'default'}:${o.sa ?? 'app'}`,
      aud: [o.aud ?? 'sts.amazonaws.com'],
      exp: o.exp ?? now() + 3600,
      nbf: now() - 5,
      iat: now() - 5,
      'kubernetes.io': {
        namespace: o.ns ?? 'default',
        serviceaccount: { name: o.sa ?? 'app', uid: 'sa-uid' },
        ...(o.bound === false ? {} : { pod: { name: 'app-1', uid: 'pod-uid-1' } }),
      },
    },
    signing.privateKey,
    { kid: KID },
  );

const config = (
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = ROOT,
) => ({
  region: REGION,
  endpoint,
  credentials,
  maxAttempts: 1,
});
const sts = () => new STSClient(config());

async function webIdentity(token: string, roleName = 'reader') {
  const out = await sts().send(
    new AssumeRoleWithWebIdentityCommand({
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}`,
      RoleSessionName: 'default.app-1',
      WebIdentityToken: token,
    }),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId) throw new Error('AssumeRoleWithWebIdentity returned no credentials');
  return {
    accessKeyId: c?.AccessKeyId ?? '',
    secretAccessKey: c?.SecretAccessKey ?? '',
    sessionToken: c?.SessionToken,
  };
}

/** The error an SDK call fails with: its name (the AWS code) and HTTP status. */
async function failure(call: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('the call was expected to fail');
}

describe('AssumeRoleWithWebIdentity', () => {
  it('gives a trusted ServiceAccount credentials that then read what the role allows', async () => {
    const creds = await webIdentity(podToken());
    const sm = new SecretsManagerClient(config(creds));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' }))).SecretString).toBe(
      'the-value',
    );
  });

  it.each<[string, () => string, string, number, RegExp]>([
    ['a forged signature', () => forgeToken(podToken()), 'InvalidIdentityTokenException', 400, /signature/],
    [
      'a wrong audience',
      () => podToken({ aud: 'other' }),
      'InvalidIdentityTokenException',
      400,
      /Incorrect token audience/,
    ],
    ['an expired token', () => podToken({ exp: now() - 60 }), 'ExpiredTokenException', 400, /Token expired/],
    [
      'an issuer with no OIDC provider',
      () => forgeToken(podToken(), { iss: 'https://evil.example' }),
      'InvalidIdentityTokenException',
      400,
      /No OpenIDConnect provider found in your account for https:\/\/evil.example/,
    ],
    ['a token that is not a JWT', () => 'not-a-jwt', 'InvalidIdentityTokenException', 400, /not a valid JWT/],
    [
      'a ServiceAccount the trust policy does not name',
      () => podToken({ sa: 'intruder' }),
      'AccessDenied',
      403,
      /Not authorized to perform sts:AssumeRoleWithWebIdentity/,
    ],
    [
      'the trusted name in another namespace',
      () => podToken({ ns: 'prod' }),
      'AccessDenied',
      403,
      /Not authorized to perform sts:AssumeRoleWithWebIdentity/,
    ],
  ])('refuses %s', async (_name, token, code, status, message) => {
    const err = await failure(webIdentity(token()));
    expect(err).toMatchObject({ name: code, status });
    expect(err.message).toMatch(message);
  });

  it('refuses a role that does not exist (moto would hand out credentials for it)', async () => {
    expect(await failure(webIdentity(podToken(), 'missing'))).toMatchObject({
      name: 'AccessDenied',
      status: 403,
    });
  });
});

describe('every other call', () => {
  it.each<
    [string, () => { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, string, number]
  >([
    [
      'a key the gate never issued',
      () => ({ accessKeyId: 'AKIANEVERISSUED', secretAccessKey: 'x' }),
      'UnrecognizedClientException',
      400,
    ],
    [
      'the root key with a wrong secret',
      () => ({ accessKeyId: 'lab', secretAccessKey: 'guess' }),
      'InvalidSignatureException',
      400,
    ],
  ])('Secrets Manager refuses %s', async (_name, creds, code, status) => {
    const sm = new SecretsManagerClient(config(creds()));
    expect(await failure(sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' })))).toMatchObject({
      name: code,
      status,
    });
  });

  it('STS refuses a never-issued key with InvalidClientTokenId (403)', async () => {
    const client = new STSClient(config({ accessKeyId: 'AKIANEVERISSUED', secretAccessKey: 'x' }));
    expect(await failure(client.send(new GetCallerIdentityCommand({})))).toMatchObject({
      name: 'InvalidClientTokenId',
      status: 403,
    });
  });

  it('refuses an issued key with a session token that is not its own', async () => {
    const creds = await webIdentity(podToken());
    const sm = new SecretsManagerClient(config({ ...creds, sessionToken: 'another-session' }));
    expect(await failure(sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' })))).toMatchObject({
      name: 'UnrecognizedClientException',
    });
  });

  it('refuses a secret outside the role policy with AccessDeniedException naming the action and ARN', async () => {
    const creds = await webIdentity(podToken());
    const sm = new SecretsManagerClient(config(creds));
    const err = await failure(sm.send(new GetSecretValueCommand({ SecretId: 'other-db' })));
    expect(err).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    expect(err.message).toBe(
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/reader/default.app-1 is not authorized to perform: secretsmanager:GetSecretValue on resource: ${secretArn('other-db')} because no identity-based policy allows the secretsmanager:GetSecretValue action`,
    );
  });

  describe('ListSecrets', () => {
    const lister = async (roleName: string) =>
      new SecretsManagerClient(config(await webIdentity(podToken(), roleName)));

    it('answers a role allowed secretsmanager:ListSecrets on "*" (moto behind filters and pages)', async () => {
      const sm = await lister('lister');
      const request = { Filters: [{ Key: 'name' as const, Values: ['prod/app/'] }], MaxResults: 100 };
      await expect(sm.send(new ListSecretsCommand(request))).resolves.toBeDefined();
    });

    it('refuses a role without it with AccessDeniedException on resource "*", as AWS does', async () => {
      const err = await failure((await lister('reader')).send(new ListSecretsCommand({})));
      expect(err).toMatchObject({ name: 'AccessDeniedException', status: 400 });
      expect(err.message).toBe(
        `User: arn:aws:sts::${ACCOUNT}:assumed-role/reader/default.app-1 is not authorized to perform: secretsmanager:ListSecrets on resource: * because no identity-based policy allows the secretsmanager:ListSecrets action`,
      );
    });

    it('refuses a role allowed it on some secrets only: ListSecrets is judged on "*"', async () => {
      const sm = await lister('narrow-lister');
      expect(await failure(sm.send(new ListSecretsCommand({})))).toMatchObject({
        name: 'AccessDeniedException',
      });
      // The same role reads those secrets.
      expect((await sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' }))).SecretString).toBe(
        'the-value',
      );
    });

    it.each<[string, ListSecretsCommandInput, RegExp]>([
      ['MaxResults above 100', { MaxResults: 101 }, /at 'maxResults' .*less than or equal to 100/],
      [
        'a filter key AWS does not know',
        { Filters: [{ Key: 'path' as never, Values: ['x'] }] },
        /filters\.1\.member\.key/,
      ],
      [
        'a value with a character filters refuse',
        { Filters: [{ Key: 'tag-value', Values: ['a,b'] }] },
        /regular expression pattern/,
      ],
      [
        '11 values in one filter',
        { Filters: [{ Key: 'name', Values: Array.from({ length: 11 }, () => 'a') }] },
        /length between 1 and 10/,
      ],
    ])(
      'refuses %s with ValidationException, as AWS does (moto would answer)',
      async (_name, input, message) => {
        const err = await failure((await lister('lister')).send(new ListSecretsCommand(input)));
        expect(err).toMatchObject({ name: 'ValidationException', status: 400 });
        expect(err.message).toMatch(/^1 validation error detected: /);
        expect(err.message).toMatch(message);
      },
    );
  });

  it('refuses SSM parameters outside the policy', async () => {
    const creds = await webIdentity(podToken());
    const ssm = new SSMClient(config(creds));
    expect(await failure(ssm.send(new GetParametersCommand({ Names: ['/x'] })))).toMatchObject({
      name: 'AccessDeniedException',
    });
  });

  it('answers ExpiredTokenException once the session has expired (the clock moved an hour on)', async () => {
    const creds = await webIdentity(podToken());
    clock.offsetMs = 3_700_000;
    const sm = new SecretsManagerClient(config(creds));
    expect(await failure(sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' })))).toMatchObject({
      name: 'ExpiredTokenException',
      status: 400,
    });
    const client = new STSClient(config(creds));
    expect(await failure(client.send(new GetCallerIdentityCommand({})))).toMatchObject({
      name: 'ExpiredToken',
      status: 400,
    });
  });

  it('lets the root key do anything', async () => {
    const sm = new SecretsManagerClient(config());
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'other-db' }))).SecretString).toBe(
      'the-value',
    );
  });
});

describe('AssumeRole (role chaining)', () => {
  const chain = async (
    from: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
    target: string,
    externalId?: string,
  ) =>
    new STSClient(config(from)).send(
      new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::${ACCOUNT}:role/${target}`,
        RoleSessionName: 'chained',
        ExternalId: externalId,
      }),
    );

  it('checks sts:ExternalId against the trust policy', async () => {
    const caller = await webIdentity(podToken());
    expect((await chain(caller, 'external', 'shop-7')).Credentials?.AccessKeyId).toMatch(/^ASIAFAKE/);
    for (const wrong of ['shop-8', undefined]) {
      expect(await failure(chain(caller, 'external', wrong))).toMatchObject({
        name: 'AccessDenied',
        status: 403,
      });
    }
  });

  it("allows a role whose trust policy trusts the account and whose caller's policy allows sts:AssumeRole", async () => {
    const out = await chain(await webIdentity(podToken()), 'chained');
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIAFAKE/);
  });

  it('refuses a role whose trust policy names another role', async () => {
    const err = await failure(chain(await webIdentity(podToken()), 'untrusting'));
    expect(err).toMatchObject({ name: 'AccessDenied', status: 403 });
    expect(err.message).toMatch(
      /is not authorized to perform: sts:AssumeRole on resource: .*role\/untrusting/,
    );
  });
});

describe('faults and counts', () => {
  it('throttles the matching calls the given number of times, and counts every call', async () => {
    faults.add({ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'throttle', times: 1 });
    const sm = new SecretsManagerClient(config());
    expect(await failure(sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' })))).toMatchObject({
      name: 'ThrottlingException',
      status: 400,
    });
    await sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' }));
    expect(calls.count({ service: 'secretsmanager', operation: 'GetSecretValue', region: REGION })).toBe(2);
    expect(calls.snapshot()).toEqual({ 'secretsmanager.GetSecretValue': 2 });
  });

  it('concurrency: a fault for 3 calls affects exactly 3 of 20 calls made at once', async () => {
    faults.add({ service: 'secretsmanager', kind: 'throttle', times: 3 });
    const sm = new SecretsManagerClient(config());
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' }))),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(3);
    expect(calls.count({ service: 'secretsmanager' })).toBe(20);
  });

  it('fault: moto unreachable behind the gate is a server error naming it, not a hang', async () => {
    const down = new Upstream('http://127.0.0.1:1');
    const server = http.createServer(new GateServer({ ...parts, upstream: down }).handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const sm = new SecretsManagerClient({
        ...config(),
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      });
      const err = await failure(sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' })));
      expect(err).toMatchObject({ name: 'InternalServiceError', status: 500 });
      expect(err.message).toMatch(/moto behind the gate is unreachable/);
    } finally {
      down.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers a server error in each protocol', async () => {
    faults.add({ kind: 'server-error' });
    expect(
      await failure(new SecretsManagerClient(config()).send(new GetSecretValueCommand({ SecretId: 'a' }))),
    ).toMatchObject({
      status: 500,
    });
    expect(await failure(sts().send(new GetCallerIdentityCommand({})))).toMatchObject({
      name: 'InternalFailure',
      status: 500,
    });
  });

  it('serves the control API: faults, counts, clock and cluster', async () => {
    const post = await fetch(`${endpoint}/gate/faults`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'latency', latencyMs: 1 }),
    });
    const { id } = (await post.json()) as { id: string };
    expect((await (await fetch(`${endpoint}/gate/faults`)).json()) as object).toEqual({
      faults: [{ id, kind: 'latency', latencyMs: 1 }],
    });
    expect((await fetch(`${endpoint}/gate/faults/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect(
      (await fetch(`${endpoint}/gate/faults`, { method: 'POST', body: '{"kind":"explode"}' })).status,
    ).toBe(400);
    expect(await (await fetch(`${endpoint}/gate/cluster`)).json()).toMatchObject({
      name: 'lab',
      region: REGION,
      arn: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/lab`,
    });
    await fetch(`${endpoint}/gate/clock`, { method: 'PUT', body: '{"offsetSeconds":60}' });
    expect(clock.offsetMs).toBe(60_000);
    expect(await (await fetch(`${endpoint}/gate/calls?service=sts`)).json()).toEqual({ count: 0, calls: {} });
  });
});

describe('EKS Pod Identity', () => {
  async function associate(namespace: string, serviceAccount: string, roleName: string) {
    const url = new URL(`${endpoint}/clusters/lab/pod-identity-associations`);
    const body = Buffer.from(
      JSON.stringify({ namespace, serviceAccount, roleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}` }),
    );
    const headers = signedHeaders(
      { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
      ROOT,
      REGION,
      'eks',
    );
    return fetch(url, { method: 'POST', headers, body });
  }
  const agent = (token: string) => fetch(agentUrl, { headers: { Authorization: token } });

  it('answers a pod of an associated ServiceAccount with credentials whose session tags ABAC policies see', async () => {
    expect((await associate('default', 'tagged', 'abac')).status).toBe(200);
    expect((await associate('default', 'tagged', 'abac')).status).toBe(409);
    const answer = await agent(podToken({ sa: 'tagged', aud: 'pods.eks.amazonaws.com' }));
    expect(answer.status).toBe(200);
    const creds = (await answer.json()) as {
      AccessKeyId: string;
      SecretAccessKey: string;
      Token: string;
      AccountId: string;
    };
    expect(creds.AccountId).toBe(ACCOUNT);
    const sm = new SecretsManagerClient(
      config({
        accessKeyId: creds.AccessKeyId,
        secretAccessKey: creds.SecretAccessKey,
        sessionToken: creds.Token,
      }),
    );
    // The session's kubernetes-namespace tag is "default": the secret tagged "default" only.
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'allowed-db' }))).SecretString).toBe(
      'the-value',
    );
    expect(await failure(sm.send(new GetSecretValueCommand({ SecretId: 'other-db' })))).toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(calls.count({ service: 'eks-auth', operation: 'AssumeRoleForPodIdentity' })).toBe(1);
  });

  const podIdentity = (o: Parameters<typeof podToken>[0] = {}) =>
    podToken({ sa: 'tagged', aud: 'pods.eks.amazonaws.com', ...o });
  /** EKS Auth's refusal as the agent relays it: [request id]: (code): message, fault: client. */
  const relayed = (code: string) => new RegExp(`^\\[[0-9a-f-]{36}\\]: \\(${code}\\): .*, fault: client\\n$`);

  it.each<[string, () => string, number, RegExp]>([
    [
      'no association',
      () => podToken({ sa: 'unassociated', aud: 'pods.eks.amazonaws.com' }),
      404,
      relayed('ResourceNotFoundException'),
    ],
    ['a forged token', () => forgeToken(podIdentity()), 400, relayed('InvalidTokenException')],
    ['the IRSA audience', () => podToken({ sa: 'tagged' }), 400, /\(InvalidTokenException\): .*audience/],
    [
      'a token bound to no pod',
      () => podIdentity({ bound: false }),
      400,
      /\(InvalidTokenException\): .*bound to no pod/,
    ],
  ])("relays EKS Auth's refusal of %s", async (_name, token, status, message) => {
    await associate('default', 'tagged', 'abac');
    const answer = await agent(token());
    expect(answer.status).toBe(status);
    expect(answer.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await answer.text()).toMatch(message);
    expect(calls.count({ service: 'eks-auth', operation: 'AssumeRoleForPodIdentity' })).toBe(1);
  });

  it('refuses an expired token itself, by the node clock, without calling EKS Auth', async () => {
    await associate('default', 'tagged', 'abac');
    const answer = await agent(podIdentity({ exp: now() - 1 }));
    expect(answer.status).toBe(400);
    expect(await answer.text()).toBe(
      'Service account token failed basic claim validations: token is expired\n',
    );
    const empty = await fetch(agentUrl);
    expect([empty.status, await empty.text()]).toEqual([400, 'Service account token cannot be empty\n']);
    expect(calls.count({ service: 'eks-auth', operation: 'AssumeRoleForPodIdentity' })).toBe(0);
  });

  it("relays ExpiredTokenException when the token is expired by AWS's clock but not by the node's", async () => {
    await associate('default', 'tagged', 'abac');
    clock.offsetMs = 3_700_000;
    const answer = await agent(podIdentity());
    expect(answer.status).toBe(400);
    expect(await answer.text()).toMatch(relayed('ExpiredTokenException'));
  });

  it("refuses a role that does not trust pods.eks.amazonaws.com with EKS's AccessDeniedException", async () => {
    await associate('default', 'irsa-only', 'no-pod-trust');
    const answer = await agent(podToken({ sa: 'irsa-only', aud: 'pods.eks.amazonaws.com' }));
    expect(answer.status).toBe(400);
    const text = await answer.text();
    expect(text).toMatch(relayed('AccessDeniedException'));
    expect(text).toContain(
      '(AccessDeniedException): Unauthorized Exception! EKS does not have permissions to assume the associated role., fault: client',
    );
  });

  it("relays EKS Auth's throttling (429) and server errors (500, fault: server)", async () => {
    await associate('default', 'tagged', 'abac');
    faults.add({ service: 'eks-auth', kind: 'throttle', times: 1 });
    const throttled = await agent(podIdentity());
    expect([throttled.status, await throttled.text()]).toEqual([
      429,
      expect.stringMatching(relayed('ThrottlingException')),
    ]);
    faults.add({ service: 'eks-auth', kind: 'server-error', times: 1 });
    const failed = await agent(podIdentity());
    expect(failed.status).toBe(500);
    expect(await failed.text()).toMatch(/\(InternalServerException\): .*, fault: server\n$/);
    expect((await agent(podIdentity())).status).toBe(200);
  });

  it('refuses an association for another cluster, or with a bad role ARN', async () => {
    const url = new URL(`${endpoint}/clusters/other/pod-identity-associations`);
    const body = Buffer.from('{"namespace":"a","serviceAccount":"b","roleArn":"nope"}');
    const headers = signedHeaders({ method: 'POST', url, body }, ROOT, REGION, 'eks');
    const answer = await fetch(url, { method: 'POST', headers, body });
    expect(answer.status).toBe(404);
    expect(answer.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    expect((await associate('default', 'x', 'not a role')).status).toBe(400);
  });
});
