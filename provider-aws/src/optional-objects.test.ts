// Optional objects through the Mount handler: a missing one (not found, or a secret scheduled for
// deletion) is mounted without, on the first mount and on rotation, and the miss is visible in the
// versions answered (the pod status), a pod Event, the log and a metric. Denied access still fails.
import { Status } from '@sscsi/common';
import { rejectionOf } from '@sscsi/common/testing';
import type { MountResponse } from '@sscsi/proto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { MountError } from './errors';
import { SharedAnswers } from './fetch/shared-answers';
import { OPTIONAL_MISSING_REASON } from './mount';
import { FakeCluster, syncRequestFor } from './testing/fake-cluster';
import { awsError } from './testing/fake-sts';
import type { MountHarness } from './testing/mount-harness';
import { mountHarness, mountRequest, podAttributes, REGION } from './testing/mount-harness';

const tokens = JSON.stringify({ 'sts.amazonaws.com': { token: 'header.payload.signature' } });
const pod = { name: 'app', namespace: 'default', uid: 'uid-app', serviceAccount: 'sa' };
const TARGET = '/var/lib/kubelet/pods/uid-app/volumes/kubernetes.io~csi/secrets/mount';

const OBJECTS = `
  - {objectName: db, objectType: secretsmanager}
  - {objectName: feature, objectType: secretsmanager, optional: true}
  - {objectName: /app/url, objectType: ssmparameter}
  - {objectName: /app/extra, objectType: ssmparameter, optional: true}`;

const request = (
  objects: string,
  current: Array<{ id: string; version: string }> = [],
  extra: Record<string, string> = {},
) => mountRequest(TARGET, { ...podAttributes(pod, tokens), region: REGION, objects, ...extra }, current);

const filesOf = (r: MountResponse) =>
  Object.fromEntries((r.files ?? []).map((f) => [f.path, Buffer.from(f.contents ?? '').toString()]));
const versionsOf = (r: MountResponse) =>
  Object.fromEntries((r.objectVersion ?? []).map((v) => [v.id, v.version]));
/** What the driver sends back on the next rotation: the versions it recorded. */
const current = (r: MountResponse) =>
  (r.objectVersion ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' }));

async function missingCount(h: MountHarness, type: string): Promise<number> {
  const metric = await h.registry.getSingleMetric('aws_provider_optional_objects_missing_total')?.get();
  return metric?.values.find((v) => v.labels.type === type)?.value ?? 0;
}

function withRequired(h: MountHarness): void {
  h.aws.putSecret(REGION, 'db', { v1: { value: 'db-password', stages: ['AWSCURRENT'] } });
  h.aws.putParameter(REGION, '/app/url', { value: 'https://app', version: 1 });
}

describe('a first mount with optional objects missing', () => {
  it('mounts the others, reports the missing ones as "missing" with no file, and records the miss', async () => {
    const h = mountHarness();
    withRequired(h);
    const r = await h.service.mount(request(OBJECTS));
    expect(filesOf(r)).toEqual({ db: 'db-password', _app_url: 'https://app' });
    expect(versionsOf(r)).toEqual({ db: 'v1', _app_url: '1', feature: 'missing', _app_extra: 'missing' });
    expect(h.events.recorded).toEqual([
      {
        object: expect.objectContaining({ kind: 'Pod', name: 'app', uid: 'uid-app' }),
        type: 'Warning',
        reason: OPTIONAL_MISSING_REASON,
        message: `optional object "feature" (secretsmanager) is missing in ${REGION} (ResourceNotFoundException): the volume has no file "feature"`,
      },
      expect.objectContaining({
        message: `optional object "/app/extra" (ssmparameter) is missing in ${REGION} (ParameterNotFound): the volume has no file "_app_extra"`,
      }),
    ]);
    expect(await missingCount(h, 'secretsmanager')).toBe(1);
    expect(await missingCount(h, 'ssmparameter')).toBe(1);
    expect(h.logs.filter((l) => l.includes('optional object missing'))).toHaveLength(2);
  });

  it('mounts with every object missing: no file at all, every object in the versions', async () => {
    const h = mountHarness();
    const r = await h.service.mount(
      request('- {objectName: feature, objectType: secretsmanager, optional: true}'),
    );
    expect(r.files).toEqual([]);
    expect(r.objectVersion).toEqual([{ id: 'feature', version: 'missing' }]);
  });

  it('still fails for a required object that is missing, saying only it was not found', async () => {
    const h = mountHarness();
    h.aws.putSecret(REGION, 'db', { v1: { value: 'db-password', stages: ['AWSCURRENT'] } });
    const err = await rejectionOf(h.service.mount(request(OBJECTS)), MountError);
    expect(err.code).toBe(Status.NOT_FOUND);
    // The call names its batch; what was not found is the required parameter alone.
    expect(err.message).toMatch(
      /parameters not found \(or versions or labels that do not exist\): \/app\/url \(check/,
    );
  });

  it('fails as before when access to an optional object is denied: denied is never "missing"', async () => {
    const h = mountHarness();
    withRequired(h);
    h.aws.failNext('GetSecretValue', () =>
      awsError('AccessDeniedException', 400, 'User: app is not authorized to perform: GetSecretValue'),
    );
    h.aws.failNext('GetSecretValue', () =>
      awsError('AccessDeniedException', 400, 'User: app is not authorized to perform: GetSecretValue'),
    );
    const err = await rejectionOf(h.service.mount(request(OBJECTS)), MountError);
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(h.events.recorded).toEqual([]);
  });

  it('fails as before when SSM denies the call that carries an optional parameter', async () => {
    const h = mountHarness();
    withRequired(h);
    h.aws.failNext('GetParameters', () => awsError('AccessDeniedException', 400, 'not authorized'));
    const err = await rejectionOf(h.service.mount(request(OBJECTS)), MountError);
    expect(err.code).toBe(Status.PERMISSION_DENIED);
  });

  it('counts a secret scheduled for deletion as missing, but no other InvalidRequestException', async () => {
    const h = mountHarness();
    withRequired(h);
    h.aws.putSecret(REGION, 'feature', { f1: { value: 'on', stages: ['AWSCURRENT'] } });
    h.aws.scheduleDeletion(REGION, 'feature');
    const r = await h.service.mount(request(OBJECTS));
    expect(versionsOf(r).feature).toBe('missing');
    expect(h.events.recorded[0]?.message).toContain('(InvalidRequestException)');

    h.aws.scheduleDeletion(REGION, 'feature', true);
    h.aws.failNext('GetSecretValue', () =>
      awsError('InvalidRequestException', 400, 'The secret is managed by another service'),
    );
    await expect(h.service.mount(request(OBJECTS))).rejects.toThrow(/InvalidRequestException/);
  });

  it('counts a version or label that does not exist as missing', async () => {
    const h = mountHarness();
    h.aws.putSecret(REGION, 'feature', { f1: { value: 'on', stages: ['AWSCURRENT'] } });
    h.aws.putParameter(REGION, '/app/extra', { value: 'x', version: 1 });
    const r = await h.service.mount(
      request(`
        - {objectName: feature, objectType: secretsmanager, objectVersionLabel: NEXT, optional: true}
        - {objectName: /app/extra, objectType: ssmparameter, objectVersion: "7", optional: true}`),
    );
    expect(versionsOf(r)).toEqual({ feature: 'missing', _app_extra: 'missing' });
  });

  it('does not try the failover region for an object the primary region does not have', async () => {
    const h = mountHarness();
    h.aws.putSecret('us-west-2', 'feature', { f1: { value: 'on', stages: ['AWSCURRENT'] } });
    const r = await h.service.mount(
      request(
        '- {objectName: feature, objectType: secretsmanager, objectAlias: feature, optional: true}',
        [],
        {
          failoverRegion: 'us-west-2',
        },
      ),
    );
    expect(versionsOf(r)).toEqual({ feature: 'missing' });
    expect(h.aws.calls.map((c) => c.region)).toEqual([REGION]);
  });

  it('counts an optional path with no parameters under it, or a JSON secret split into keys, as missing', async () => {
    const h = mountHarness();
    const r = await h.service.mount(
      request(`
        - {objectName: /app/prod, objectType: ssmparameter, parametersUnderPath: direct, optional: true}
        - {objectName: config, objectType: secretsmanager, jsonKeysAsFiles: "true", optional: true}`),
    );
    expect(r.files).toEqual([]);
    expect(versionsOf(r)).toEqual({ _app_prod: 'missing', config: 'missing' });
    expect(h.events.recorded.map((e) => e.message)).toEqual([
      expect.stringContaining('(NoParametersUnderPath)'),
      expect.stringContaining('(ResourceNotFoundException)'),
    ]);
  });
});

describe('rotation with optional objects', () => {
  it('removes the file of an object deleted since, restores it when it is back, and records each change once', async () => {
    const h = mountHarness();
    withRequired(h);
    h.aws.putSecret(REGION, 'feature', { f1: { value: 'on', stages: ['AWSCURRENT'] } });
    h.aws.putParameter(REGION, '/app/extra', { value: 'extra', version: 3 });
    const first = await h.service.mount(request(OBJECTS));
    expect(filesOf(first)).toMatchObject({ feature: 'on', _app_extra: 'extra' });
    expect(h.events.recorded).toEqual([]);

    // Deleted: the secret with a recovery window (its value is kept here, and DescribeSecret still
    // lists its stages), the parameter for good.
    h.aws.scheduleDeletion(REGION, 'feature');
    h.aws.parameters.get(REGION)?.delete('/app/extra');
    const removed = await h.service.mount(request(OBJECTS, current(first)));
    expect(filesOf(removed)).toEqual({ db: 'db-password', _app_url: 'https://app' });
    expect(versionsOf(removed)).toMatchObject({ feature: 'missing', _app_extra: 'missing' });
    expect(h.events.recorded.map((e) => e.message)).toEqual([
      `optional object "feature" (secretsmanager) is missing in ${REGION} (InvalidRequestException): its file "feature" was removed from the volume`,
      `optional object "/app/extra" (ssmparameter) is missing in ${REGION} (ParameterNotFound): its file "_app_extra" was removed from the volume`,
    ]);

    // Still missing: counted and logged at each poll, recorded on the pod no more.
    const still = await h.service.mount(request(OBJECTS, current(removed)));
    expect(versionsOf(still)).toMatchObject({ feature: 'missing', _app_extra: 'missing' });
    expect(h.events.recorded).toHaveLength(2);
    expect(await missingCount(h, 'secretsmanager')).toBe(2);

    h.aws.scheduleDeletion(REGION, 'feature', true);
    h.aws.putParameter(REGION, '/app/extra', { value: 'extra again', version: 4 });
    const back = await h.service.mount(request(OBJECTS, current(still)));
    expect(filesOf(back)).toMatchObject({ feature: 'on', _app_extra: 'extra again' });
    expect(versionsOf(back)).toMatchObject({ feature: 'f1', _app_extra: '4' });
  });

  it('does not serve a missing answer to the same volume again once it has looked (shared answers)', async () => {
    let now = 0;
    const sharedAnswers = new SharedAnswers({ windowMs: 60_000, coalesceMs: 0, now: () => now });
    const h = mountHarness({ sharedAnswers });
    withRequired(h);
    const first = await h.service.mount(request(OBJECTS));
    expect(versionsOf(first)).toMatchObject({ feature: 'missing', _app_extra: 'missing' });
    now += 1000;
    h.aws.putSecret(REGION, 'feature', { f1: { value: 'on', stages: ['AWSCURRENT'] } });
    h.aws.putParameter(REGION, '/app/extra', { value: 'extra', version: 1 });
    const next = await h.service.mount(request(OBJECTS, current(first)));
    expect(filesOf(next)).toMatchObject({ feature: 'on', _app_extra: 'extra' });
  });

  it('concurrency: mounts sharing one GetParameters call each get their own outcome for a missing name', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 't' };
    const sharedAnswers = new SharedAnswers({ windowMs: 60_000, coalesceMs: 5 });
    const h = mountHarness({ sharedAnswers, identity: { credentials: async () => credentials } });
    h.aws.putParameter(REGION, '/app/url', { value: 'https://app', version: 1 });
    const objects = (optional: boolean) =>
      `- {objectName: /app/url, objectType: ssmparameter}\n- {objectName: /app/extra, objectType: ssmparameter, optional: ${optional}}`;
    const at = (i: number, optional: boolean) => ({
      ...request(objects(optional)),
      targetPath: `${TARGET}-${i}`,
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => h.service.mount(at(i, i % 2 === 0))),
    );
    expect(h.aws.count('GetParameters')).toBe(1);
    outcomes.forEach((o, i) => {
      if (i % 2 === 0) {
        expect(o.status).toBe('fulfilled');
        if (o.status === 'fulfilled')
          expect(versionsOf(o.value)).toEqual({ _app_url: '1', _app_extra: 'missing' });
      } else {
        expect(o.status).toBe('rejected');
        if (o.status === 'rejected') expect(String(o.reason)).toMatch(/not exist\): \/app\/extra/);
      }
    });
  });

  it('with every object missing, says the files stay on the volume: an answer without files leaves it as it is', async () => {
    const h = mountHarness();
    const objects = `
      - {objectName: feature, objectType: secretsmanager, optional: true}
      - {objectName: /app/extra, objectType: ssmparameter, optional: true}`;
    h.aws.putSecret(REGION, 'feature', { f1: { value: 'on', stages: ['AWSCURRENT'] } });
    h.aws.putParameter(REGION, '/app/extra', { value: 'extra', version: 3 });
    const first = await h.service.mount(request(objects));
    h.aws.secrets.get(REGION)?.delete('feature');
    h.aws.parameters.get(REGION)?.delete('/app/extra');
    const gone = await h.service.mount(request(objects, current(first)));
    // The driver reads an empty list as "the provider wrote the files": the old ones stay.
    expect(gone.files).toEqual([]);
    expect(versionsOf(gone)).toEqual({ feature: 'missing', _app_extra: 'missing' });
    const kept = (file: string) =>
      `its file ${JSON.stringify(file)} stays on the volume with its last value until an object of the volume is present again (every object of the volume is missing, and an answer without files leaves the volume as it is)`;
    expect(h.events.recorded.map((e) => e.message)).toEqual([
      `optional object "feature" (secretsmanager) is missing in ${REGION} (ResourceNotFoundException): ${kept('feature')}`,
      `optional object "/app/extra" (ssmparameter) is missing in ${REGION} (ParameterNotFound): ${kept('_app_extra')}`,
    ]);
    const logged = h.logs.filter((l) => l.includes('optional object missing')).map((l) => JSON.parse(l));
    expect(logged.map((l) => [l.removed, l.keptOnVolume])).toEqual([
      [false, true],
      [false, true],
    ]);
  });

  it('in provider-writes mode, removes the file from the volume itself', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'provider-optional-'));
    try {
      const h = mountHarness({ driverWritesSecrets: false });
      withRequired(h);
      h.aws.putSecret(REGION, 'feature', { f1: { value: 'on', stages: ['AWSCURRENT'] } });
      const target = path.join(root, 'mount');
      fs.mkdirSync(target);
      const req = (cur: Array<{ id: string; version: string }> = []) => ({
        ...request(OBJECTS, cur),
        targetPath: target,
      });
      const first = await h.service.mount(req());
      expect(fs.readFileSync(path.join(target, 'feature'), 'utf8')).toBe('on');
      h.aws.secrets.get(REGION)?.delete('feature');
      const removed = await h.service.mount(req(current(first)));
      expect(removed.files).toEqual([]);
      expect(fs.existsSync(path.join(target, 'feature'))).toBe(false);
      expect(fs.readFileSync(path.join(target, 'db'), 'utf8')).toBe('db-password');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("a SecretSync's request with an optional object missing", () => {
  it("answers without it, counts it, and records nothing on the pod it names (the controller's)", async () => {
    const h = mountHarness();
    withRequired(h);
    const cluster = new FakeCluster();
    const sync = syncRequestFor(
      cluster,
      { namespace: 'team-a', serviceAccount: 'reader' },
      {
        parameters: { objects: OBJECTS },
      },
    );
    const r = await h.service.mount(sync);
    expect(filesOf(r)).toEqual({ db: 'db-password', _app_url: 'https://app' });
    expect(versionsOf(r)).toMatchObject({ feature: 'missing', _app_extra: 'missing' });
    expect(h.events.recorded).toEqual([]);
    const metric = await h.registry.getSingleMetric('aws_provider_optional_objects_missing_total')?.get();
    expect(metric?.values.map((v) => v.labels.requester)).toEqual(['serviceaccount', 'serviceaccount']);
    expect(h.logs.filter((l) => l.includes('optional object missing'))).toHaveLength(2);
  });
});
