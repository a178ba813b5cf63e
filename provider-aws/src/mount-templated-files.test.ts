// templatedFiles through the Mount handler: the templated file is answered (or written) with the
// objects' files, rendered again on rotation, and a class that gets it wrong fails before any call.
import { rejectionOf } from '@sscsi/common/testing';
import type { MountResponse } from '@sscsi/proto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { MountError } from './errors';
import { awsError } from './testing/fake-sts';
import { mountHarness, mountRequest, podAttributes, REGION } from './testing/mount-harness';

const pod = { namespace: 'default', serviceAccount: 'app', name: 'app-0', uid: 'uid-app-0' };
const TARGET_PATH = '/var/lib/kubelet/pods/uid-app-0/volumes/kubernetes.io~csi/secrets/mount';
const PASSWORD = 'p@ss#w0rd';

const objects = `
- {objectName: prod/db, objectType: secretsmanager, objectAlias: db, jmesPath: [{path: username, objectAlias: user}, {path: password, objectAlias: pass}]}
- {objectName: /app/host, objectType: ssmparameter, objectAlias: host}
`;
const templatedFiles = `
- path: app.env
  format: env
  filePermission: "0440"
  template:
    DB_URL: "postgres://{{user}}:{{pass}}@{{host}}/app"
- path: app.json
  format: json
  template: {db: {user: "{{user}}", password: "{{pass}}", port: 5432}}
`;

function request(
  targetPath: string,
  parameters: Record<string, string>,
  versions: MountResponse['objectVersion'] = [],
) {
  const attributes = {
    ...podAttributes(pod, JSON.stringify({ 'sts.amazonaws.com': { token: 't' } })),
    region: REGION,
  };
  return mountRequest(
    targetPath,
    { ...attributes, ...parameters },
    (versions ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' })),
  );
}

function harness() {
  const h = mountHarness();
  h.aws.putSecret(REGION, 'prod/db', {
    v1: { value: JSON.stringify({ username: 'admin', password: PASSWORD }), stages: ['AWSCURRENT'] },
  });
  h.aws.putParameter(REGION, '/app/host', { value: 'db.internal', version: 3 });
  return h;
}

const contentsOf = (response: MountResponse) =>
  Object.fromEntries((response.files ?? []).map((f) => [f.path, Buffer.from(f.contents ?? '').toString()]));
const versionOf = (response: MountResponse, id: string) =>
  response.objectVersion?.find((v) => v.id === id)?.version;

describe('templatedFiles through the Mount handler', () => {
  it("answers each templated file beside the objects' files, with its mode and a version of its own", async () => {
    const { service } = harness();
    const response = await service.mount(request(TARGET_PATH, { objects, templatedFiles }));
    expect(contentsOf(response)).toEqual({
      db: JSON.stringify({ username: 'admin', password: PASSWORD }),
      user: 'admin',
      pass: PASSWORD,
      host: 'db.internal',
      'app.env': `DB_URL='postgres://admin:${PASSWORD}@db.internal/app'\n`,
      'app.json': `{\n  "db": {\n    "user": "admin",\n    "password": "${PASSWORD}",\n    "port": 5432\n  }\n}\n`,
    });
    expect(response.files?.find((f) => f.path === 'app.env')?.mode).toBe(0o440);
    expect(response.files?.find((f) => f.path === 'app.json')?.mode).toBe(0o644);
    expect(versionOf(response, 'app.env')).toMatch(/^template-/);
  });

  it('renders it again on rotation: new contents and a new version when a value it uses changes', async () => {
    const { aws, service } = harness();
    const first = await service.mount(request(TARGET_PATH, { objects, templatedFiles }));
    const same = await service.mount(request(TARGET_PATH, { objects, templatedFiles }, first.objectVersion));
    expect(versionOf(same, 'app.env')).toBe(versionOf(first, 'app.env'));
    aws.putSecret(REGION, 'prod/db', {
      v1: { value: JSON.stringify({ username: 'admin', password: PASSWORD }), stages: [] },
      v2: { value: JSON.stringify({ username: 'admin', password: 'rotated' }), stages: ['AWSCURRENT'] },
    });
    const rotated = await service.mount(
      request(TARGET_PATH, { objects, templatedFiles }, first.objectVersion),
    );
    expect(contentsOf(rotated)['app.env']).toBe('DB_URL=postgres://admin:rotated@db.internal/app\n');
    expect(versionOf(rotated, 'app.env')).not.toBe(versionOf(first, 'app.env'));
    expect(versionOf(rotated, 'app.json')).not.toBe(versionOf(first, 'app.json'));
  });

  it('in provider-writes mode, writes it into the same payload as the other files', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'provider-templated-'));
    try {
      const { aws } = harness();
      const { service } = mountHarness({ aws, driverWritesSecrets: false });
      await service.mount(request(root, { objects, templatedFiles }));
      const data = fs.readlinkSync(path.join(root, '..data'));
      expect(fs.readFileSync(path.join(root, data, 'app.env'), 'utf8')).toContain('DB_URL=');
      expect(fs.readFileSync(path.join(root, 'app.env'), 'utf8')).toBe(
        `DB_URL='postgres://admin:${PASSWORD}@db.internal/app'\n`,
      );
      expect(fs.statSync(path.join(root, 'app.env')).mode & 0o777).toBe(0o440);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a placeholder naming no file before any AWS call', async () => {
    const { aws, service } = harness();
    const err = await rejectionOf(
      service.mount(
        request(TARGET_PATH, {
          objects,
          templatedFiles: '- {path: app.env, format: env, template: {DB_PASS: "{{password}}"}}',
        }),
      ),
      MountError,
    );
    expect(err.reason).toBe('InvalidParameters');
    expect(err.message).toMatch(
      /^templated file "app.env": \{\{password\}\} names no file the objects write/,
    );
    expect(aws.calls).toEqual([]);
  });

  it('fails the mount when a value cannot be written in the format, naming the variable, never the value', async () => {
    const { aws, service, logs } = harness();
    aws.putSecret(REGION, 'prod/db', {
      v1: { value: JSON.stringify({ username: 'admin', password: "it's-secret" }), stages: ['AWSCURRENT'] },
    });
    const err = await rejectionOf(
      service.mount(request(TARGET_PATH, { objects, templatedFiles })),
      MountError,
    );
    expect(err.reason).toBe('InvalidSecretContent');
    expect(err.message).toMatch(
      /^templated file "app.env" \(format env\): the value of DB_URL has a single quote/,
    );
    expect(err.message).not.toContain('secret');
    expect(logs.join('\n')).not.toContain("it's-secret");
  });

  it("fails the mount, naming the object, when a templated file needs an optional object's file and the object is missing", async () => {
    const { aws, service, events } = harness();
    const optional = `${objects}- {objectName: /app/replica, objectType: ssmparameter, objectAlias: replica, optional: true}\n`;
    const withReplica = `${templatedFiles}- {path: replica.env, format: env, template: {DB_REPLICA: "{{replica}}"}}\n`;
    // Missing: the other templated files alone would not need it.
    const plain = await service.mount(request(TARGET_PATH, { objects: optional, templatedFiles }));
    expect(versionOf(plain, 'replica')).toBe('missing');
    expect(contentsOf(plain)['app.env']).toContain('DB_URL=');
    const err = await rejectionOf(
      service.mount(request(TARGET_PATH, { objects: optional, templatedFiles: withReplica })),
      MountError,
    );
    expect(err.reason).toBe('InvalidSecretContent');
    expect(err.message).toBe(
      `templated file "replica.env": {{replica}} is a file of optional object "/app/replica" (ssmparameter), which is missing in ${REGION} (ParameterNotFound): a templated file is written only with every file it names`,
    );
    expect(events.recorded.map((e) => e.reason)).toContain('OptionalObjectMissing');
    // Once the parameter exists, the templated file is written.
    aws.putParameter(REGION, '/app/replica', { value: 'replica.internal', version: 1 });
    const back = await service.mount(
      request(TARGET_PATH, { objects: optional, templatedFiles: withReplica }),
    );
    expect(contentsOf(back)['replica.env']).toBe('DB_REPLICA=replica.internal\n');
  });

  it('names the secret when a templated file needs a match of an optional selection deleted since the listing', async () => {
    const { aws, service } = harness();
    aws.putSecret(REGION, 'prod/app/key', { k1: { value: 'key', stages: ['AWSCURRENT'] } });
    aws.putSecret(REGION, 'prod/app/token', { t1: { value: 'tok', stages: ['AWSCURRENT'] } });
    // The first read, prod/app/key's (name order), finds it deleted since the listing.
    aws.failNext('GetSecretValue', () => awsError('ResourceNotFoundException', 400, 'gone'));
    const err = await rejectionOf(
      service.mount(
        request(TARGET_PATH, {
          objects: '- {objectNamePrefix: prod/app/, objectAlias: app, optional: true}',
          templatedFiles:
            '- {path: t.env, format: env, template: {KEY: "{{app/key}}", TOKEN: "{{app/token}}"}}',
        }),
      ),
      MountError,
    );
    expect(err.message).toBe(
      `templated file "t.env": {{app/key}} is a file of secret "prod/app/key" (one of the secrets selected by objectNamePrefix "prod/app/", an optional entry), which is missing in ${REGION} (ResourceNotFoundException): a templated file is written only with every file it names`,
    );
  });
});
