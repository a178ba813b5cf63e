// Beyond upstream, through the whole system (driver, AWS provider, the lab's AWS gate enforcing
// IAM): a class's assumeRoleArn chains the pod's own IRSA role into another role, and objects are
// written as many files (jsonKeysAsFiles, parametersUnderPath).
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type * as grpc from '@grpc/grpc-js';
import type { Pod } from '@sscsi/common';
import { Status } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import {
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  DEMO_REGION,
  LAB_ACCOUNT,
  mountsUnder,
} from '../src';
import type { AwsAdmin } from './system-suite';
import { systemSuite } from './system-suite';

const suite = systemSuite('feat', { runKubelet: false });
const { sfx, ns } = suite;
const FAILOVER = 'us-west-2';
const DB_JSON = JSON.stringify({ username: 'feature-user', password: 'feature-secret-password', port: 5432 });
const TREE = `/feat-${sfx}/app`;
const role = (name: string) => `arn:aws:iam::${LAB_ACCOUNT}:role/feat-${name}-${sfx}`;
const OWN = role('own');
const TARGET = role('target');
const UNTRUSTING = role('untrusting');

let east: AwsAdmin;
let west: AwsAdmin;
let podCount = 0;

async function publishedPod(sa: string, spc: string): Promise<{ pod: Pod; dir: string }> {
  const pod = await suite.createPod(`p${++podCount}`, sa, spc);
  const [call] = await suite.system.kubelet.publish(pod);
  return { pod, dir: call?.targetPath ?? '' };
}

async function publishError(sa: string, spc: string): Promise<grpc.ServiceError> {
  const pod = await suite.createPod(`p${++podCount}`, sa, spc);
  try {
    await suite.system.kubelet.publish(pod);
  } catch (err) {
    const target = suite.system.kubelet.targetPath(pod, 'v');
    expect(mountsUnder(target)).toEqual([]);
    expect(fs.existsSync(target)).toBe(false);
    return err as grpc.ServiceError;
  }
  throw new Error(`publishing ${pod.metadata.name} was expected to fail`);
}

/** The files under `dir`, by path relative to it, skipping the writer's own `..` entries. */
function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (entry.name.startsWith('..')) continue;
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (fs.statSync(path.join(dir, name)).isDirectory()) walk(name);
      else out[name] = fs.readFileSync(path.join(dir, name), 'utf8');
    }
  };
  walk('');
  return out;
}

const spc = (name: string, parameters: Record<string, string>) =>
  createSecretProviderClass(suite.system.kube, ns, name, { provider: 'aws', parameters });

beforeAll(async () => {
  east = suite.aws;
  west = suite.awsIn(FAILOVER);

  await east.secretsManager.send(new CreateSecretCommand({ Name: `feat-db-${sfx}`, SecretString: DB_JSON }));
  await east.secretsManager.send(
    new CreateSecretCommand({ Name: `feat-dr-${sfx}`, SecretString: `from ${DEMO_REGION}` }),
  );
  await west.secretsManager.send(
    new CreateSecretCommand({ Name: `feat-dr-${sfx}`, SecretString: `from ${FAILOVER}` }),
  );
  await east.secretsManager.send(
    new CreateSecretCommand({ Name: `feat-text-${sfx}`, SecretString: 'plain text' }),
  );
  // Twelve parameters under the path (more than one page of ten), nested, some SecureStrings.
  const tree: Array<[string, string, 'String' | 'SecureString']> = [
    ['log-level', 'debug', 'String'],
    ['db/user', 'feature-user', 'String'],
    ['db/password', 'tree-secret-password', 'SecureString'],
    ...Array.from({ length: 9 }, (_, i): [string, string, 'String'] => [`flags/f${i}`, `on-${i}`, 'String']),
  ];
  for (const [name, value, type] of tree)
    await east.ssm.send(new PutParameterCommand({ Name: `${TREE}/${name}`, Value: value, Type: type }));
  await east.ssm.send(
    new PutParameterCommand({ Name: `/feat-${sfx}/apple`, Value: 'not under the path', Type: 'String' }),
  );

  // The pods' own role may do nothing but assume the target: every read below is the target's.
  await createRole(east.iam, `feat-own-${sfx}`, [
    { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: [TARGET, UNTRUSTING] },
  ]);
  await createRole(
    east.iam,
    `feat-target-${sfx}`,
    [
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: [`arn:aws:secretsmanager:*:${LAB_ACCOUNT}:secret:feat-*-${sfx}-*`],
      },
    ],
    {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: OWN }, Action: 'sts:AssumeRole' }],
    },
  );
  await createRole(
    east.iam,
    `feat-untrusting-${sfx}`,
    [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
    {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: role('someone-else') }, Action: 'sts:AssumeRole' }],
    },
  );
  // Roles for the many-files objects: one may list the path, one may only get parameters by name.
  const treeReader = await createRole(east.iam, `feat-tree-${sfx}`, [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: [`arn:aws:secretsmanager:${DEMO_REGION}:${LAB_ACCOUNT}:secret:feat-*-${sfx}-*`],
    },
    {
      Effect: 'Allow',
      Action: 'ssm:GetParametersByPath',
      Resource: `arn:aws:ssm:${DEMO_REGION}:${LAB_ACCOUNT}:parameter${TREE}`,
    },
  ]);
  const byName = await createRole(east.iam, `feat-byname-${sfx}`, [
    {
      Effect: 'Allow',
      Action: 'ssm:GetParameters',
      Resource: `arn:aws:ssm:${DEMO_REGION}:${LAB_ACCOUNT}:parameter${TREE}/*`,
    },
  ]);
  for (const sa of ['app', 'app-failover']) await createServiceAccount(suite.system.kube, ns, sa, OWN);
  await createServiceAccount(suite.system.kube, ns, 'tree', treeReader);
  await createServiceAccount(suite.system.kube, ns, 'by-name', byName);

  const db = `- {objectName: feat-db-${sfx}, objectType: secretsmanager, objectAlias: db}`;
  await spc('chained', { objects: db, assumeRoleArn: TARGET });
  await spc('unchained', { objects: db });
  await spc('untrusting', { objects: db, assumeRoleArn: UNTRUSTING });
  await spc('too-long', { objects: db, assumeRoleArn: TARGET, assumeRoleSessionDuration: '2h' });
  await spc('chained-failover', {
    objects: `- {objectName: feat-dr-${sfx}, objectType: secretsmanager, objectAlias: dr}`,
    assumeRoleArn: TARGET,
    failoverRegion: FAILOVER,
  });
  await spc('keys', {
    objects: `- {objectName: feat-db-${sfx}, objectType: secretsmanager, objectAlias: db, jsonKeysAsFiles: "true"}`,
  });
  await spc('keys-of-text', {
    objects: `- {objectName: feat-text-${sfx}, objectType: secretsmanager, jsonKeysAsFiles: "true"}`,
  });
  await spc('tree', {
    objects: `- {objectName: "${TREE}", objectType: ssmparameter, objectAlias: config, parametersUnderPath: recursive}`,
  });
  await spc('tree-direct', {
    pathTranslation: 'False',
    objects: `- {objectName: "${TREE}", objectType: ssmparameter, objectAlias: config, parametersUnderPath: direct}`,
  });
});

describe('assumeRoleArn: the pod reads with the role its own role chains into', () => {
  it("mounts the secret with the target role's permissions, through sts:AssumeRole", async () => {
    const before = await suite.system.gate.count('sts', 'AssumeRole', DEMO_REGION);
    const { dir } = await publishedPod('app', 'chained');
    expect(filesUnder(dir)).toEqual({ db: DB_JSON });
    expect(await suite.system.gate.count('sts', 'AssumeRole', DEMO_REGION)).toBe(before + 1);
  });

  it("without assumeRoleArn, the pod's own role is refused by IAM: the reads above were the target's", async () => {
    const err = await publishError('app', 'unchained');
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toContain('AccessDeniedException');
    expect(err.details).toContain(`feat-own-${sfx}`);
  });

  it("a role that does not trust the pod's role: the error names both roles, nothing is mounted", async () => {
    const err = await publishError('app', 'untrusting');
    expect(err.code).toBe(Status.UNAUTHENTICATED);
    expect(err.details).toContain(
      `failed to assume role ${UNTRUSTING} (assumeRoleArn) with the credentials of role ${OWN} of ServiceAccount ${ns}/app in ${DEMO_REGION}: AccessDenied`,
    );
    expect(err.details).toContain(`the trust policy of ${UNTRUSTING} must allow ${OWN}`);
  });

  it('a chained session longer than one hour is refused before any AWS call', async () => {
    const before = await suite.system.gate.count('sts');
    const err = await publishError('app', 'too-long');
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain('assumeRoleSessionDuration must be between 900 and 3600 seconds, got "2h"');
    expect(await suite.system.gate.count('sts')).toBe(before);
  });

  it('STS unavailable for the chained call in the region: the failover region assumes both roles and reads', async () => {
    const lift = await suite.system.gate.inject({
      service: 'sts',
      operation: 'AssumeRole',
      region: DEMO_REGION,
      kind: 'server-error',
    });
    try {
      const { dir } = await publishedPod('app-failover', 'chained-failover');
      expect(filesUnder(dir)).toEqual({ dr: `from ${FAILOVER}` });
      expect(await suite.system.gate.count('sts', 'AssumeRole', FAILOVER)).toBeGreaterThan(0);
    } finally {
      await lift();
    }
  });
});

describe('objects written as many files', () => {
  it('jsonKeysAsFiles: one file per top-level key of a JSON secret, in the directory of its alias', async () => {
    const { dir } = await publishedPod('tree', 'keys');
    expect(filesUnder(dir)).toEqual({
      'db/username': 'feature-user',
      'db/password': 'feature-secret-password',
      'db/port': '5432',
    });
  });

  it('jsonKeysAsFiles on a value that is not JSON: the mount fails naming the object, no value', async () => {
    const err = await publishError('tree', 'keys-of-text');
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain(
      `object "feat-text-${sfx}" has jsonKeysAsFiles: true but its value is not a JSON object`,
    );
    expect(err.details).not.toContain('plain text');
  });

  it('parametersUnderPath recursive: every parameter under the path, over several pages, SecureStrings decrypted', async () => {
    const before = await suite.system.gate.count('ssm', 'GetParametersByPath', DEMO_REGION);
    const { dir } = await publishedPod('tree', 'tree');
    const files = filesUnder(dir);
    expect(Object.keys(files).sort()).toEqual(
      [
        'config/db_password',
        'config/db_user',
        'config/log-level',
        ...Array.from({ length: 9 }, (_, i) => `config/flags_f${i}`),
      ].sort(),
    );
    expect(files['config/db_password']).toBe('tree-secret-password');
    expect(await suite.system.gate.count('ssm', 'GetParametersByPath', DEMO_REGION)).toBeGreaterThanOrEqual(
      before + 2,
    );
  });

  it('parametersUnderPath direct, translation off: only the parameters one level under the path', async () => {
    const { dir } = await publishedPod('tree', 'tree-direct');
    expect(filesUnder(dir)).toEqual({ 'config/log-level': 'debug' });
  });

  it('a role that may not list the path: the error names the path, the region and AccessDeniedException', async () => {
    const err = await publishError('by-name', 'tree');
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toContain(
      `failed to fetch the parameters under "${TREE}" from SSM Parameter Store in ${DEMO_REGION}: AccessDeniedException`,
    );
  });
});
