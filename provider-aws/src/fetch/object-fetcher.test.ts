import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { GetParametersCommand } from '@aws-sdk/client-ssm';
import { Status } from '@sscsi/common';

import type { AwsCredentials } from '../credentials/credential-cache';
import { CredentialCache } from '../credentials/credential-cache';
import type { MountOptions } from '../testing/fake-cluster';
import { FakeCluster, mountInputFor } from '../testing/fake-cluster';
import { awsError, FakeSts, unavailable } from '../testing/fake-sts';
import { IdentityResolver } from '../credentials/identity';
import { PodIdentityAgent } from '../credentials/pod-identity';
import { TokenVerifier } from '../credentials/token-verifier';
import { MountError } from '../errors';
import { parseDescriptors } from '../parameters/mount-request';
import type { FetchContext } from './object-fetcher';
import { fetchObjects } from './object-fetcher';

jest.setTimeout(10_000);

const cluster = new FakeCluster();
const pod = { namespace: 'default', serviceAccount: 'app', name: 'app-1', uid: 'uid-1' };
const noMetrics = { credentialCache: () => undefined };

/** Secrets Manager and SSM in every region: each value names the region that served it. */
class FakeAws {
  readonly calls: Array<{ service: string; region: string; accessKeyId: string }> = [];
  /** Throws to fail a call. */
  fault: (service: string, region: string) => void = () => undefined;

  readonly clients = {
    secretsManager: (region: string, credentials: AwsCredentials) =>
      ({
        send: async (command: GetSecretValueCommand) => {
          this.calls.push({ service: 'secretsmanager', region, accessKeyId: credentials.accessKeyId });
          this.fault('secretsmanager', region);
          return { SecretString: `${command.input.SecretId} from ${region}`, VersionId: 'v1' };
        },
      }) as unknown as SecretsManagerClient,
    ssm: (region: string, credentials: AwsCredentials) =>
      ({
        send: async (command: GetParametersCommand) => {
          this.calls.push({ service: 'ssm', region, accessKeyId: credentials.accessKeyId });
          this.fault('ssm', region);
          return {
            Parameters: (command.input.Names ?? []).map((name) => ({
              Name: name,
              Value: `${name} from ${region}`,
              Version: 1,
            })),
            InvalidParameters: [],
          };
        },
      }) as unknown as SSMClient,
  };
}

/** A mount's fetch with IRSA credentials from `sts`, as mount.ts wires it. */
function mountFetch(sts: FakeSts, aws: FakeAws, options: MountOptions = {}) {
  const input = mountInputFor(cluster, pod, {
    ...options,
    parameters: { region: 'us-east-1', failoverRegion: 'us-west-2', ...options.parameters },
  });
  const identity = new IdentityResolver({
    clients: sts,
    cache: new CredentialCache(),
    verifier: new TokenVerifier(async () => cluster.signingKeys()),
    lookups: { roleArn: async () => 'arn:aws:iam::123456789012:role/app' },
    podIdentity: new PodIdentityAgent({
      ipv4Url: 'http://127.0.0.1:1/v1/credentials',
      ipv6Url: 'http://127.0.0.1:1/v1/credentials',
      timeoutMs: 1000,
    }),
    metrics: noMetrics,
  });
  const ctx: FetchContext = {
    clients: aws.clients,
    valueCache: { get: () => undefined, set: () => undefined },
    targetPath: input.targetPath,
    region: 'us-east-1',
    failoverRegion: input.failoverRegion,
    credentials: (region) => identity.credentials(input, region),
    currentVersions: input.currentVersions,
    concurrency: 4,
  };
  return { ctx, fetch: () => fetchObjects(ctx, parseDescriptors(input, 'us-east-1')) };
}

const valuesOf = (fetched: Array<{ value: Buffer }>) => fetched.map((f) => f.value.toString('utf8'));

describe('fetchObjects: failover when the primary region cannot give credentials', () => {
  it("uses the failover region's STS when the primary region's STS is unavailable", async () => {
    const sts = new FakeSts((call) => {
      if (call.region === 'us-east-1') throw unavailable();
    });
    const aws = new FakeAws();
    const { fetch } = mountFetch(sts, aws);
    expect(valuesOf(await fetch())).toEqual(['MyDBSecret from us-west-2']);
    expect(sts.calls.map((c) => c.region)).toEqual(['us-east-1', 'us-west-2']);
    expect(aws.calls.map((c) => c.region)).toEqual(['us-west-2']);
  });

  it.each<[string, () => Error]>([
    ['throttled', () => awsError('Throttling', 400, 'Rate exceeded')],
    ['unreachable', () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
  ])("fails over when the primary region's STS is %s", async (_name, fault) => {
    const sts = new FakeSts((call) => {
      if (call.region === 'us-east-1') throw fault();
    });
    const { fetch } = mountFetch(sts, new FakeAws());
    expect(valuesOf(await fetch())).toEqual(['MyDBSecret from us-west-2']);
  });

  it('fetches every object of the mount in the failover region with one STS call there', async () => {
    const sts = new FakeSts((call) => {
      if (call.region === 'us-east-1') throw unavailable();
    });
    const aws = new FakeAws();
    const objects = [
      '- {objectName: one, objectType: secretsmanager}',
      '- {objectName: two, objectType: secretsmanager}',
      '- {objectName: /app/three, objectType: ssmparameter}',
    ].join('\n');
    const { fetch } = mountFetch(sts, aws, { parameters: { objects } });
    expect(valuesOf(await fetch())).toEqual([
      'one from us-west-2',
      'two from us-west-2',
      '/app/three from us-west-2',
    ]);
    expect(sts.calls.filter((c) => c.region === 'us-west-2')).toHaveLength(1);
  });

  it('does not fail over when STS refuses the pod (another region would refuse it too)', async () => {
    const sts = new FakeSts((call) => {
      if (call.region === 'us-east-1')
        throw awsError('AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    });
    const aws = new FakeAws();
    const { fetch } = mountFetch(sts, aws);
    const err = await fetch().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MountError);
    expect(err).toMatchObject({ reason: 'CredentialsError', code: Status.UNAUTHENTICATED });
    expect((err as Error).message).toMatch(/in us-east-1: AccessDenied/);
    expect(sts.calls.map((c) => c.region)).toEqual(['us-east-1']);
    expect(aws.calls).toEqual([]);
  });

  it("names both regions when neither region's STS is available", async () => {
    const sts = new FakeSts(() => {
      throw unavailable();
    });
    const { fetch } = mountFetch(sts, new FakeAws());
    const err = await fetch().then(
      () => undefined,
      (e: unknown) => e as MountError,
    );
    expect(err).toMatchObject({ reason: 'CredentialsError', code: Status.UNAVAILABLE });
    expect(err?.message).toMatch(
      /in us-east-1: ServiceUnavailable: .*failover region us-west-2: .*ServiceUnavailable/,
    );
  });

  it('does not fail over when the credentials fail in a way no region changes (the Pod Identity agent)', async () => {
    const aws = new FakeAws();
    const regions: string[] = [];
    const { ctx } = mountFetch(new FakeSts(), aws);
    const input = mountInputFor(cluster, pod, { parameters: { failoverRegion: 'us-west-2' } });
    const err = await fetchObjects(
      {
        ...ctx,
        credentials: async (region) => {
          regions.push(region);
          throw new MountError('CredentialsError', 'the EKS Pod Identity agent is unreachable');
        },
      },
      parseDescriptors(input, 'us-east-1'),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      reason: 'CredentialsError',
      message: 'the EKS Pod Identity agent is unreachable',
    });
    expect(regions).toEqual(['us-east-1']);
  });
});

describe('fetchObjects: failover when the primary region cannot give the object', () => {
  it.each<[string, () => unknown, string[]]>([
    ['a server error', () => awsError('InternalServiceError', 500), ['us-east-1', 'us-west-2']],
    ['throttling', () => awsError('ThrottlingException', 400), ['us-east-1', 'us-west-2']],
  ])('fails over on %s', async (_name, fault, regions) => {
    const aws = new FakeAws();
    aws.fault = (_service, region) => {
      if (region === 'us-east-1') throw fault();
    };
    const { fetch } = mountFetch(new FakeSts(), aws);
    expect(valuesOf(await fetch())).toEqual(['MyDBSecret from us-west-2']);
    expect(aws.calls.map((c) => c.region)).toEqual(regions);
  });

  it.each<[string, () => unknown, Status]>([
    ['access denied', () => awsError('AccessDeniedException', 400), Status.PERMISSION_DENIED],
    ['a missing secret', () => awsError('ResourceNotFoundException', 400), Status.NOT_FOUND],
  ])('does not fail over on %s, and names the object and the region', async (_name, fault, status) => {
    const aws = new FakeAws();
    aws.fault = () => {
      throw fault();
    };
    const { fetch } = mountFetch(new FakeSts(), aws);
    const err = await fetch().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: 'FetchError', code: status });
    expect((err as Error).message).toMatch(/secret "MyDBSecret" from Secrets Manager in us-east-1: /);
    expect(aws.calls.map((c) => c.region)).toEqual(['us-east-1']);
  });

  it('names both failures when the failover region fails too', async () => {
    const aws = new FakeAws();
    aws.fault = (_service, region) => {
      throw region === 'us-east-1'
        ? awsError('InternalServiceError', 500)
        : awsError('AccessDeniedException', 400);
    };
    const { fetch } = mountFetch(new FakeSts(), aws);
    const err = await fetch().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: 'FetchError', code: Status.PERMISSION_DENIED });
    expect((err as Error).message).toMatch(
      /in us-east-1: InternalServiceError: .*; failover region us-west-2: AccessDeniedException/,
    );
  });
});
