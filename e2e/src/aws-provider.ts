// The AWS provider in tests: the real executable on a real socket, a client that speaks the provider
// API to it as a driver would, an EKS Pod Identity agent stand-in, and AWS administration against
// moto (seeding secrets, parameters, roles) that bypasses the gate.
import * as grpc from '@grpc/grpc-js';
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { KubeClient, TokenRequest } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';
import type { CSIDriverProviderClient, MountResponse__Output } from '@sscsi/proto';
import { loadHealth, loadProvider } from '@sscsi/proto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { Lab } from './lab';
import type { ManagedProcess } from './processes';
import { metricsAddressOf, PROVIDER_AWS_MAIN, startNodeProgram } from './processes';

export interface AwsProviderOptions {
  providerDir: string;
  kubeconfig: string;
  /** Where the provider's AWS SDK goes: the gate, or moto itself. */
  awsEndpoint: string;
  /** AWS_REGION of the provider process; null leaves it unset (region from the class or the node). */
  region?: string | null;
  driverWritesSecrets?: boolean;
  extraArgs?: string[];
  name?: string;
}

export interface AwsProviderProcess extends ManagedProcess {
  metricsUrl: string;
  socketPath: string;
}

export async function startAwsProvider(o: AwsProviderOptions): Promise<AwsProviderProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL: o.awsEndpoint,
    // The provider must not use ambient credentials: every call goes out with the pod's identity.
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
  };
  delete env.AWS_ACCESS_KEY_ID;
  delete env.AWS_SECRET_ACCESS_KEY;
  delete env.AWS_DEFAULT_REGION;
  if (o.region === null) delete env.AWS_REGION;
  else env.AWS_REGION = o.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const args = [
    `--provider-volume=${o.providerDir}`,
    `--kubeconfig=${o.kubeconfig}`,
    '--metrics-addr=127.0.0.1:0',
    '--log-format-json',
    `--driver-writes-secrets=${o.driverWritesSecrets ?? true}`,
    '--qps=50',
    '--burst=100',
    ...(o.extraArgs ?? []),
  ];
  const proc = startNodeProgram(o.name ?? 'provider-aws', PROVIDER_AWS_MAIN, args, env);
  const line = await proc.waitForLog(/secrets-store-csi-driver-provider-aws started/);
  return Object.assign(proc, {
    metricsUrl: `http://${metricsAddressOf(line)}/metrics`,
    socketPath: path.join(o.providerDir, 'aws.sock'),
  });
}

/** Talks to a provider socket as the driver does. */
export class ProviderApiClient {
  readonly client: CSIDriverProviderClient;
  private readonly health: grpc.Client;

  constructor(socketPath: string) {
    const Provider = loadProvider().v1alpha1.CSIDriverProvider;
    this.client = new Provider(`unix://${socketPath}`, grpc.credentials.createInsecure());
    const Health = loadHealth().grpc.health.v1.Health;
    this.health = new Health(`unix://${socketPath}`, grpc.credentials.createInsecure());
  }

  mount(
    request: {
      attributes: Record<string, string>;
      targetPath: string;
      permission?: string;
      currentObjectVersion?: Array<{ id: string; version: string }>;
    },
    timeoutMs = 60_000,
  ): Promise<MountResponse__Output> {
    return new Promise((resolve, reject) => {
      this.client.mount(
        {
          attributes: JSON.stringify(request.attributes),
          secrets: 'null',
          targetPath: request.targetPath,
          permission: request.permission ?? '420',
          currentObjectVersion: request.currentObjectVersion ?? [],
        },
        { deadline: new Date(Date.now() + timeoutMs) },
        (err, res) => (err || !res ? reject(err) : resolve(res)),
      );
    });
  }

  version(): Promise<{ version: string; runtimeName: string; runtimeVersion: string }> {
    return new Promise((resolve, reject) => {
      this.client.version({ version: 'v1alpha1' }, (err, res) => (err || !res ? reject(err) : resolve(res)));
    });
  }

  healthCheck(service = ''): Promise<string> {
    return new Promise((resolve, reject) => {
      (
        this.health as unknown as {
          check: (r: unknown, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void) => void;
        }
      ).check({ service }, (err, res) => (err || !res ? reject(err) : resolve(res.status)));
    });
  }

  close(): void {
    this.client.close();
    this.health.close();
  }
}

/** The kubelet's tokens JSON for a pod's ServiceAccount, minted through the real TokenRequest API. */
export async function mintTokens(
  kube: KubeClient,
  namespace: string,
  serviceAccount: string,
  audiences: string[] = ['sts.amazonaws.com', 'pods.eks.amazonaws.com'],
  boundPod?: { name: string; uid: string },
): Promise<string> {
  const out: Record<string, { token: string; expirationTimestamp: string }> = {};
  for (const audience of audiences) {
    const res = await kube.create<TokenRequest>(
      resourcePath(Resources.serviceAccounts, namespace, serviceAccount, 'token'),
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: [audience],
          expirationSeconds: 3600,
          boundObjectRef: boundPod
            ? { apiVersion: 'v1', kind: 'Pod', name: boundPod.name, uid: boundPod.uid }
            : undefined,
        },
      },
    );
    out[audience] = {
      token: res.status?.token ?? '',
      expirationTimestamp: res.status?.expirationTimestamp ?? '',
    };
  }
  return JSON.stringify(out);
}

/** Clients of moto with administrator (dummy) keys, bypassing the gate: for seeding and checking. */
export function awsAdmin(lab: Lab, region = lab.awsRegion) {
  const endpoint = process.env.LAB_MOTO_URL ?? lab.awsEndpoint;
  const credentials = { accessKeyId: 'lab-admin', secretAccessKey: 'lab-admin' };
  return {
    secretsManager: new SecretsManagerClient({ region, endpoint, credentials }),
    ssm: new SSMClient({ region, endpoint, credentials }),
    iam: new IAMClient({ region, endpoint, credentials }),
    destroy() {
      this.secretsManager.destroy();
      this.ssm.destroy();
      this.iam.destroy();
    },
  };
}

export const LAB_ACCOUNT = '123456789012';

/** An IAM role in moto with one inline policy of `statements`; returns its ARN. */
export async function createRole(iam: IAMClient, name: string, statements: object[]): Promise<string> {
  await iam.send(
    new CreateRoleCommand({
      RoleName: name,
      AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}',
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: name,
      PolicyName: 'read',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    }),
  );
  return `arn:aws:iam::${LAB_ACCOUNT}:role/${name}`;
}

/** A ServiceAccount annotated with an IAM role (IRSA), or without one. */
export async function createServiceAccount(
  kube: KubeClient,
  namespace: string,
  name: string,
  roleArn?: string,
): Promise<void> {
  await kube.create(resourcePath(Resources.serviceAccounts, namespace), {
    metadata: { name, annotations: roleArn ? { 'eks.amazonaws.com/role-arn': roleArn } : {} },
  });
}

/**
 * An EKS Pod Identity agent stand-in: answers GET /v1/credentials when the Authorization header
 * carries a token for pods.eks.amazonaws.com; the credentials work against moto.
 */
export class PodIdentityAgentStandIn {
  private server?: http.Server;
  /** Authorization headers received (tokens): tests check what the provider sent. */
  readonly received: string[] = [];
  refuse = false;

  async start(host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<string> {
    const server = http.createServer((req, res) => {
      const token = String(req.headers.authorization ?? '');
      this.received.push(token);
      const claims = (() => {
        try {
          return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
            aud?: string[];
          };
        } catch {
          return {};
        }
      })();
      if (this.refuse || req.url !== '/v1/credentials' || !claims.aud?.includes('pods.eks.amazonaws.com')) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: 'invalid token' }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          AccessKeyId: `ASIAPODIDENTITY${this.received.length}`,
          SecretAccessKey: 'pod-identity-secret',
          Token: 'pod-identity-session',
          AccountId: '123456789012',
          Expiration: new Date(Date.now() + 3600_000).toISOString(),
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    this.server = server;
    const port = (server.address() as AddressInfo).port;
    return host === '::1' ? `http://[::1]:${port}/v1/credentials` : `http://127.0.0.1:${port}/v1/credentials`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
