// Pods get exactly the secrets their own AWS identity allows: the AWS gate enforces each role's IAM
// policy resources (as AWS does; moto alone does not), through the whole system.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import type * as grpc from '@grpc/grpc-js';
import type { Pod } from '@sscsi/common';
import { Resources, resourcePath, Status } from '@sscsi/common';
import fs from 'node:fs';

import type { DemoSystem } from '../src';
import {
  ACCOUNT,
  awsAdmin,
  createNamespace,
  createPod,
  createSecretProviderClass,
  deleteNamespace,
  DEMO_REGION,
  mountsUnder,
  startDemoSystem,
  uniqueSuffix,
} from '../src';

const sfx = uniqueSuffix();
const ns = `iso-${sfx}`;
let system: DemoSystem;
let aws: ReturnType<typeof awsAdmin>;

async function role(name: string, statements: object[]): Promise<string> {
  await aws.iam.send(
    new CreateRoleCommand({
      RoleName: name,
      AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}',
    }),
  );
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: name,
      PolicyName: 'read',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    }),
  );
  return `arn:aws:iam::${ACCOUNT}:role/${name}`;
}

async function serviceAccount(name: string, roleArn?: string): Promise<void> {
  await system.kube.create(resourcePath(Resources.serviceAccounts, ns), {
    metadata: { name, annotations: roleArn ? { 'eks.amazonaws.com/role-arn': roleArn } : {} },
  });
}

async function pod(name: string, sa: string, spc: string, namespace = ns): Promise<Pod> {
  return createPod(system.kube, namespace, name, {
    nodeName: system.nodeName,
    serviceAccountName: sa,
    volumes: [{ name: 'v', spc }],
  });
}

async function publishError(p: Pod): Promise<grpc.ServiceError> {
  try {
    await system.kubelet.publish(p);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error(`publishing ${p.metadata.name} was expected to fail`);
}

function expectNothingMounted(p: Pod): void {
  const target = system.kubelet.targetPath(p, 'v');
  expect(mountsUnder(target)).toEqual([]);
  expect(fs.existsSync(target)).toBe(false);
}

beforeAll(async () => {
  system = await startDemoSystem({ nodeName: `iso-${sfx}`, runKubelet: false });
  aws = awsAdmin(system.lab, DEMO_REGION);
  await createNamespace(system.kube, ns);
  await aws.secretsManager.send(
    new CreateSecretCommand({ Name: `allowed-${sfx}`, SecretString: 'allowed-value' }),
  );
  await aws.secretsManager.send(
    new CreateSecretCommand({ Name: `forbidden-${sfx}`, SecretString: 'forbidden-value' }),
  );
  await aws.ssm.send(
    new PutParameterCommand({ Name: `/iso-${sfx}/allowed`, Value: 'ok', Type: 'SecureString' }),
  );
  await aws.ssm.send(
    new PutParameterCommand({ Name: `/iso-${sfx}/forbidden`, Value: 'no', Type: 'SecureString' }),
  );
  const reader = await role(`reader-${sfx}`, [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: [`arn:aws:secretsmanager:${DEMO_REGION}:${ACCOUNT}:secret:allowed-${sfx}-*`],
    },
    {
      Effect: 'Allow',
      Action: ['ssm:GetParameters'],
      Resource: [`arn:aws:ssm:${DEMO_REGION}:${ACCOUNT}:parameter/iso-${sfx}/allowed`],
    },
  ]);
  const nothing = await role(`nothing-${sfx}`, [
    { Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['*'] },
  ]);
  await serviceAccount('reader', reader);
  await serviceAccount('nothing', nothing);
  await serviceAccount('unannotated');
  const spc = (name: string, objects: string) =>
    createSecretProviderClass(system.kube, ns, name, { provider: 'aws', parameters: { objects } });
  await spc('allowed', `- {objectName: allowed-${sfx}, objectType: secretsmanager}`);
  await spc('forbidden', `- {objectName: forbidden-${sfx}, objectType: secretsmanager}`);
  await spc(
    'ssm-mixed',
    `- {objectName: "/iso-${sfx}/allowed", objectType: ssmparameter}\n- {objectName: "/iso-${sfx}/forbidden", objectType: ssmparameter}`,
  );
});

afterAll(async () => {
  await deleteNamespace(system.kube, ns);
  aws?.destroy();
  await system?.close();
});

describe('isolation', () => {
  it('mounts what the role allows', async () => {
    const p = await pod('reader-ok', 'reader', 'allowed');
    const [call] = await system.kubelet.publish(p);
    expect(fs.readFileSync(`${call?.targetPath}/allowed-${sfx}`, 'utf8')).toBe('allowed-value');
  });

  it("fails a secret the pod's role may not read, naming the object and AccessDeniedException, with no file", async () => {
    const p = await pod('reader-denied', 'reader', 'forbidden');
    const err = await publishError(p);
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toMatch(
      new RegExp(`secret "forbidden-${sfx}" from Secrets Manager in ${DEMO_REGION}: AccessDeniedException`),
    );
    expect(err.details).toContain(`role/reader-${sfx}`);
    expect(err.details).not.toContain('forbidden-value');
    expectNothingMounted(p);
  });

  it('fails a role without any Secrets Manager permission', async () => {
    const p = await pod('nothing', 'nothing', 'allowed');
    const err = await publishError(p);
    expect(err.details).toMatch(
      /AccessDeniedException.*because no identity-based policy allows the secretsmanager:GetSecretValue action/,
    );
    expectNothingMounted(p);
  });

  it('fails a parameter batch that holds one parameter the role may not read', async () => {
    const p = await pod('ssm-mixed', 'reader', 'ssm-mixed');
    const err = await publishError(p);
    expect(err.details).toMatch(/SSM Parameter Store in ap-northeast-1: AccessDeniedException/);
    expectNothingMounted(p);
  });

  it('names the ServiceAccount that has no role annotation', async () => {
    const p = await pod('unannotated', 'unannotated', 'allowed');
    const err = await publishError(p);
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain(
      `ServiceAccount ${ns}/unannotated has no eks.amazonaws.com/role-arn annotation`,
    );
    expectNothingMounted(p);
  });

  it('never uses a SecretProviderClass of another namespace', async () => {
    const other = `iso-other-${sfx}`;
    await createNamespace(system.kube, other);
    try {
      await createSecretProviderClass(system.kube, other, 'theirs', {
        provider: 'aws',
        parameters: { objects: `- {objectName: allowed-${sfx}, objectType: secretsmanager}` },
      });
      const p = await pod('borrower', 'reader', 'theirs');
      const err = await publishError(p);
      expect(err.code).toBe(Status.NOT_FOUND);
      expect(err.details).toContain(`SecretProviderClass "theirs" not found in namespace "${ns}"`);
      expectNothingMounted(p);
    } finally {
      await deleteNamespace(system.kube, other);
    }
  });
});
