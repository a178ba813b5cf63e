// Proves each part of the lab is real: RBAC and the TokenRequest API of a real kube-apiserver, STS,
// Secrets Manager and SSM of the AWS endpoint through the AWS SDK, and the garbage collector of a
// real kube-controller-manager.
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { KubeClient, ServiceAccount, TokenRequest } from '@sscsi/common';
import {
  isForbidden,
  isNotFound,
  KubeApiError,
  KubeClient as Client,
  Resources,
  resourcePath,
} from '@sscsi/common';
import {
  adminClient,
  awsAdmin,
  createRole,
  eventually,
  irsaTrustPolicy,
  requireLab,
  uniqueSuffix,
} from '../src';

const lab = requireLab();

function jwtClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (!payload) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('the lab', () => {
  let kube: KubeClient;
  const namespace = `smoke-${uniqueSuffix()}`;
  const serviceAccount = 'app';
  let roleArn: string;

  beforeAll(async () => {
    kube = adminClient(lab);
    // The role as IAM would hold it: trusted by this ServiceAccount only, allowed its own names.
    const admin = awsAdmin(lab);
    try {
      roleArn = await createRole(
        admin.iam,
        `lab-smoke-${namespace}`,
        [
          {
            Effect: 'Allow',
            Action: ['secretsmanager:CreateSecret', 'secretsmanager:GetSecretValue'],
            Resource: `arn:aws:secretsmanager:*:*:secret:smoke/${namespace}*`,
          },
          {
            Effect: 'Allow',
            Action: ['ssm:PutParameter', 'ssm:GetParameter'],
            Resource: `arn:aws:ssm:*:*:parameter/smoke/${namespace}/*`,
          },
        ],
        irsaTrustPolicy(lab.serviceAccountIssuer, `system:serviceaccount:${namespace}:${serviceAccount}`),
      );
    } finally {
      admin.destroy();
    }
    await kube.create(resourcePath(Resources.namespaces), { metadata: { name: namespace } });
    await kube.create(resourcePath(Resources.serviceAccounts, namespace), {
      metadata: { name: serviceAccount, annotations: { 'eks.amazonaws.com/role-arn': roleArn } },
    });
  });

  afterAll(async () => {
    await kube.delete(resourcePath(Resources.namespaces, undefined, namespace)).catch(() => undefined);
    kube.close();
  });

  async function requestToken(audiences?: string[]): Promise<TokenRequest> {
    return kube.create<TokenRequest>(
      resourcePath(Resources.serviceAccounts, namespace, serviceAccount, 'token'),
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences, expirationSeconds: 3600 },
      },
    );
  }

  it('reports Kubernetes v1.34 from its API server', async () => {
    const version = await kube.get<{ gitVersion: string; major: string; minor: string }>('/version');
    expect(version.gitVersion).toMatch(/^v1\.34\.\d+$/);
    expect(version.major).toBe('1');
    expect(version.minor).toBe('34');
  });

  it('enforces RBAC: a service account without a role may not list Secrets', async () => {
    const token = (await requestToken()).status?.token;
    expect(token).toBeTruthy();
    const asServiceAccount = new Client({ server: kube.connection.server, ca: kube.connection.ca, token });
    try {
      const err = await asServiceAccount.get(resourcePath(Resources.secrets, namespace)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KubeApiError);
      expect(isForbidden(err)).toBe(true);
      expect((err as KubeApiError).message).toContain(`system:serviceaccount:${namespace}:${serviceAccount}`);
    } finally {
      asServiceAccount.close();
    }
  });

  it('exchanges a TokenRequest token for sts.amazonaws.com with STS and uses the credentials', async () => {
    const sa = await kube.get<ServiceAccount>(
      resourcePath(Resources.serviceAccounts, namespace, serviceAccount),
    );
    expect(sa.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(roleArn);

    const tokenRequest = await requestToken(['sts.amazonaws.com']);
    const token = tokenRequest.status?.token ?? '';
    const claims = jwtClaims(token);
    expect(claims.aud).toEqual(['sts.amazonaws.com']);
    expect(claims.sub).toBe(`system:serviceaccount:${namespace}:${serviceAccount}`);
    expect(claims.iss).toBe(lab.serviceAccountIssuer);

    const sts = new STSClient({ region: lab.awsRegion });
    // The lab's STS checks the token as AWS does: a token for another audience is refused.
    const otherAudience = (await requestToken(['api'])).status?.token ?? '';
    await expect(
      sts.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: roleArn,
          RoleSessionName: 'lab-smoke',
          WebIdentityToken: otherAudience,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidIdentityTokenException' });
    const assumed = await sts.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: roleArn,
        RoleSessionName: 'lab-smoke',
        WebIdentityToken: token,
      }),
    );
    const creds = assumed.Credentials;
    expect(creds?.AccessKeyId).toBeTruthy();
    expect(assumed.AssumedRoleUser?.Arn).toContain('lab-smoke');
    const credentials = {
      accessKeyId: creds?.AccessKeyId ?? '',
      secretAccessKey: creds?.SecretAccessKey ?? '',
      sessionToken: creds?.SessionToken,
    };

    const secretsManager = new SecretsManagerClient({ region: lab.awsRegion, credentials });
    const secretName = `smoke/${namespace}`;
    await secretsManager.send(
      new CreateSecretCommand({ Name: secretName, SecretString: '{"username":"smoke"}' }),
    );
    const secret = await secretsManager.send(new GetSecretValueCommand({ SecretId: secretName }));
    expect(secret.SecretString).toBe('{"username":"smoke"}');
    expect(secret.VersionStages).toContain('AWSCURRENT');

    const ssm = new SSMClient({ region: lab.awsRegion, credentials });
    const parameterName = `/smoke/${namespace}/password`;
    await ssm.send(new PutParameterCommand({ Name: parameterName, Value: 'p@ss', Type: 'SecureString' }));
    const parameter = await ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }));
    expect(parameter.Parameter?.Type).toBe('SecureString');
    expect(parameter.Parameter?.Value).toBe('p@ss');
    const encrypted = await ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: false }));
    expect(encrypted.Parameter?.Value).not.toBe('p@ss');
  });

  it('garbage-collects an object when its owner is deleted', async () => {
    const configMaps = resourcePath(Resources.configMaps, namespace);
    const owner = await kube.create<{ metadata: { uid: string } }>(configMaps, {
      metadata: { name: 'owner' },
    });
    await kube.create(configMaps, {
      metadata: {
        name: 'dependent',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }],
      },
    });
    await kube.delete(resourcePath(Resources.configMaps, namespace, 'owner'), {
      body: { propagationPolicy: 'Background' },
    });
    await eventually(
      'the garbage collector to delete the dependent ConfigMap',
      async () => {
        try {
          await kube.get(resourcePath(Resources.configMaps, namespace, 'dependent'));
          return undefined;
        } catch (err) {
          if (isNotFound(err)) return true;
          throw err;
        }
      },
      60_000,
    );
  });
});
