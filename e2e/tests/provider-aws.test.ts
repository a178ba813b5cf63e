// The AWS provider against the lab: its real executable on a real socket, the real AWS SDK over HTTP
// to the lab's AWS endpoint (its gate, which answers as AWS does, counts calls and injects faults),
// tokens from the lab's TokenRequest API, roles from real ServiceAccounts and IAM, regions from real
// Node labels, EKS Pod Identity from the lab's agent.
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { LabelParameterVersionCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import type * as grpc from '@grpc/grpc-js';
import type { KubeClient, Pod } from '@sscsi/common';
import { Resources, resourcePath, Status } from '@sscsi/common';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import type { AwsProviderProcess } from '../src';
import {
  adminClient,
  AwsGate,
  awsAdmin,
  createNamespace,
  createRole,
  deleteNamespace,
  forgeToken,
  metricValue,
  mintTokens,
  podIdentityTrustPolicy,
  ProviderApiClient,
  requireLab,
  startAwsProvider,
  uniqueSuffix,
} from '../src';

const lab = requireLab();
const suffix = uniqueSuffix();
const ns = `aws-${suffix}`;
const ROLE = `arn:aws:iam::123456789012:role/app-${suffix}`;
const DB_JSON = '{"username":"mamezou-tech", "password":"my-super-secret-password"}';
const p = (name: string) => `/${suffix}/${name}`;

let kube: KubeClient;
let gate: AwsGate;
let root: string;
let provider: AwsProviderProcess;
let api: ProviderApiClient;
let admin: ReturnType<typeof awsAdmin>;
let west: ReturnType<typeof awsAdmin>;
let tokens: string;
/** The pod the tokens are bound to (the kubelet binds every token to its pod). */
let appPod: { name: string; uid: string };
let targetCounter = 0;
const extraProcesses: AwsProviderProcess[] = [];

function attributes(
  objects: string,
  extra: Record<string, string> = {},
  sa = 'app',
  tokenJson = tokens,
  pod = appPod,
): Record<string, string> {
  return {
    objects,
    'csi.storage.k8s.io/pod.name': pod.name,
    'csi.storage.k8s.io/pod.namespace': ns,
    'csi.storage.k8s.io/pod.uid': pod.uid,
    'csi.storage.k8s.io/serviceAccount.name': sa,
    'csi.storage.k8s.io/serviceAccount.tokens': tokenJson,
    ...extra,
  };
}

const target = () => path.join(root, 'pods', `t${++targetCounter}`);

/** A pod of ServiceAccount `sa` in the API, for tokens bound to it; it never runs (no such node). */
async function boundPod(sa: string): Promise<{ name: string; uid: string }> {
  const pod = await kube.create<Pod>(resourcePath(Resources.pods, ns), {
    metadata: { name: `${sa}-pod` },
    spec: {
      nodeName: `nowhere-${suffix}`,
      serviceAccountName: sa,
      containers: [{ name: 'app', image: 'busybox:lab' }],
    },
  });
  return { name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' };
}

function fileMap(res: {
  files: Array<{ path: string; contents: Buffer; mode: number }>;
}): Record<string, string> {
  return Object.fromEntries(res.files.map((f) => [f.path, f.contents.toString('utf8')]));
}

async function mountError(
  client: ProviderApiClient,
  req: Parameters<ProviderApiClient['mount']>[0],
): Promise<grpc.ServiceError> {
  try {
    await client.mount(req);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('mount was expected to fail');
}

/** A loopback port nothing listens on (fetch refuses well-known ports such as 1). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function expectNoLeak(err: grpc.ServiceError): void {
  expect(err.details).not.toContain('my-super-secret-password');
  expect(err.details).not.toMatch(/eyJ[\w-]+\.[\w-]+/);
}

beforeAll(async () => {
  kube = adminClient(lab);
  root = fs.mkdtempSync(path.join(lab.stateDir, `aws-${suffix}-`));
  await createNamespace(kube, ns);
  for (const [name, annotations] of [
    ['app', { 'eks.amazonaws.com/role-arn': ROLE }],
    ['other', { 'eks.amazonaws.com/role-arn': ROLE }],
    ['no-role', {}],
  ] as const) {
    await kube.create(resourcePath(Resources.serviceAccounts, ns), { metadata: { name, annotations } });
  }
  appPod = await boundPod('app');
  tokens = await mintTokens(kube, ns, 'app', undefined, appPod);

  admin = awsAdmin(lab, 'us-east-1');
  west = awsAdmin(lab, 'us-west-2');
  await admin.secretsManager.send(
    new CreateSecretCommand({ Name: `MyDBSecret-${suffix}`, SecretString: DB_JSON }),
  );
  await admin.secretsManager.send(
    new CreateSecretCommand({ Name: `binary-${suffix}`, SecretBinary: Uint8Array.from([0, 1, 2, 254, 255]) }),
  );
  await admin.ssm.send(
    new PutParameterCommand({ Name: p('db/username'), Value: 'mamezou-tech', Type: 'String' }),
  );
  await admin.ssm.send(
    new PutParameterCommand({
      Name: p('db/password'),
      Value: 'my-super-secret-password',
      Type: 'SecureString',
    }),
  );
  for (let i = 1; i <= 11; i++)
    await admin.ssm.send(new PutParameterCommand({ Name: p(`many/p${i}`), Value: `v${i}`, Type: 'String' }));
  await west.secretsManager.send(
    new CreateSecretCommand({ Name: `failover-${suffix}`, SecretString: 'from-us-west-2' }),
  );
  await admin.secretsManager.send(
    new CreateSecretCommand({ Name: `failover-${suffix}`, SecretString: 'from-us-east-1' }),
  );

  // The role every ServiceAccount of this file is annotated with; its trust policy: any ServiceAccount.
  await createRole(admin.iam, `app-${suffix}`, [
    { Effect: 'Allow', Action: ['secretsmanager:*', 'ssm:GetParameters'], Resource: '*' },
  ]);
  gate = AwsGate.of(lab);
  await gate.clearFaults();
  provider = await startAwsProvider({
    providerDir: path.join(root, 'providers'),
    kubeconfig: lab.kubeconfig,
    awsEndpoint: lab.awsEndpoint,
  });
  api = new ProviderApiClient(provider.socketPath);
});

afterAll(async () => {
  api?.close();
  await provider?.stop();
  for (const proc of extraProcesses) await proc.stop();
  await gate?.clearFaults();
  admin?.destroy();
  west?.destroy();
  await deleteNamespace(kube, ns);
  kube?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

beforeEach(() => gate.clearFaults());

describe('the provider process', () => {
  it('answers Version and the gRPC health check', async () => {
    expect(await api.version()).toMatchObject({
      version: 'v1alpha1',
      runtimeName: 'secrets-store-csi-driver-provider-aws',
    });
    expect(await api.healthCheck()).toBe('SERVING');
    expect(await api.healthCheck('v1alpha1.CSIDriverProvider')).toBe('SERVING');
  });

  it('serves /healthz and its metrics', async () => {
    const health = await fetch(provider.metricsUrl.replace('/metrics', '/healthz'));
    expect(health.status).toBe(200);
    const text = await (await fetch(provider.metricsUrl)).text();
    expect(text).toContain('aws_api_calls_total');
    expect(text).toContain('process_resident_memory_bytes');
  });
});

describe("the article's objects", () => {
  it('mounts MyDBSecret from Secrets Manager with its version', async () => {
    const res = await api.mount({
      attributes: attributes(`- objectName: "MyDBSecret-${suffix}"\n  objectType: "secretsmanager"`),
      targetPath: target(),
    });
    expect(fileMap(res)).toEqual({ [`MyDBSecret-${suffix}`]: DB_JSON });
    expect(res.files[0]?.mode).toBe(0o644);
    expect(res.objectVersion).toEqual([
      { id: `MyDBSecret-${suffix}`, version: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    ]);
  });

  it('mounts the SSM String and SecureString parameters under translated names', async () => {
    const res = await api.mount({
      attributes: attributes(
        `- objectName: "${p('db/username')}"\n  objectType: "ssmparameter"\n- objectName: "${p('db/password')}"\n  objectType: "ssmparameter"`,
      ),
      targetPath: target(),
    });
    const t = `_${suffix}_db_`;
    expect(fileMap(res)).toEqual({
      [`${t}username`]: 'mamezou-tech',
      [`${t}password`]: 'my-super-secret-password',
    });
    expect(res.objectVersion).toEqual([
      { id: `${t}username`, version: '1' },
      { id: `${t}password`, version: '1' },
    ]);
  });

  it('splits a JSON secret into files with jmesPath, each carrying the secret version and its mode', async () => {
    const res = await api.mount({
      attributes: attributes(
        `- objectName: MyDBSecret-${suffix}\n  objectType: secretsmanager\n  objectAlias: db\n  jmesPath:\n    - {path: username, objectAlias: dbusername}\n    - {path: password, objectAlias: dbpassword, filePermission: "0400"}`,
      ),
      targetPath: target(),
    });
    expect(fileMap(res)).toEqual({
      db: DB_JSON,
      dbusername: 'mamezou-tech',
      dbpassword: 'my-super-secret-password',
    });
    expect(res.files.find((f) => f.path === 'dbpassword')?.mode).toBe(0o400);
    const versions = new Set(res.objectVersion.map((v) => v.version));
    expect(res.objectVersion.map((v) => v.id)).toEqual(['db', 'dbusername', 'dbpassword']);
    expect(versions.size).toBe(1);
  });

  it('writes binary secrets as raw bytes', async () => {
    const res = await api.mount({
      attributes: attributes(`- {objectName: binary-${suffix}, objectType: secretsmanager}`),
      targetPath: target(),
    });
    expect([...(res.files[0]?.contents ?? [])]).toEqual([0, 1, 2, 254, 255]);
  });
});

describe('versions and labels', () => {
  it('fetches a Secrets Manager version by stage and by id', async () => {
    const name = `staged-${suffix}`;
    const first = await admin.secretsManager.send(
      new CreateSecretCommand({ Name: name, SecretString: 'one' }),
    );
    const second = await admin.secretsManager.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: 'two', VersionStages: ['NEXT'] }),
    );
    const res = await api.mount({
      attributes: attributes(
        `- {objectName: ${name}, objectType: secretsmanager, objectAlias: current}\n- {objectName: ${name}, objectType: secretsmanager, objectAlias: next, objectVersionLabel: NEXT}\n- {objectName: ${name}, objectType: secretsmanager, objectAlias: pinned, objectVersion: ${first.VersionId}}`,
      ),
      targetPath: target(),
    });
    expect(fileMap(res)).toEqual({ current: 'one', next: 'two', pinned: 'one' });
    expect(res.objectVersion.find((v) => v.id === 'next')?.version).toBe(second.VersionId);
  });

  it('fetches an SSM parameter by version number and by label', async () => {
    const name = p('versioned');
    await admin.ssm.send(new PutParameterCommand({ Name: name, Value: 'first', Type: 'String' }));
    await admin.ssm.send(
      new PutParameterCommand({ Name: name, Value: 'second', Type: 'String', Overwrite: true }),
    );
    await admin.ssm.send(
      new LabelParameterVersionCommand({ Name: name, ParameterVersion: 1, Labels: ['stable'] }),
    );
    const res = await api.mount({
      attributes: attributes(
        `- {objectName: "${name}", objectType: ssmparameter, objectAlias: latest}\n- {objectName: "${name}", objectType: ssmparameter, objectAlias: v1, objectVersion: "1"}\n- {objectName: "${name}", objectType: ssmparameter, objectAlias: stable, objectVersionLabel: stable}`,
      ),
      targetPath: target(),
    });
    expect(fileMap(res)).toEqual({ latest: 'second', v1: 'first', stable: 'first' });
    expect(res.objectVersion).toEqual([
      { id: 'latest', version: '2' },
      { id: 'v1', version: '1' },
      { id: 'stable', version: '1' },
    ]);
  });
});

describe('AWS calls', () => {
  it('fetches 11 SSM parameters in two GetParameters calls', async () => {
    await gate.resetCounts();
    const objects = Array.from(
      { length: 11 },
      (_, i) => `- {objectName: "${p(`many/p${i + 1}`)}", objectType: ssmparameter}`,
    ).join('\n');
    const res = await api.mount({ attributes: attributes(objects), targetPath: target() });
    expect(res.files).toHaveLength(11);
    expect(res.files.map((f) => f.contents.toString())).toEqual(
      Array.from({ length: 11 }, (_, i) => `v${i + 1}`),
    );
    expect(await gate.count('ssm', 'GetParameters')).toBe(2);
  });

  it('on a remount with nothing changed makes no GetSecretValue, and fetches again after a rotation', async () => {
    const name = `rotating-${suffix}`;
    await admin.secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: 'v1' }));
    const targetPath = target();
    const attrs = attributes(`- {objectName: ${name}, objectType: secretsmanager}`);
    const first = await api.mount({ attributes: attrs, targetPath });
    await gate.resetCounts();
    const again = await api.mount({
      attributes: attrs,
      targetPath,
      currentObjectVersion: first.objectVersion,
    });
    expect(fileMap(again)).toEqual({ [name]: 'v1' });
    expect(again.objectVersion).toEqual(first.objectVersion);
    expect(await gate.count('secretsmanager', 'GetSecretValue')).toBe(0);
    expect(await gate.count('secretsmanager', 'DescribeSecret')).toBe(1);

    const rotated = await admin.secretsManager.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: 'v2' }),
    );
    const after = await api.mount({
      attributes: attrs,
      targetPath,
      currentObjectVersion: again.objectVersion,
    });
    expect(fileMap(after)).toEqual({ [name]: 'v2' });
    expect(after.objectVersion).toEqual([{ id: name, version: rotated.VersionId }]);
    expect(await gate.count('secretsmanager', 'GetSecretValue')).toBe(1);
  });

  it('makes no call at all to remount a pinned version', async () => {
    const name = `pinned-${suffix}`;
    const created = await admin.secretsManager.send(
      new CreateSecretCommand({ Name: name, SecretString: 'fixed' }),
    );
    const targetPath = target();
    const attrs = attributes(
      `- {objectName: ${name}, objectType: secretsmanager, objectVersion: ${created.VersionId}}`,
    );
    const first = await api.mount({ attributes: attrs, targetPath });
    await gate.resetCounts();
    const again = await api.mount({
      attributes: attrs,
      targetPath,
      currentObjectVersion: first.objectVersion,
    });
    expect(fileMap(again)).toEqual({ [name]: 'fixed' });
    expect(await gate.snapshot()).toEqual({});
  });

  it('retries throttled calls with backoff and succeeds', async () => {
    await gate.resetCounts();
    await gate.inject({ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'throttle', times: 2 });
    const res = await api.mount({
      attributes: attributes(`- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`),
      targetPath: target(),
    });
    expect(fileMap(res)[`MyDBSecret-${suffix}`]).toBe(DB_JSON);
    expect(await gate.count('secretsmanager', 'GetSecretValue')).toBe(3);
    expect(
      await metricValue(provider.metricsUrl, 'aws_api_calls_total', {
        operation: 'GetSecretValue',
        status: 'ThrottlingException',
      }),
    ).toBeGreaterThanOrEqual(2);
  });

  it('uses the failover region only for a fault another region can fix', async () => {
    const objects = `- objectName: failover-${suffix}\n  objectType: secretsmanager\n  objectAlias: db\n  failoverObject:\n    objectName: failover-${suffix}`;
    const attrs = attributes(objects, { region: 'us-east-1', failoverRegion: 'us-west-2' });
    await gate.resetCounts();
    expect(fileMap(await api.mount({ attributes: attrs, targetPath: target() }))).toEqual({
      db: 'from-us-east-1',
    });
    expect(await gate.count('secretsmanager', 'GetSecretValue', 'us-west-2')).toBe(0);

    await gate.inject({ service: 'secretsmanager', region: 'us-east-1', kind: 'server-error' });
    expect(fileMap(await api.mount({ attributes: attrs, targetPath: target() }))).toEqual({
      db: 'from-us-west-2',
    });
    expect(await gate.count('secretsmanager', 'GetSecretValue', 'us-west-2')).toBe(1);
  });

  it('does not fail over when the object is missing, and says where', async () => {
    const objects = `- {objectName: missing-${suffix}, objectType: secretsmanager, objectAlias: m, failoverObject: {objectName: missing-${suffix}}}`;
    await gate.resetCounts();
    const err = await mountError(api, {
      attributes: attributes(objects, { failoverRegion: 'us-west-2' }),
      targetPath: target(),
    });
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toMatch(
      new RegExp(`secret "missing-${suffix}" from Secrets Manager in us-east-1: ResourceNotFoundException`),
    );
    expect(await gate.count('secretsmanager', 'GetSecretValue', 'us-west-2')).toBe(0);
  });
});

describe('IRSA', () => {
  it('assumes the role of the ServiceAccount annotation once, then serves pods of that ServiceAccount from the cache', async () => {
    const sa = `cache-${uniqueSuffix()}`;
    await kube.create(resourcePath(Resources.serviceAccounts, ns), {
      metadata: { name: sa, annotations: { 'eks.amazonaws.com/role-arn': ROLE } },
    });
    const objects = `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`;
    const pod = await boundPod(sa);
    const hits = () =>
      metricValue(provider.metricsUrl, 'aws_provider_credential_cache_hits_total', { kind: 'irsa' });
    await gate.resetCounts();
    const hitsBefore = await hits();
    await api.mount({
      attributes: attributes(objects, {}, sa, await mintTokens(kube, ns, sa, undefined, pod), pod),
      targetPath: target(),
    });
    await api.mount({
      attributes: attributes(objects, {}, sa, await mintTokens(kube, ns, sa, undefined, pod), pod),
      targetPath: target(),
    });
    expect(await gate.count('sts', 'AssumeRoleWithWebIdentity')).toBe(1);
    expect(await hits()).toBe(hitsBefore + 1);
  });

  it('never lets a token that fails local verification use cached credentials: STS judges it, and refuses it', async () => {
    const objects = `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`;
    await api.mount({ attributes: attributes(objects), targetPath: target() });
    const parsed = JSON.parse(tokens) as Record<string, { token: string }>;
    // Same claims, signed by a key the cluster does not have.
    const forged = JSON.stringify({
      'sts.amazonaws.com': {
        token: forgeToken(parsed['sts.amazonaws.com']?.token ?? ''),
        expirationTimestamp: '',
      },
    });
    await gate.resetCounts();
    const err = await mountError(api, {
      attributes: attributes(objects, {}, 'app', forged),
      targetPath: target(),
    });
    expect(err.details).toMatch(/InvalidIdentityToken/);
    expectNoLeak(err);
    expect(await gate.count('sts', 'AssumeRoleWithWebIdentity')).toBe(1);
    expect(await gate.count('secretsmanager')).toBe(0);
  });

  it('names the ServiceAccount that lacks the role annotation', async () => {
    const err = await mountError(api, {
      attributes: attributes(
        `- {objectName: x, objectType: secretsmanager}`,
        {},
        'no-role',
        await mintTokens(kube, ns, 'no-role'),
      ),
      targetPath: target(),
    });
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain(
      `ServiceAccount ${ns}/no-role has no eks.amazonaws.com/role-arn annotation`,
    );
    expectNoLeak(err);
  });

  it('says which tokenRequests audience is missing', async () => {
    const onlyPodIdentity = await mintTokens(kube, ns, 'app', ['pods.eks.amazonaws.com']);
    const err = await mountError(api, {
      attributes: attributes(`- {objectName: x, objectType: secretsmanager}`, {}, 'app', onlyPodIdentity),
      targetPath: target(),
    });
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/needs tokenRequests with audience "sts.amazonaws.com"/);
  });
});

describe('errors name the object, the region and the AWS error code, and what to fix', () => {
  it.each<[string, string, Record<string, string>, Status, RegExp]>([
    [
      'a bad objectType',
      '- {objectName: x, objectType: vault}',
      {},
      Status.INVALID_ARGUMENT,
      /objectType must be "secretsmanager" or "ssmparameter"/,
    ],
    [
      'a missing parameter',
      `- {objectName: "${'/nope/' + suffix}", objectType: ssmparameter}`,
      {},
      Status.NOT_FOUND,
      /SSM Parameter Store in us-east-1: ParameterNotFound/,
    ],
    [
      'a missing secret',
      `- {objectName: nope-${suffix}, objectType: secretsmanager}`,
      {},
      Status.NOT_FOUND,
      /Secrets Manager in us-east-1: ResourceNotFoundException/,
    ],
    [
      'jmesPath on a non-JSON value',
      `- {objectName: binary-${suffix}, objectType: secretsmanager, jmesPath: [{path: a, objectAlias: a}]}`,
      {},
      Status.FAILED_PRECONDITION,
      /value is not JSON/,
    ],
    [
      'a jmesPath that finds no string',
      `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager, jmesPath: [{path: nothing, objectAlias: n}]}`,
      {},
      Status.FAILED_PRECONDITION,
      /finds nothing/,
    ],
  ])('%s', async (_name, objects, extra, code, message) => {
    await gate.resetCounts();
    const err = await mountError(api, { attributes: attributes(objects, extra), targetPath: target() });
    expect(err.code).toBe(code);
    expect(err.details).toMatch(message);
    expectNoLeak(err);
    if (code === Status.INVALID_ARGUMENT) expect(await gate.snapshot()).toEqual({});
  });

  it('reports throttling that outlasts the retries as ThrottlingException', async () => {
    await gate.inject({ service: 'secretsmanager', kind: 'throttle' });
    const err = await mountError(api, {
      attributes: attributes(`- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`),
      targetPath: target(),
    });
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.details).toMatch(
      new RegExp(`secret "MyDBSecret-${suffix}" from Secrets Manager in us-east-1: ThrottlingException`),
    );
  });
});

describe('provider-writes mode', () => {
  it('writes the files into the mount itself and returns none', async () => {
    const dir = path.join(root, 'providers-writes');
    const writer = await startAwsProvider({
      providerDir: dir,
      kubeconfig: lab.kubeconfig,
      awsEndpoint: lab.awsEndpoint,
      driverWritesSecrets: false,
      name: 'provider-aws-writes',
    });
    extraProcesses.push(writer);
    const client = new ProviderApiClient(writer.socketPath);
    try {
      const targetPath = target();
      fs.mkdirSync(targetPath, { recursive: true });
      const res = await client.mount({
        attributes: attributes(
          `- {objectName: "${p('db/password')}", objectType: ssmparameter, filePermission: "0600"}`,
        ),
        targetPath,
      });
      expect(res.files).toEqual([]);
      expect(res.objectVersion).toEqual([{ id: `_${suffix}_db_password`, version: '1' }]);
      const file = path.join(targetPath, `_${suffix}_db_password`);
      expect(fs.readFileSync(file, 'utf8')).toBe('my-super-secret-password');
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      // The files the pod sees (the atomic writer's own ..data and payload folder aside).
      const visible = (dir: string) => fs.readdirSync(dir).filter((n) => !n.startsWith('..'));
      expect(visible(targetPath)).toEqual([`_${suffix}_db_password`]);

      const failed = path.join(root, 'pods', 'failed');
      fs.mkdirSync(failed, { recursive: true });
      await mountError(client, {
        attributes: attributes(
          `- {objectName: "${p('db/password')}", objectType: ssmparameter}\n- {objectName: nope-${suffix}, objectType: secretsmanager}`,
        ),
        targetPath: failed,
      });
      expect(visible(failed)).toEqual([]);
    } finally {
      client.close();
    }
  });
});

describe('EKS Pod Identity (the lab agent)', () => {
  const agentV4 = process.env.LAB_POD_IDENTITY_AGENT_URL ?? 'http://127.0.0.1:15023/v1/credentials';
  const agentV6 = process.env.LAB_POD_IDENTITY_AGENT_IPV6_URL ?? 'http://[::1]:15023/v1/credentials';
  const associations: string[] = [];
  beforeAll(async () => {
    const roleArn = await createRole(
      admin.iam,
      `pod-identity-${suffix}`,
      [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
      podIdentityTrustPolicy(),
    );
    for (const serviceAccount of ['app', 'no-role'])
      associations.push(
        (await gate.createPodIdentityAssociation({ namespace: ns, serviceAccount, roleArn })).associationId,
      );
  });
  afterAll(async () => {
    for (const id of associations) await gate.deletePodIdentityAssociation(id).catch(() => undefined);
  });

  async function providerWith(name: string, ipv4Url: string, ipv6Url: string): Promise<ProviderApiClient> {
    const proc = await startAwsProvider({
      providerDir: path.join(root, name),
      kubeconfig: lab.kubeconfig,
      awsEndpoint: lab.awsEndpoint,
      name,
      extraArgs: [
        `--pod-identity-agent-ipv4-url=${ipv4Url}`,
        `--pod-identity-agent-ipv6-url=${ipv6Url}`,
        '--pod-identity-http-timeout=500ms',
      ],
    });
    extraProcesses.push(proc);
    return new ProviderApiClient(proc.socketPath);
  }

  it("sends the pod's pods.eks.amazonaws.com token to the agent, which finds the association and answers credentials", async () => {
    const client = await providerWith('pi-v4', agentV4, 'http://[::1]:1/v1/credentials');
    try {
      await gate.resetCounts();
      const res = await client.mount({
        attributes: attributes(`- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`, {
          usePodIdentity: 'true',
          preferredAddressType: 'ipv4',
        }),
        targetPath: target(),
      });
      expect(fileMap(res)[`MyDBSecret-${suffix}`]).toBe(DB_JSON);
      // The agent judged the token (the cluster's signature, audience, association) and answered.
      expect(await gate.count('eks-auth', 'AssumeRoleForPodIdentity')).toBe(1);
      expect(await gate.count('sts')).toBe(0);
    } finally {
      client.close();
    }
  });

  it('falls back from IPv4 to IPv6 in auto mode, and says when the agent is unreachable', async () => {
    const closed = await closedPort();
    const client = await providerWith('pi-auto', `http://127.0.0.1:${closed}/v1/credentials`, agentV6);
    try {
      const objects = `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`;
      await gate.resetCounts();
      const res = await client.mount({
        attributes: attributes(objects, { usePodIdentity: 'true' }),
        targetPath: target(),
      });
      expect(res.files).toHaveLength(1);
      expect(await gate.count('eks-auth', 'AssumeRoleForPodIdentity')).toBe(1);
      // Another ServiceAccount, so that no cached credentials spare the agent call; its token bound
      // to its pod, as Pod Identity needs (a token bound to no pod is refused before the agent).
      const noRolePod = await boundPod('no-role');
      const otherTokens = await mintTokens(kube, ns, 'no-role', undefined, noRolePod);
      const err = await mountError(client, {
        attributes: attributes(
          objects,
          { usePodIdentity: 'true', preferredAddressType: 'ipv4' },
          'no-role',
          otherTokens,
          noRolePod,
        ),
        targetPath: target(),
      });
      expect(err.details).toMatch(
        new RegExp(
          `EKS Pod Identity agent is unreachable \\(http://127\\.0\\.0\\.1:${closed}/v1/credentials: ECONNREFUSED\\)`,
        ),
      );
      expectNoLeak(err);
    } finally {
      client.close();
    }
  });

  it('names the AWS code when the ServiceAccount has no association', async () => {
    const client = await providerWith('pi-none', agentV4, agentV6);
    try {
      const otherPod = await boundPod('other');
      const err = await mountError(client, {
        attributes: attributes(
          `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`,
          { usePodIdentity: 'true', preferredAddressType: 'ipv4' },
          'other',
          await mintTokens(kube, ns, 'other', undefined, otherPod),
          otherPod,
        ),
        targetPath: target(),
      });
      expect(err.details).toMatch(/HTTP 404 .*ResourceNotFoundException.*other/);
      expectNoLeak(err);
    } finally {
      client.close();
    }
  });
});

describe("a SecretSync's request (the sync controller's TokenRequest token, bound to no pod)", () => {
  // The sync controller names its own pod, which is in no namespace of this file.
  const controllerPod = {
    name: 'secrets-store-sync-controller-0',
    uid: '00000000-0000-4000-8000-00000000c0de',
  };
  const objects = () => `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`;
  const syncRequest = async (
    sa: string,
    audiences = ['sts.amazonaws.com'],
    extra: Record<string, string> = {},
  ) => ({
    attributes: attributes(objects(), extra, sa, await mintTokens(kube, ns, sa, audiences), controllerPod),
    targetPath: '/mnt/secrets-store',
  });

  it("reads with its ServiceAccount's role and shares that IRSA session with the ServiceAccount's pods", async () => {
    const sa = `sync-${uniqueSuffix()}`;
    await kube.create(resourcePath(Resources.serviceAccounts, ns), {
      metadata: { name: sa, annotations: { 'eks.amazonaws.com/role-arn': ROLE } },
    });
    const pod = await boundPod(sa);
    const hits = (requester: string) =>
      metricValue(provider.metricsUrl, 'aws_provider_credential_cache_hits_total', {
        kind: 'irsa',
        requester,
      });
    await gate.resetCounts();
    const before = { pod: await hits('pod'), serviceaccount: await hits('serviceaccount') };
    const res = await api.mount(await syncRequest(sa));
    expect(fileMap(res)).toEqual({ [`MyDBSecret-${suffix}`]: DB_JSON });
    expect(res.objectVersion.length).toBeGreaterThan(0);
    await api.mount({
      attributes: attributes(objects(), {}, sa, await mintTokens(kube, ns, sa, undefined, pod), pod),
      targetPath: target(),
    });
    await api.mount(await syncRequest(sa));
    expect(await gate.count('sts', 'AssumeRoleWithWebIdentity')).toBe(1);
    expect(await hits('pod')).toBe(before.pod + 1);
    expect(await hits('serviceaccount')).toBe(before.serviceaccount + 1);
  });

  it('is refused Pod Identity before the agent is asked, with what to use instead', async () => {
    await gate.resetCounts();
    const err = await mountError(
      api,
      await syncRequest('app', ['pods.eks.amazonaws.com'], { usePodIdentity: 'true' }),
    );
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toMatch(
      /EKS Pod Identity gives credentials only for a token bound to a pod.*use IRSA for SecretSyncs/,
    );
    expect(await gate.count('eks-auth', 'AssumeRoleForPodIdentity')).toBe(0);
    expectNoLeak(err);
  });
});

describe('region from the node', () => {
  let pod: Pod;
  const nodeName = `aws-node-${suffix}`;
  beforeAll(async () => {
    await kube.create(resourcePath(Resources.nodes), {
      metadata: { name: nodeName, labels: { 'topology.kubernetes.io/region': 'eu-west-1' } },
    });
    pod = await kube.create<Pod>(resourcePath(Resources.pods, ns), {
      metadata: { name: 'regional' },
      spec: { nodeName, containers: [{ name: 'app', image: 'busybox:lab' }] },
    });
    const eu = awsAdmin(lab, 'eu-west-1');
    await eu.secretsManager.send(
      new CreateSecretCommand({ Name: `regional-${suffix}`, SecretString: 'from-eu-west-1' }),
    );
    eu.destroy();
  });
  afterAll(async () => {
    await kube.delete(resourcePath(Resources.nodes, undefined, nodeName)).catch(() => undefined);
  });

  it('takes the topology.kubernetes.io/region label of the pod node when neither class nor provider names one', async () => {
    const proc = await startAwsProvider({
      providerDir: path.join(root, 'no-region'),
      kubeconfig: lab.kubeconfig,
      awsEndpoint: lab.awsEndpoint,
      region: null,
      name: 'provider-aws-noregion',
    });
    extraProcesses.push(proc);
    const client = new ProviderApiClient(proc.socketPath);
    try {
      const attrs = {
        ...attributes(`- {objectName: regional-${suffix}, objectType: secretsmanager}`),
        'csi.storage.k8s.io/pod.name': pod.metadata.name ?? '',
      };
      const res = await client.mount({ attributes: attrs, targetPath: target() });
      expect(fileMap(res)).toEqual({ [`regional-${suffix}`]: 'from-eu-west-1' });
      await kube.patch(
        resourcePath(Resources.nodes, undefined, nodeName),
        { metadata: { labels: { 'topology.kubernetes.io/region': null } } },
        'merge',
      );
      const other = await kube.create<Pod>(resourcePath(Resources.pods, ns), {
        metadata: { name: 'regionless' },
        spec: { nodeName: `${nodeName}-unlabelled`, containers: [{ name: 'app', image: 'busybox:lab' }] },
      });
      await kube.create(resourcePath(Resources.nodes), { metadata: { name: `${nodeName}-unlabelled` } });
      try {
        const err = await mountError(client, {
          attributes: { ...attrs, 'csi.storage.k8s.io/pod.name': other.metadata.name ?? '' },
          targetPath: target(),
        });
        expect(err.code).toBe(Status.FAILED_PRECONDITION);
        expect(err.details).toMatch(
          /no region: the SecretProviderClass sets no "region", the provider has no AWS_REGION, and node .* has no topology.kubernetes.io\/region label/,
        );
      } finally {
        await kube
          .delete(resourcePath(Resources.nodes, undefined, `${nodeName}-unlabelled`))
          .catch(() => undefined);
      }
    } finally {
      client.close();
    }
  });
});
