// Secrets selected by name prefix and tags (objectNamePrefix, objectTags) through the whole system
// (driver, AWS provider, the lab's AWS gate enforcing IAM): each match a file named by path
// translation, a rotation that notices a secret added, changed or deleted under the selection, and
// what a role without ListSecrets, or without read access to one match, sees.
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
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
  eventually,
  LAB_ACCOUNT,
  mountsUnder,
} from '../src';
import { systemSuite } from './system-suite';

const suite = systemSuite('prefix', { runKubelet: false });
const { sfx, ns } = suite;
const ROOT = `byprefix-${sfx}`;
const APP = `${ROOT}/app/`;
const LOCKED = `${ROOT}/locked/`;
const TEAM = `team-${sfx}`;
const arn = (namePattern: string) =>
  `arn:aws:secretsmanager:${DEMO_REGION}:${LAB_ACCOUNT}:secret:${namePattern}`;
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

const create = (name: string, value: string, tags: Record<string, string> = {}) =>
  suite.aws.secretsManager.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: value,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );

const spc = (name: string, parameters: Record<string, string>) =>
  createSecretProviderClass(suite.system.kube, ns, name, { provider: 'aws', parameters });

beforeAll(async () => {
  await create(`${APP}db/password`, 'db-password-1', { team: TEAM });
  await create(`${APP}api-key`, 'api-key-1');
  await create(`${ROOT}/application`, 'not under app/', { team: TEAM });
  await create(`${ROOT}/other`, 'another team', { team: `${TEAM}-other` });
  await create(`${LOCKED}open`, 'open-value');
  await create(`${LOCKED}shut`, 'shut-value');

  // As examples/iam/secrets-by-prefix-policy.json: ListSecrets on "*" (IAM takes nothing narrower),
  // GetSecretValue only on the secrets meant; here all of this file's but one.
  const reader = await createRole(suite.aws.iam, `prefix-reader-${sfx}`, [
    { Effect: 'Allow', Action: 'secretsmanager:ListSecrets', Resource: '*' },
    {
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: [arn(`${APP}*`), arn(`${ROOT}/application-*`), arn(`${LOCKED}open-*`)],
    },
  ]);
  // May read the same secrets, but not list them.
  const noList = await createRole(suite.aws.iam, `prefix-nolist-${sfx}`, [
    { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: arn(`${ROOT}/*`) },
  ]);
  await createServiceAccount(suite.system.kube, ns, 'reader', reader);
  await createServiceAccount(suite.system.kube, ns, 'no-list', noList);

  await spc('by-prefix', { objects: `- {objectNamePrefix: "${APP}", objectAlias: app}` });
  await spc('by-tag', {
    pathTranslation: 'False',
    objects: `- {objectTags: {team: "${TEAM}"}, objectAlias: team}`,
  });
  await spc('locked', { objects: `- {objectNamePrefix: "${LOCKED}"}` });
  await spc('both-kinds', {
    objects: `- {objectName: "${APP}api-key", objectType: secretsmanager, objectNamePrefix: "${APP}"}`,
  });
});

describe('objectNamePrefix and objectTags through driver, provider and the IAM-enforcing gate', () => {
  it('a prefix: every secret under it, one file each in the alias, named by path translation', async () => {
    await suite.system.gate.resetCounts();
    const { dir } = await publishedPod('reader', 'by-prefix');
    expect(filesUnder(dir)).toEqual({ 'app/api-key': 'api-key-1', 'app/db_password': 'db-password-1' });
    expect(await suite.system.gate.count('secretsmanager', 'ListSecrets', DEMO_REGION)).toBe(1);
    expect(await suite.system.gate.count('secretsmanager', 'GetSecretValue', DEMO_REGION)).toBe(2);
  });

  it('tags: the secrets carrying the tag exactly (not team-...-other), names kept with translation off', async () => {
    const { dir } = await publishedPod('reader', 'by-tag');
    expect(filesUnder(dir)).toEqual({
      [`team/${APP}db/password`]: 'db-password-1',
      [`team/${ROOT}/application`]: 'not under app/',
    });
  });

  it('rotation: a secret added, one changed and one deleted under the prefix show at the next poll', async () => {
    const { pod, dir } = await publishedPod('reader', 'by-prefix');
    // Nothing changed: a remount lists again and reads no value.
    await suite.system.gate.resetCounts();
    await eventually('a remount that asked AWS', async () => {
      await suite.system.kubelet.publish(pod);
      return (await suite.system.gate.count('secretsmanager', 'ListSecrets', DEMO_REGION)) > 0
        ? true
        : undefined;
    });
    expect(await suite.system.gate.count('secretsmanager', 'GetSecretValue', DEMO_REGION)).toBe(0);

    await create(`${APP}new`, 'new-1');
    await suite.aws.secretsManager.send(
      new PutSecretValueCommand({ SecretId: `${APP}db/password`, SecretString: 'db-password-2' }),
    );
    await suite.aws.secretsManager.send(
      new DeleteSecretCommand({ SecretId: `${APP}api-key`, ForceDeleteWithoutRecovery: true }),
    );
    const expected = { 'app/db_password': 'db-password-2', 'app/new': 'new-1' };
    await eventually('the rotated files', async () => {
      await suite.system.kubelet.publish(pod);
      return JSON.stringify(filesUnder(dir)) === JSON.stringify(expected) ? true : undefined;
    });
    expect(filesUnder(dir)).toEqual(expected);
  });

  it('a role without secretsmanager:ListSecrets: the error says it needs it on "*", nothing is mounted', async () => {
    const err = await publishError('no-list', 'by-prefix');
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toContain(
      `failed to list the secrets selected by objectNamePrefix "${APP}" in ${DEMO_REGION}: AccessDeniedException`,
    );
    expect(err.details).toContain('needs secretsmanager:ListSecrets on resource "*"');
  });

  it('a match the role may not read: the mount fails naming it, no value in the error', async () => {
    const err = await publishError('reader', 'locked');
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toContain(
      `failed to read secret "${LOCKED}shut", one of the secrets selected by objectNamePrefix "${LOCKED}", in ${DEMO_REGION}: AccessDeniedException`,
    );
    for (const value of ['open-value', 'shut-value']) expect(err.details).not.toContain(value);
  });

  it('objectName with objectNamePrefix: refused before any AWS call', async () => {
    await suite.system.gate.resetCounts();
    const err = await publishError('reader', 'both-kinds');
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain(
      'objectNamePrefix and objectTags select secrets without it: give one or the other',
    );
    expect(await suite.system.gate.count('secretsmanager')).toBe(0);
  });
});
