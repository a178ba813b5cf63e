// templatedFiles (ours) through the whole system (driver, AWS provider, the lab's AWS gate enforcing
// IAM): a secret's keys and an SSM parameter as one .env, .properties, JSON and YAML file, written
// with the objects' files, rendered again on rotation (the pod's SecretProviderClassPodStatus
// records the new version), and the errors a class that gets it wrong shows.
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type * as grpc from '@grpc/grpc-js';
import type { Pod, SecretProviderClassPodStatus } from '@sscsi/common';
import { resourcePath, Resources, Status } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

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

const suite = systemSuite('tmpl', { runKubelet: false });
const { sfx, ns } = suite;
const SECRET = `tmpl-db-${sfx}`;
const HOST = `/tmpl-${sfx}/db-host`;
/** A secret whose JSON value has a backslash (an escaped quote): no env file holds it alike. */
const QUOTED = `tmpl-quoted-${sfx}`;
/** A secret the pods' role may not read. */
const OTHER = `forbidden-${sfx}`;
/** A password with what each format must escape: quotes, a dollar, a colon, a hash, a space. */
const PASSWORD = 'tv-password "w0rd" $HOME: #1';
const ROTATED = 'tv-rotated-password';
let podCount = 0;

const objects = `
- {objectName: ${SECRET}, objectType: secretsmanager, objectAlias: db, jmesPath: [{path: username, objectAlias: user}, {path: password, objectAlias: pass}]}
- {objectName: "${HOST}", objectType: ssmparameter, objectAlias: host}
`;
const templatedFiles = `
- path: app.env
  format: env
  filePermission: "0440"
  template: {DB_USER: "{{user}}", DB_PASSWORD: "{{pass}}", DB_HOST: "{{host}}"}
- path: app.properties
  format: properties
  template: {db.password: "{{pass}}"}
- path: app.json
  format: json
  template: {db: {user: "{{user}}", password: "{{pass}}", host: "{{host}}", port: 5432}}
- path: app.yaml
  format: yaml
  template: {db: {password: "{{pass}}"}}
`;

async function publishedPod(spc: string): Promise<{ pod: Pod; dir: string }> {
  const pod = await suite.createPod(`p${++podCount}`, 'app', spc);
  const [call] = await suite.system.kubelet.publish(pod);
  return { pod, dir: call?.targetPath ?? '' };
}

async function publishError(spc: string): Promise<grpc.ServiceError> {
  const pod = await suite.createPod(`p${++podCount}`, 'app', spc);
  try {
    await suite.system.kubelet.publish(pod);
  } catch (err) {
    const target = suite.system.kubelet.targetPath(pod, 'v');
    expect(mountsUnder(target)).toEqual([]);
    return err as grpc.ServiceError;
  }
  throw new Error(`publishing ${pod.metadata.name} was expected to fail`);
}

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8');

function status(pod: Pod, spc: string): Promise<SecretProviderClassPodStatus> {
  return suite.system.kube.get(
    resourcePath(Resources.secretProviderClassPodStatuses, ns, `${pod.metadata.name}-${ns}-${spc}`),
  );
}

const spc = (name: string, parameters: Record<string, string>) =>
  createSecretProviderClass(suite.system.kube, ns, name, { provider: 'aws', parameters });

beforeAll(async () => {
  await suite.aws.secretsManager.send(
    new CreateSecretCommand({
      Name: SECRET,
      SecretString: JSON.stringify({ username: 'tmpl-user', password: PASSWORD }),
    }),
  );
  await suite.aws.secretsManager.send(
    new CreateSecretCommand({
      Name: QUOTED,
      SecretString: JSON.stringify({ password: 'tv-quoted "value"' }),
    }),
  );
  await suite.aws.secretsManager.send(
    new CreateSecretCommand({ Name: OTHER, SecretString: 'forbidden-value' }),
  );
  await suite.aws.ssm.send(new PutParameterCommand({ Name: HOST, Value: 'db.internal', Type: 'String' }));
  // The pods' role may read this file's tmpl- secrets and the parameter, nothing else (not OTHER).
  const reader = await createRole(suite.aws.iam, `tmpl-reader-${sfx}`, [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: `arn:aws:secretsmanager:${DEMO_REGION}:${LAB_ACCOUNT}:secret:tmpl-*-${sfx}-*`,
    },
    {
      Effect: 'Allow',
      Action: 'ssm:GetParameters',
      Resource: `arn:aws:ssm:${DEMO_REGION}:${LAB_ACCOUNT}:parameter${HOST}`,
    },
  ]);
  await createServiceAccount(suite.system.kube, ns, 'app', reader);

  await spc('templated', { objects, templatedFiles });
  await spc('missing-key', {
    objects,
    templatedFiles: '- {path: app.env, format: env, template: {DB_PASSWORD: "{{password}}"}}',
  });
  await spc('section', {
    objects,
    templatedFiles: '- {path: app.conf, format: text, template: "{{#pass}}set{{/pass}}"}',
  });
  await spc('unwritable-env', {
    objects: `- {objectName: ${QUOTED}, objectType: secretsmanager, objectAlias: db}`,
    templatedFiles: '- {path: app.env, format: env, template: {DB: "{{db}}"}}',
  });
  await spc('not-allowed', {
    objects: `${objects}- {objectName: ${OTHER}, objectType: secretsmanager, objectAlias: other}`,
    templatedFiles: '- {path: app.conf, format: text, template: "{{other}}"}',
  });
});

describe('templatedFiles through the driver and the AWS provider', () => {
  let pod: Pod;
  let dir: string;

  it("writes each templated file beside the objects' files, each value escaped for its format", async () => {
    ({ pod, dir } = await publishedPod('templated'));
    expect(
      fs
        .readdirSync(dir)
        .filter((f) => !f.startsWith('..'))
        .sort(),
    ).toEqual(['app.env', 'app.json', 'app.properties', 'app.yaml', 'db', 'host', 'pass', 'user'].sort());
    expect(read(dir, 'pass')).toBe(PASSWORD);
    expect(read(dir, 'app.env')).toBe(`DB_USER=tmpl-user\nDB_PASSWORD='${PASSWORD}'\nDB_HOST=db.internal\n`);
    expect(fs.statSync(path.join(dir, 'app.env')).mode & 0o777).toBe(0o440);
    expect(read(dir, 'app.properties')).toBe('db.password=tv-password "w0rd" $HOME\\: \\#1\n');
    expect(JSON.parse(read(dir, 'app.json'))).toEqual({
      db: { user: 'tmpl-user', password: PASSWORD, host: 'db.internal', port: 5432 },
    });
    expect(parseYaml(read(dir, 'app.yaml'))).toEqual({ db: { password: PASSWORD } });
    const objects = (await status(pod, 'templated')).status?.objects ?? [];
    expect(objects.find((o) => o.id === 'app.env')?.version).toMatch(/^template-[0-9a-f]{32}$/);
  });

  it('renders them again when the secret rotates, and the pod status records their new versions', async () => {
    const before = (await status(pod, 'templated')).status?.objects ?? [];
    await suite.aws.secretsManager.send(
      new PutSecretValueCommand({
        SecretId: SECRET,
        SecretString: JSON.stringify({ username: 'tmpl-user', password: ROTATED }),
      }),
    );
    // The driver asks the provider again on a republish once its rotation poll interval has passed.
    await eventually(
      'the templated files rotated',
      async () => {
        await suite.system.kubelet.publish(pod);
        return read(dir, 'app.env').includes(ROTATED) ? true : undefined;
      },
      30_000,
      1000,
    );
    expect(read(dir, 'app.env')).toBe(`DB_USER=tmpl-user\nDB_PASSWORD=${ROTATED}\nDB_HOST=db.internal\n`);
    expect(JSON.parse(read(dir, 'app.json')).db.password).toBe(ROTATED);
    expect(read(dir, 'pass')).toBe(ROTATED);
    const after = await eventually('the new versions in the pod status', async () => {
      const objects = (await status(pod, 'templated')).status?.objects ?? [];
      const changed = (id: string) =>
        objects.find((o) => o.id === id)?.version !== before.find((o) => o.id === id)?.version;
      return changed('app.env') && changed('pass') ? objects : undefined;
    });
    // The parameter did not change, nor did the files built from it alone.
    expect(after.find((o) => o.id === 'host')).toEqual(before.find((o) => o.id === 'host'));
  });
});

describe('what a user sees when the class gets it wrong', () => {
  it('a placeholder naming no file: refused before any AWS call, naming it and the files there are', async () => {
    await suite.system.gate.resetCounts();
    const err = await publishError('missing-key');
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain('templated file "app.env": {{password}} names no file the objects write');
    expect(err.details).toContain('the objects write "db", "user", "pass", "host"');
    expect(await suite.system.gate.snapshot()).toEqual({});
  });

  it('logic in a template: refused, naming the tag', async () => {
    const err = await publishError('section');
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toContain('templated file "app.conf": {{#pass}} is a section');
  });

  it('a value env files cannot hold alike: the mount fails naming the variable, never the value', async () => {
    const err = await publishError('unwritable-env');
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain(
      'templated file "app.env" (format env): the value of DB has a single quote',
    );
    expect(err.details).not.toContain('tv-quoted');
  });

  it('a template cannot read what IAM does not allow: naming an object the role may not read fails the mount', async () => {
    const err = await publishError('not-allowed');
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toContain('AccessDeniedException');
    expect(err.details).not.toContain('forbidden-value');
  });
});
