// The AWS provider in tests: the real executable on a real socket, a client that speaks the provider
// API to it as a driver would, and AWS administration through the lab's AWS endpoint with the
// account root's key (secrets, parameters, roles and their trust policies, the OIDC provider).
import * as grpc from '@grpc/grpc-js';
import {
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { KubeClient, TokenRequest } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';
import type { CSIDriverProviderClient, MountResponse__Output } from '@sscsi/proto';
import { loadHealth, loadProvider } from '@sscsi/proto';
import path from 'node:path';

import { LAB_ROOT_CREDENTIALS } from './aws-gate-client';
import type { Lab } from './lab';
import type { ManagedProcess } from './processes';
import { metricsAddressOf, PROVIDER_AWS_MAIN, startNodeProgram } from './processes';

export interface AwsProviderOptions {
  providerDir: string;
  kubeconfig: string;
  /** Where the provider's AWS SDK goes: the lab's AWS endpoint. */
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

/**
 * The environment of an AWS provider process: this one's, with the lab's AWS endpoint, `region` as
 * AWS_REGION (null: none), and no credentials: every call goes out with the pod's identity.
 */
export function awsProviderEnv(awsEndpoint: string, region: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ENDPOINT_URL: awsEndpoint };
  delete env.AWS_ACCESS_KEY_ID;
  delete env.AWS_SECRET_ACCESS_KEY;
  delete env.AWS_DEFAULT_REGION;
  if (region === null) delete env.AWS_REGION;
  else env.AWS_REGION = region;
  return env;
}

export async function startAwsProvider(o: AwsProviderOptions): Promise<AwsProviderProcess> {
  const env = awsProviderEnv(
    o.awsEndpoint,
    o.region === null ? null : (o.region ?? process.env.AWS_REGION ?? 'us-east-1'),
  );
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

/** Clients of the lab's AWS endpoint with the account root's key (`lab`/`lab`): for setting up and checking. */
export function awsAdmin(lab: Lab, region = lab.awsRegion) {
  const endpoint = lab.awsEndpoint;
  const credentials = LAB_ROOT_CREDENTIALS;
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

/** The IAM name of an OIDC issuer: its URL without the scheme (`kubernetes.default.svc`). */
export function issuerHost(issuer: string): string {
  return issuer.replace(/^https:\/\//, '');
}

export function oidcProviderArn(issuer: string): string {
  return `arn:aws:iam::${LAB_ACCOUNT}:oidc-provider/${issuerHost(issuer)}`;
}

/**
 * Registers the cluster's service-account issuer as an IAM OIDC provider (what `eksctl utils
 * associate-iam-oidc-provider` does for an EKS cluster), unless it is already; returns its ARN.
 */
export async function ensureOidcProvider(iam: IAMClient, issuer: string): Promise<string> {
  try {
    const out = await iam.send(
      new CreateOpenIDConnectProviderCommand({
        Url: issuer,
        ClientIDList: ['sts.amazonaws.com'],
        ThumbprintList: ['9e99a48a9960b14926bb7f3b02e22da2b0ab7280'],
      }),
    );
    return out.OpenIDConnectProviderArn ?? oidcProviderArn(issuer);
  } catch (err) {
    if ((err as { name?: string }).name !== 'EntityAlreadyExistsException') throw err;
    return oidcProviderArn(issuer);
  }
}

/**
 * An IRSA trust policy: the ServiceAccounts `subjects` (`system:serviceaccount:<ns>:<name>`,
 * wildcards allowed) of the cluster's issuer may assume the role with a token for sts.amazonaws.com.
 */
export function irsaTrustPolicy(issuer: string, subjects: string | string[]): object {
  const list = Array.isArray(subjects) ? subjects : [subjects];
  const host = issuerHost(issuer);
  const operator = list.some((s) => /[*?]/.test(s)) ? 'StringLike' : 'StringEquals';
  const condition: Record<string, Record<string, unknown>> = {
    StringEquals: { [`${host}:aud`]: 'sts.amazonaws.com' },
  };
  condition[operator] = { ...condition[operator], [`${host}:sub`]: list };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: oidcProviderArn(issuer) },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: condition,
      },
    ],
  };
}

/** The trust policy EKS Pod Identity needs: pods.eks.amazonaws.com may assume and tag the session. */
export function podIdentityTrustPolicy(): object {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'pods.eks.amazonaws.com' },
        Action: ['sts:AssumeRole', 'sts:TagSession'],
      },
    ],
  };
}

/**
 * An IAM role with one inline policy of `statements`; returns its ARN. `trust` defaults to IRSA
 * for every ServiceAccount of the lab's cluster (tests about trust pass their own), and the lab's
 * OIDC provider is registered first when it is not yet.
 */
export async function createRole(
  iam: IAMClient,
  name: string,
  statements: object[],
  trust?: object,
): Promise<string> {
  const issuer = process.env.LAB_SERVICE_ACCOUNT_ISSUER ?? 'https://kubernetes.default.svc';
  await ensureOidcProvider(iam, issuer);
  await iam.send(
    new CreateRoleCommand({
      RoleName: name,
      AssumeRolePolicyDocument: JSON.stringify(trust ?? irsaTrustPolicy(issuer, 'system:serviceaccount:*:*')),
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

/** The provider's flags that point it at the lab's EKS Pod Identity agent (the gate's). */
export function labPodIdentityAgentArgs(): string[] {
  const v4 = process.env.LAB_POD_IDENTITY_AGENT_URL ?? 'http://127.0.0.1:15023/v1/credentials';
  const v6 = process.env.LAB_POD_IDENTITY_AGENT_IPV6_URL ?? 'http://[::1]:15023/v1/credentials';
  return [`--pod-identity-agent-ipv4-url=${v4}`, `--pod-identity-agent-ipv6-url=${v6}`];
}
