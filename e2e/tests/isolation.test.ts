// Pods get exactly the secrets their own AWS identity allows: the AWS gate enforces each role's IAM
// policy resources (as AWS does; moto alone does not), through the whole suite.system.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type * as grpc from '@grpc/grpc-js';
import type { Pod } from '@sscsi/common';
import { Status } from '@sscsi/common';
import fs from 'node:fs';

import {
  createNamespace,
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  deleteNamespace,
  DEMO_REGION,
  LAB_ACCOUNT,
  mountsUnder,
} from '../src';
import { systemSuite } from './system-suite';

const suite = systemSuite('iso', { runKubelet: false });
const { sfx, ns } = suite;

async function publishError(p: Pod): Promise<grpc.ServiceError> {
  try {
    await suite.system.kubelet.publish(p);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error(`publishing ${p.metadata.name} was expected to fail`);
}

function expectNothingMounted(p: Pod): void {
  const target = suite.system.kubelet.targetPath(p, 'v');
  expect(mountsUnder(target)).toEqual([]);
  expect(fs.existsSync(target)).toBe(false);
}

beforeAll(async () => {
  await suite.aws.secretsManager.send(
    new CreateSecretCommand({ Name: `allowed-${sfx}`, SecretString: 'allowed-value' }),
  );
  await suite.aws.secretsManager.send(
    new CreateSecretCommand({ Name: `forbidden-${sfx}`, SecretString: 'forbidden-value' }),
  );
  await suite.aws.ssm.send(
    new PutParameterCommand({ Name: `/iso-${sfx}/allowed`, Value: 'ok', Type: 'SecureString' }),
  );
  await suite.aws.ssm.send(
    new PutParameterCommand({ Name: `/iso-${sfx}/forbidden`, Value: 'no', Type: 'SecureString' }),
  );
  const reader = await createRole(suite.aws.iam, `reader-${sfx}`, [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: [`arn:aws:secretsmanager:${DEMO_REGION}:${LAB_ACCOUNT}:secret:allowed-${sfx}-*`],
    },
    {
      Effect: 'Allow',
      Action: ['ssm:GetParameters'],
      Resource: [`arn:aws:ssm:${DEMO_REGION}:${LAB_ACCOUNT}:parameter/iso-${sfx}/allowed`],
    },
  ]);
  const nothing = await createRole(suite.aws.iam, `nothing-${sfx}`, [
    { Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['*'] },
  ]);
  await createServiceAccount(suite.system.kube, ns, 'reader', reader);
  await createServiceAccount(suite.system.kube, ns, 'nothing', nothing);
  await createServiceAccount(suite.system.kube, ns, 'unannotated');
  const spc = (name: string, objects: string) =>
    createSecretProviderClass(suite.system.kube, ns, name, { provider: 'aws', parameters: { objects } });
  await spc('allowed', `- {objectName: allowed-${sfx}, objectType: secretsmanager}`);
  await spc('forbidden', `- {objectName: forbidden-${sfx}, objectType: secretsmanager}`);
  await spc(
    'ssm-mixed',
    `- {objectName: "/iso-${sfx}/allowed", objectType: ssmparameter}\n- {objectName: "/iso-${sfx}/forbidden", objectType: ssmparameter}`,
  );
});

describe('isolation', () => {
  it('mounts what the role allows', async () => {
    const p = await suite.createPod('reader-ok', 'reader', 'allowed');
    const [call] = await suite.system.kubelet.publish(p);
    expect(fs.readFileSync(`${call?.targetPath}/allowed-${sfx}`, 'utf8')).toBe('allowed-value');
  });

  it("fails a secret the pod's role may not read, naming the object and AccessDeniedException, with no file", async () => {
    const p = await suite.createPod('reader-denied', 'reader', 'forbidden');
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
    const p = await suite.createPod('nothing', 'nothing', 'allowed');
    const err = await publishError(p);
    expect(err.details).toMatch(
      /AccessDeniedException.*because no identity-based policy allows the secretsmanager:GetSecretValue action/,
    );
    expectNothingMounted(p);
  });

  it('fails a parameter batch that holds one parameter the role may not read', async () => {
    const p = await suite.createPod('ssm-mixed', 'reader', 'ssm-mixed');
    const err = await publishError(p);
    expect(err.details).toMatch(/SSM Parameter Store in ap-northeast-1: AccessDeniedException/);
    expectNothingMounted(p);
  });

  it('names the ServiceAccount that has no role annotation', async () => {
    const p = await suite.createPod('unannotated', 'unannotated', 'allowed');
    const err = await publishError(p);
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain(
      `ServiceAccount ${ns}/unannotated has no eks.amazonaws.com/role-arn annotation`,
    );
    expectNothingMounted(p);
  });

  it('never uses a SecretProviderClass of another namespace', async () => {
    const other = `iso-other-${sfx}`;
    await createNamespace(suite.system.kube, other);
    try {
      await createSecretProviderClass(suite.system.kube, other, 'theirs', {
        provider: 'aws',
        parameters: { objects: `- {objectName: allowed-${sfx}, objectType: secretsmanager}` },
      });
      const p = await suite.createPod('borrower', 'reader', 'theirs');
      const err = await publishError(p);
      expect(err.code).toBe(Status.NOT_FOUND);
      expect(err.details).toContain(`SecretProviderClass "theirs" not found in namespace "${ns}"`);
      expectNothingMounted(p);
    } finally {
      await deleteNamespace(suite.system.kube, other);
    }
  });
});
