// The Mount handler with AWS, Kubernetes and the pod's identity faked: what a volume holds after a
// mount, what a failure leaves, and what the value cache does across many mounts.
import { CorrelatingEventRecorder, podReference } from '@sscsi/common';
import { FakeKube, silentLogger } from '@sscsi/common/testing';
import type { MountResponse } from '@sscsi/proto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { IdentityResolver } from './credentials/identity';
import { SharedAnswers } from './fetch/shared-answers';
import type { PodLookups } from './kube-lookups';
import { FakeCluster, SYNC_CONTROLLER_POD, syncRequestFor } from './testing/fake-cluster';
import type { FakeAws } from './testing/fake-aws';
import { awsError } from './testing/fake-sts';
import { ValueCache } from './fetch/value-cache';
import { describeWriteFailure, MAX_EVENTS_PER_MOUNT } from './mount';
import {
  mountHarness as harness,
  mountRequest as request,
  podAttributes,
  REGION,
} from './testing/mount-harness';

const tokens = JSON.stringify({ 'sts.amazonaws.com': { token: 'header.payload.signature' } });
const pod = {
  name: 'app',
  namespace: 'default',
  uid: '0a1b2c3d-0000-4000-8000-000000000001',
  serviceAccount: 'sa',
};

function attributes(objects: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...podAttributes(pod, tokens), region: REGION, objects, ...extra };
}

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'provider-mount-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('provider-writes mode (--driver-writes-secrets=false)', () => {
  const objects = `
    - {objectName: one, objectType: secretsmanager}
    - {objectName: two, objectType: secretsmanager}
    - {objectName: three, objectType: secretsmanager, objectAlias: dir/three}`;
  const files = ['one', 'two', 'dir/three'];
  const noTranslation = { pathTranslation: 'False' };

  function generation(aws: FakeAws, g: number) {
    for (const name of ['one', 'two', 'three'])
      aws.putSecret(REGION, name, { [`v${g}`]: { value: `${name}@${g}`, stages: ['AWSCURRENT'] } });
  }

  const read = (target: string) => files.map((f) => fs.readFileSync(path.join(target, f), 'utf8'));

  /** Makes the n-th file-system change of the next operations fail, whichever API makes it. */
  function failNthChange(n: number) {
    let changes = 0;
    const fail = () => {
      changes += 1;
      if (changes === n) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    const wrap = (target: object, names: string[]) => {
      for (const name of names) {
        const obj = target as Record<string, (...args: unknown[]) => unknown>;
        const original = obj[name] as (...args: unknown[]) => unknown;
        jest.spyOn(obj, name).mockImplementation((...args: unknown[]) => {
          if (name.endsWith('Sync')) {
            fail();
            return original.apply(target, args);
          }
          try {
            fail();
          } catch (err) {
            return Promise.reject(err);
          }
          return original.apply(target, args);
        });
      }
    };
    wrap(fs, ['writeFileSync', 'chmodSync', 'renameSync', 'symlinkSync', 'mkdirSync', 'mkdtempSync']);
    wrap(fs.promises, ['writeFile', 'chmod', 'rename', 'mkdir']);
  }

  it('writes the files itself and returns none to the driver', async () => {
    const { aws, service } = harness({ driverWritesSecrets: false });
    generation(aws, 1);
    const target = path.join(root, 'mount');
    fs.mkdirSync(target);
    const response = await service.mount(request(target, attributes(objects, noTranslation)));
    expect(response.files).toEqual([]);
    expect(read(target)).toEqual(['one@1', 'two@1', 'three@1']);
  });

  it('writes nothing when the driver gave the call up before the files were ready', async () => {
    const { aws, service } = harness({ driverWritesSecrets: false });
    generation(aws, 1);
    const target = path.join(root, 'mount');
    fs.mkdirSync(target);
    const gaveUp = new AbortController();
    // The deadline passes while AWS answers: the answers arrive, the driver is gone.
    aws.delay = () => {
      gaveUp.abort(new Error("the driver's deadline passed"));
      return 0;
    };
    await expect(
      service.mount(request(target, attributes(objects, noTranslation)), gaveUp.signal),
    ).rejects.toThrow();
    expect(fs.readdirSync(target)).toEqual([]);
  });

  // Giving files to another group needs root (chown); the provider's container runs as root.
  (process.getuid?.() === 0 ? it : it.skip)(
    'gives the files to fileGroup with defaultFilePermission plus group read, on rotation too',
    async () => {
      const { aws, service } = harness({ driverWritesSecrets: false });
      generation(aws, 1);
      const target = path.join(root, 'mount');
      fs.mkdirSync(target);
      const attrs = attributes(objects, {
        ...noTranslation,
        fileGroup: '2000',
        defaultFilePermission: '0400',
      });
      const first = await service.mount(request(target, attrs));
      const owned = () =>
        [...files, 'dir', '.'].map((f) => {
          const stat = fs.statSync(path.join(target, f));
          return { f, gid: stat.gid, mode: stat.mode & 0o777 };
        });
      const expected = [
        ...files.map((f) => ({ f, gid: 2000, mode: 0o440 })),
        { f: 'dir', gid: 2000, mode: 0o755 },
        { f: '.', gid: 2000, mode: 0o755 },
      ];
      expect(owned()).toEqual(expected);

      generation(aws, 2);
      const current = (first.objectVersion ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' }));
      await service.mount(request(target, attrs, current));
      expect(read(target)).toEqual(['one@2', 'two@2', 'three@2']);
      expect(owned()).toEqual(expected);
    },
  );

  it('a failure at any point of a rotation leaves all the old files, never a mix', async () => {
    const { aws, service } = harness({ driverWritesSecrets: false });
    const target = path.join(root, 'mount');
    fs.mkdirSync(target);
    generation(aws, 1);
    const first = await service.mount(request(target, attributes(objects, noTranslation)));
    const current = (first.objectVersion ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' }));
    expect(read(target)).toEqual(['one@1', 'two@1', 'three@1']);

    generation(aws, 2);
    let failures = 0;
    for (let n = 1; n < 100; n++) {
      failNthChange(n);
      let failed = false;
      try {
        await service.mount(request(target, attributes(objects, noTranslation), current));
      } catch {
        failed = true;
      }
      jest.restoreAllMocks();
      if (!failed) break;
      failures += 1;
      expect(read(target)).toEqual(['one@1', 'two@1', 'three@1']);
    }
    expect(failures).toBeGreaterThan(0);
    await service.mount(request(target, attributes(objects, noTranslation), current));
    expect(read(target)).toEqual(['one@2', 'two@2', 'three@2']);
  });
});

describe('warnings about the class reach the pod events', () => {
  const objects = `
    - {objectName: /app/user, objectType: ssmparameter, objectVersion: latest}
    - {objectName: db, objectType: secretsmanager}`;
  const attrs = attributes(objects, { preferredAddressType: 'IPv5', secretProviderClass: 'app-secrets' });

  function withObjects(aws: FakeAws) {
    aws.putParameter(REGION, '/app/user', { value: 'u', version: 4, labels: ['latest'] });
    aws.putSecret(REGION, 'db', { v1: { value: 'pw', stages: ['AWSCURRENT'] } });
  }

  it('records each warning once on the pod at its first mount, and mounts', async () => {
    const { aws, service, events, logs } = harness();
    withObjects(aws);
    const response = await service.mount(request(path.join(root, 'm'), attrs));
    expect(response.files?.map((f) => f.path)).toEqual(['_app_user', 'db']);
    expect(aws.calls.find((c) => c.op === 'GetParameters')?.input.Names).toEqual(['/app/user:latest']);
    const pod = podReference({
      namespace: 'default',
      name: 'app',
      uid: '0a1b2c3d-0000-4000-8000-000000000001',
    });
    expect(events.recorded).toEqual([
      {
        object: pod,
        type: 'Warning',
        reason: 'SecretProviderClassWarning',
        message: expect.stringMatching(
          /^SecretProviderClass default\/app-secrets: preferredAddressType "IPv5" is not/,
        ),
      },
      {
        object: pod,
        type: 'Warning',
        reason: 'SecretProviderClassWarning',
        message: expect.stringMatching(
          /^SecretProviderClass default\/app-secrets: object "\/app\/user": SSM objectVersion "latest"/,
        ),
      },
    ]);
    const logged = logs.map((l) => JSON.parse(l) as { msg: string; warning?: string });
    expect(logged.filter((l) => l.msg === 'SecretProviderClass accepted with a warning')).toHaveLength(2);
  });

  it('does not repeat them on every rotation remount', async () => {
    const { aws, service, events } = harness();
    withObjects(aws);
    const first = await service.mount(request(path.join(root, 'm'), attrs));
    const current = (first.objectVersion ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' }));
    await service.mount(request(path.join(root, 'm'), attrs, current));
    await service.mount(request(path.join(root, 'm'), attrs, current));
    expect(events.recorded).toHaveLength(2);
  });

  it('records them even when the mount then fails, where they may explain the failure', async () => {
    const { service, events } = harness();
    await expect(service.mount(request(path.join(root, 'm'), attrs))).rejects.toThrow(
      /ParameterNotFound|not found/,
    );
    expect(events.recorded).toHaveLength(2);
  });

  it('records at most a bounded number of Events for one mount; the log has every warning', async () => {
    const { service, events, logs } = harness();
    const many = Array.from(
      { length: MAX_EVENTS_PER_MOUNT + 5 },
      (_, i) => `- {objectName: /app/p${i}, objectType: ssmparameter, objectVersion: latest}`,
    ).join('\n');
    await service.mount(request(path.join(root, 'm'), attributes(many))).catch(() => undefined);
    expect(events.recorded).toHaveLength(MAX_EVENTS_PER_MOUNT);
    const logged = logs.map((l) => JSON.parse(l) as { msg: string });
    expect(logged.filter((l) => l.msg === 'SecretProviderClass accepted with a warning')).toHaveLength(
      MAX_EVENTS_PER_MOUNT + 5,
    );
  });

  it('does not wait for the API server to take the events', async () => {
    // An API server that takes the Event writes and never answers.
    const kube = new FakeKube();
    kube.hold('POST', 'events');
    const events = new CorrelatingEventRecorder(kube, {
      component: 'secrets-store-csi-driver-provider-aws',
      logger: silentLogger(),
    });
    const { aws, service } = harness({ events });
    withObjects(aws);
    await expect(service.mount(request(path.join(root, 'm'), attrs))).resolves.toBeDefined();
    expect(kube.count('POST', 'events')).toBeGreaterThan(0);
    expect(kube.objects('events')).toEqual([]);
  });

  it('records nothing for a class without surprises', async () => {
    const { aws, service, events } = harness();
    withObjects(aws);
    await service.mount(
      request(path.join(root, 'm'), attributes('- {objectName: db, objectType: secretsmanager}')),
    );
    expect(events.recorded).toEqual([]);
  });
});

describe("a SecretSync's request (the sync controller, a token bound to no pod)", () => {
  const cluster = new FakeCluster();
  const teamA = { namespace: 'team-a', serviceAccount: 'reader' };
  const sync = (parameters: Record<string, string> = {}, sa = teamA, options = {}) =>
    syncRequestFor(cluster, sa, {
      parameters: { objects: '- {objectName: db, objectType: secretsmanager}', ...parameters },
      ...options,
    });

  /** The lookups, counting the node lookups a SecretSync's request must never make. */
  function countingLookups() {
    const nodeLookups: string[] = [];
    const lookups: PodLookups = {
      roleArn: async () => 'arn:aws:iam::111122223333:role/reader',
      nodeRegion: async (namespace, name) => {
        nodeLookups.push(`${namespace}/${name}`);
        return 'ap-south-1';
      },
    };
    return { lookups, nodeLookups };
  }

  it.each([true, false])(
    'answers the files and their versions, and writes nothing (--driver-writes-secrets=%s)',
    async (driverWritesSecrets) => {
      const { aws, service } = harness({ driverWritesSecrets });
      aws.putSecret(REGION, 'db', { v7: { value: 'pw', stages: ['AWSCURRENT'] } });
      const response = await service.mount(sync());
      expect(response.files?.map((f) => [f.path, Buffer.from(f.contents ?? '').toString()])).toEqual([
        ['db', 'pw'],
      ]);
      expect(response.objectVersion).toEqual([{ id: 'db', version: 'v7' }]);
    },
  );

  it("takes the class's region, then the provider's AWS_REGION, never the named pod's node", async () => {
    const { lookups, nodeLookups } = countingLookups();
    const { aws, service } = harness({ lookups, defaultRegion: 'eu-west-1' });
    aws.putSecret(REGION, 'db', { v1: { value: 'east', stages: ['AWSCURRENT'] } });
    aws.putSecret('eu-west-1', 'db', { v1: { value: 'west', stages: ['AWSCURRENT'] } });
    const fromClass = await service.mount(sync({ region: REGION }));
    const fromEnv = await service.mount(sync({ region: '' }));
    expect([fromClass, fromEnv].map((r) => Buffer.from(r.files?.[0]?.contents ?? '').toString())).toEqual([
      'east',
      'west',
    ]);
    expect(nodeLookups).toEqual([]);
  });

  it('without either, fails naming both ways to set the region, and reads nothing', async () => {
    const { lookups, nodeLookups } = countingLookups();
    const { aws, service } = harness({ lookups, defaultRegion: undefined });
    await expect(service.mount(sync({ region: '' }))).rejects.toMatchObject({
      reason: 'RegionNotFound',
      message: expect.stringMatching(
        /^no region for the request of ServiceAccount team-a\/reader .*set "region" in the SecretProviderClass, or AWS_REGION in the environment of the provider/,
      ),
    });
    expect(nodeLookups).toEqual([]);
    expect(aws.calls).toEqual([]);
  });

  it("a pod's request without either still takes its node's region", async () => {
    const { lookups, nodeLookups } = countingLookups();
    const { aws, service } = harness({ lookups, defaultRegion: undefined });
    aws.putSecret('ap-south-1', 'db', { v1: { value: 'south', stages: ['AWSCURRENT'] } });
    const attrs = attributes('- {objectName: db, objectType: secretsmanager}');
    delete attrs.region;
    await service.mount(request(path.join(root, 'm'), attrs));
    expect(nodeLookups).toEqual(['default/app']);
  });

  it("records no Event on the pod it names (the controller's), and logs the warnings for the ServiceAccount", async () => {
    const { aws, service, events, logs } = harness();
    aws.putSecret(REGION, 'db', { v1: { value: 'pw', stages: ['AWSCURRENT'] } });
    await service.mount(sync({ preferredAddressType: 'IPv5' }));
    expect(events.recorded).toEqual([]);
    const logged = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.find((l) => l.msg === 'SecretProviderClass accepted with a warning')).toMatchObject({
      requester: 'serviceaccount',
      serviceAccount: 'team-a/reader',
      warning: expect.stringContaining('preferredAddressType "IPv5"'),
    });
    expect(logged.find((l) => l.msg === 'mount served')).toMatchObject({
      requester: 'serviceaccount',
      serviceAccount: 'team-a/reader',
    });
    expect(logs.join('\n')).not.toContain(SYNC_CONTROLLER_POD.name);
    expect(logs.join('\n')).not.toMatch(/eyJ/);
  });

  it('refuses Pod Identity before any call, and says to use IRSA', async () => {
    let asked = 0;
    const identity = {
      credentials: async () => {
        asked++;
        return { accessKeyId: 'A', secretAccessKey: 's' };
      },
    } as Pick<IdentityResolver, 'credentials'>;
    const { aws, service } = harness({ identity });
    await expect(service.mount(sync({}, teamA, { usePodIdentity: true }))).rejects.toMatchObject({
      reason: 'InvalidParameters',
      message: expect.stringContaining('use IRSA for SecretSyncs'),
    });
    expect(asked).toBe(0);
    expect(aws.calls).toEqual([]);
  });

  it('labels its mounts requester="serviceaccount" in the metrics', async () => {
    const { aws, service, registry } = harness();
    aws.putSecret(REGION, 'db', { v1: { value: 'pw', stages: ['AWSCURRENT'] } });
    await service.mount(sync());
    await service.mount(
      request(path.join(root, 'm'), attributes('- {objectName: db, objectType: secretsmanager}')),
    );
    await service.mount({ ...sync(), attributes: '{' }).catch(() => undefined);
    const text = await registry.metrics();
    for (const requester of ['serviceaccount', 'pod'])
      expect(text).toContain(
        `aws_provider_mount_duration_seconds_count{outcome="success",requester="${requester}"} 1`,
      );
    expect(text).toContain(
      'aws_provider_mount_duration_seconds_count{outcome="InvalidMountRequest",requester="unknown"} 1',
    );
  });

  it("keeps no value for a remount: every SecretSync's request has the same target path", async () => {
    const { aws, service, valueCache } = harness();
    aws.putSecret(REGION, 'db', { v1: { value: 'pw', stages: ['AWSCURRENT'] } });
    await service.mount(sync());
    expect(valueCache.size).toBe(0);
    await service.mount(
      request(path.join(root, 'm'), attributes('- {objectName: db, objectType: secretsmanager}')),
    );
    expect(valueCache.size).toBe(1);
  });

  it('serves 40 concurrent requests of 4 ServiceAccounts each with its own values, sharing only calls in flight per identity', async () => {
    // Credentials per ServiceAccount, as the credential cache hands them out.
    const perSa = new Map<string, object>();
    const identity = {
      credentials: async (input: { pod: { namespace: string; serviceAccount: string } }) => {
        const key = `${input.pod.namespace}/${input.pod.serviceAccount}`;
        if (!perSa.has(key)) perSa.set(key, { accessKeyId: key, secretAccessKey: 's' });
        return perSa.get(key);
      },
    } as Pick<IdentityResolver, 'credentials'>;
    const { aws, service, valueCache } = harness({
      identity,
      sharedAnswers: new SharedAnswers({ windowMs: 30_000, coalesceMs: 3 }),
    });
    aws.delay = () => Math.floor(Math.random() * 5);
    const sas = ['a', 'b', 'c', 'd'].map((t) => ({ namespace: `team-${t}`, serviceAccount: 'reader' }));
    for (const sa of sas)
      aws.putSecret(REGION, `${sa.namespace}-db`, {
        v1: { value: `${sa.namespace}-pw`, stages: ['AWSCURRENT'] },
      });
    const requests = Array.from({ length: 40 }, (_, i) => sas[i % 4] as typeof teamA);
    const answers = await Promise.all(
      requests.map((sa) =>
        service.mount(
          sync({ objects: `- {objectName: ${sa.namespace}-db, objectType: secretsmanager}` }, sa),
        ),
      ),
    );
    answers.forEach((answer, i) =>
      expect(Buffer.from(answer.files?.[0]?.contents ?? '').toString()).toBe(`${requests[i]?.namespace}-pw`),
    );
    expect(valueCache.size).toBe(0);
  });

  it("one SecretSync's failed read fails that request only, and is not kept for the next", async () => {
    const { aws, service } = harness({
      sharedAnswers: new SharedAnswers({ windowMs: 30_000, coalesceMs: 3 }),
    });
    aws.putSecret(REGION, 'db', { v1: { value: 'pw', stages: ['AWSCURRENT'] } });
    aws.failNext('GetSecretValue', () => awsError('ThrottlingException', 400, 'Rate exceeded'));
    const [failed, served] = await Promise.allSettled([service.mount(sync()), service.mount(sync())]);
    expect([failed.status, served.status].sort()).toEqual(['fulfilled', 'rejected']);
    await expect(service.mount(sync())).resolves.toMatchObject({
      objectVersion: [{ id: 'db', version: 'v1' }],
    });
  });
});

describe('the value cache across many mounts', () => {
  const objectsOf = (i: number) => `
    - {objectName: a-${i}, objectType: secretsmanager}
    - {objectName: b-${i}, objectType: secretsmanager}`;
  const put = (aws: FakeAws, i: number, version: string) => {
    for (const n of ['a', 'b'])
      aws.putSecret(REGION, `${n}-${i}`, {
        [version]: { value: `${n}-${i}@${version}`, stages: ['AWSCURRENT'] },
      });
  };
  const contents = (r: MountResponse) =>
    (r.files ?? []).map((f) => `${f.path}=${Buffer.from(f.contents ?? '').toString()}`);
  const versions = (r: { objectVersion?: Array<{ id?: string; version?: string }> }) =>
    (r.objectVersion ?? []).map((v) => ({ id: v.id ?? '', version: v.version ?? '' }));

  it('concurrent first mounts and remounts of 40 volumes each get their own values, with one read per object', async () => {
    const { aws, service, valueCache } = harness();
    aws.delay = () => Math.floor(Math.random() * 5);
    for (let i = 0; i < 40; i++) put(aws, i, 'v1');
    const mountOf = (i: number, current: Array<{ id: string; version: string }> = []) =>
      service.mount(request(path.join(root, `pod-${i}`), attributes(objectsOf(i)), current));
    const first = await Promise.all(Array.from({ length: 40 }, (_, i) => mountOf(i)));
    // Each volume remounted twice at the same time, all volumes at once.
    const remounts = await Promise.all(
      first.flatMap((r, i) =>
        [mountOf(i, versions(r)), mountOf(i, versions(r))].map((p) => p.then((x) => [i, x] as const)),
      ),
    );
    for (const [i, r] of [...first.map((r, i) => [i, r] as const), ...remounts])
      expect(contents(r)).toEqual([`a-${i}=a-${i}@v1`, `b-${i}=b-${i}@v1`]);
    expect(aws.count('GetSecretValue')).toBe(80);
    expect(aws.count('DescribeSecret')).toBe(160);
    expect(valueCache.size).toBe(80);
  });

  it('a cache smaller than the volumes costs reads, never a wrong value', async () => {
    const valueCache = new ValueCache({ maxBytes: 4 * 1024 });
    const { aws, service } = harness({ valueCache });
    for (let i = 0; i < 30; i++) put(aws, i, 'v1');
    const current: Array<Array<{ id: string; version: string }>> = [];
    for (let i = 0; i < 30; i++)
      current[i] = versions(
        await service.mount(request(path.join(root, `pod-${i}`), attributes(objectsOf(i)))),
      );
    for (let i = 0; i < 30; i++) {
      const r = await service.mount(
        request(path.join(root, `pod-${i}`), attributes(objectsOf(i)), current[i]),
      );
      expect(contents(r)).toEqual([`a-${i}=a-${i}@v1`, `b-${i}=b-${i}@v1`]);
      expect(valueCache.bytes).toBeLessThanOrEqual(4 * 1024);
    }
    expect(aws.count('GetSecretValue')).toBeGreaterThan(60);
  });

  it('after a rotation, a failed read and a throttled check, the volume still gets the new value and never the old one', async () => {
    const { aws, service } = harness();
    const target = path.join(root, 'pod');
    put(aws, 0, 'v1');
    const first = await service.mount(request(target, attributes(objectsOf(0))));
    put(aws, 0, 'v2');
    aws.failNext('GetSecretValue', () =>
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' }),
    );
    await expect(service.mount(request(target, attributes(objectsOf(0)), versions(first)))).rejects.toThrow(
      /ThrottlingException/,
    );
    aws.failNext('DescribeSecret', () =>
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' }),
    );
    await expect(service.mount(request(target, attributes(objectsOf(0)), versions(first)))).rejects.toThrow(
      /ThrottlingException/,
    );
    // The kubelet retries with the versions still mounted: v1.
    const rotated = await service.mount(request(target, attributes(objectsOf(0)), versions(first)));
    expect(contents(rotated)).toEqual(['a-0=a-0@v2', 'b-0=b-0@v2']);
    const reads = aws.count('GetSecretValue');
    const again = await service.mount(request(target, attributes(objectsOf(0)), versions(rotated)));
    expect(contents(again)).toEqual(['a-0=a-0@v2', 'b-0=b-0@v2']);
    expect(aws.count('GetSecretValue')).toBe(reads);
  });
});

describe('describeWriteFailure', () => {
  const eperm = Object.assign(new Error("EPERM: operation not permitted, chown '/t/..2026'"), {
    code: 'EPERM',
  });

  it('says why a group cannot be given when the provider may not change groups', () => {
    expect(describeWriteFailure('/t', 2000, eperm)).toBe(
      "fileGroup 2000: cannot give the files in /t to the group (EPERM: operation not permitted, chown '/t/..2026'): " +
        "the volume does not belong to it, and this provider may not change a file's group; a driver that mounts " +
        "the volume for the group (this project's) is needed, or leave fileGroup out",
    );
  });

  it('keeps the plain message for other failures, and for EPERM without a group', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    expect(describeWriteFailure('/t', 2000, enospc)).toBe(
      'failed to write the files into /t: ENOSPC: no space left on device',
    );
    expect(describeWriteFailure('/t', undefined, eperm)).toMatch(
      /^failed to write the files into \/t: EPERM/,
    );
  });
});
