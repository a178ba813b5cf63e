// The lab's AWS endpoint itself (make lab-env's AWS_ENDPOINT_URL: the gate in front of moto), seen
// by the AWS SDK as any program would: real cluster tokens for AssumeRoleWithWebIdentity, keys it
// never issued, wrong secrets, expired sessions, IAM changes that apply at once, faults and counts.
import {
  DeleteRolePolicyCommand,
  ListRolesCommand,
  PutRolePolicyCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { KubeClient } from '@sscsi/common';

import {
  adminClient,
  AwsGate,
  awsAdmin,
  createNamespace,
  createRole,
  createServiceAccount,
  deleteNamespace,
  irsaTrustPolicy,
  LAB_ACCOUNT,
  mintTokens,
  requireLab,
  uniqueSuffix,
} from '../src';

const lab = requireLab();
const sfx = uniqueSuffix();
const ns = `gate-${sfx}`;
const REGION = 'us-east-1';
const ROLE = `gate-reader-${sfx}`;
const SECRET = `gate-secret-${sfx}`;
let kube: KubeClient;
let aws: ReturnType<typeof awsAdmin>;
let gate: AwsGate;

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const config = (credentials: Credentials) => ({
  region: REGION,
  endpoint: lab.awsEndpoint,
  credentials,
  maxAttempts: 1,
});

async function failure(call: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('the call was expected to fail');
}

/** Credentials for the role, from a token the lab's API server mints for the ServiceAccount. */
async function assume(serviceAccount: string, role = ROLE): Promise<Credentials> {
  const tokens = JSON.parse(await mintTokens(kube, ns, serviceAccount, ['sts.amazonaws.com'])) as Record<
    string,
    { token: string }
  >;
  const out = await new STSClient(config({ accessKeyId: 'unused', secretAccessKey: 'unused' })).send(
    new AssumeRoleWithWebIdentityCommand({
      RoleArn: `arn:aws:iam::${LAB_ACCOUNT}:role/${role}`,
      RoleSessionName: `${ns}.${serviceAccount}`,
      WebIdentityToken: tokens['sts.amazonaws.com']?.token,
    }),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('no credentials');
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

const readSecret = (credentials: Credentials) =>
  new SecretsManagerClient(config(credentials)).send(new GetSecretValueCommand({ SecretId: SECRET }));

beforeAll(async () => {
  kube = adminClient(lab);
  aws = awsAdmin(lab, REGION);
  gate = AwsGate.of(lab);
  await gate.clearFaults();
  await createNamespace(kube, ns);
  await createServiceAccount(kube, ns, 'app');
  await createServiceAccount(kube, ns, 'stranger');
  await aws.secretsManager.send(new CreateSecretCommand({ Name: SECRET, SecretString: 'gate-value' }));
  await createRole(
    aws.iam,
    ROLE,
    [
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: `arn:aws:secretsmanager:*:*:secret:${SECRET}-*`,
      },
    ],
    irsaTrustPolicy(lab.serviceAccountIssuer, `system:serviceaccount:${ns}:app`),
  );
});

afterAll(async () => {
  await gate?.setClockOffset(0);
  await gate?.clearFaults();
  await deleteNamespace(kube, ns);
  aws?.destroy();
  kube?.close();
});

describe("the lab's AWS endpoint", () => {
  it("verifies a cluster token against the API server's keys and the role's trust policy", async () => {
    expect((await readSecret(await assume('app'))).SecretString).toBe('gate-value');
    const refused = await failure(assume('stranger'));
    expect(refused).toMatchObject({ name: 'AccessDenied', status: 403 });
  });

  it('refuses a role that does not exist (moto alone hands out credentials for any ARN)', async () => {
    expect(await failure(assume('app', `missing-${sfx}`))).toMatchObject({
      name: 'AccessDenied',
      status: 403,
    });
  });

  it('fails closed for a key it never issued, with each service code', async () => {
    const never = { accessKeyId: 'AKIANEVERISSUED00000', secretAccessKey: 'whatever' };
    expect(await failure(readSecret(never))).toMatchObject({
      name: 'UnrecognizedClientException',
      status: 400,
    });
    expect(await failure(new STSClient(config(never)).send(new GetCallerIdentityCommand({})))).toMatchObject({
      name: 'InvalidClientTokenId',
      status: 403,
    });
    expect(await failure(new IAMClient(config(never)).send(new ListRolesCommand({})))).toMatchObject({
      name: 'InvalidClientTokenId',
      status: 403,
    });
  });

  it('refuses a known key signed with the wrong secret', async () => {
    const creds = await assume('app');
    expect(await failure(readSecret({ ...creds, secretAccessKey: 'not-the-secret' }))).toMatchObject({
      name: 'InvalidSignatureException',
    });
  });

  it('answers ExpiredTokenException once a session has expired', async () => {
    const creds = await assume('app');
    await gate.setClockOffset(3700);
    try {
      expect(await failure(readSecret(creds))).toMatchObject({ name: 'ExpiredTokenException', status: 400 });
    } finally {
      await gate.setClockOffset(0);
    }
    expect((await readSecret(creds)).SecretString).toBe('gate-value');
  });

  it('applies an IAM change made through it at once', async () => {
    const creds = await assume('app');
    await readSecret(creds);
    await aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: ROLE,
        PolicyName: 'deny',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Deny', Action: 'secretsmanager:*', Resource: '*' }],
        }),
      }),
    );
    const denied = await failure(readSecret(creds));
    expect(denied).toMatchObject({ name: 'AccessDeniedException' });
    expect(denied.message).toMatch(/with an explicit deny in an identity-based policy/);
    await aws.iam.send(new DeleteRolePolicyCommand({ RoleName: ROLE, PolicyName: 'deny' }));
    expect((await readSecret(creds)).SecretString).toBe('gate-value');
  });

  it('injects faults by operation and counts every call', async () => {
    await gate.resetCounts();
    const remove = await gate.inject({
      service: 'secretsmanager',
      operation: 'GetSecretValue',
      kind: 'throttle',
      times: 1,
    });
    expect(await failure(readSecret({ accessKeyId: 'lab', secretAccessKey: 'lab' }))).toMatchObject({
      name: 'ThrottlingException',
    });
    expect((await readSecret({ accessKeyId: 'lab', secretAccessKey: 'lab' })).SecretString).toBe(
      'gate-value',
    );
    await remove();
    expect(await gate.count('secretsmanager', 'GetSecretValue', REGION)).toBe(2);
    expect(await gate.snapshot()).toEqual({ 'secretsmanager.GetSecretValue': 2 });
  });

  it('keeps Pod Identity associations through its eks API', async () => {
    const roleArn = `arn:aws:iam::${LAB_ACCOUNT}:role/${ROLE}`;
    const association = await gate.createPodIdentityAssociation({
      namespace: ns,
      serviceAccount: 'app',
      roleArn,
    });
    expect(association).toMatchObject({ namespace: ns, serviceAccount: 'app', roleArn, clusterName: 'lab' });
    await expect(
      gate.createPodIdentityAssociation({ namespace: ns, serviceAccount: 'app', roleArn }),
    ).rejects.toThrow(/ResourceInUseException/);
    await gate.deletePodIdentityAssociation(association.associationId);
  });
});
