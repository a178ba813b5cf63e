// examples/iam as the lab's AWS enforces it: the article's two roles, made from the JSON files as
// the demo makes them, let exactly their own ServiceAccount in (with a token for STS) and let it
// read exactly the article's objects: MyDBSecret but not a secret whose name only starts alike,
// /sample-app/db/* but no other parameter, and never the other role's objects.
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteParameterCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { KubeClient } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';
import {
  ACCOUNT,
  ARTICLE_NAMESPACE,
  ARTICLE_REGION,
  ARTICLE_ROLES,
  createArticleOidcProvider,
  createArticleRole,
  deleteArticleAws,
} from '@sscsi/demo';

import { adminClient, awsAdmin, createServiceAccount, mintTokens, requireLab, uniqueSuffix } from '../src';

const lab = requireLab();
const sfx = uniqueSuffix();
const { secretsManager, parameterStore } = ARTICLE_ROLES;
// Starts like MyDBSecret; the policy's `secret:MyDBSecret-*` must not match it.
const LOOKALIKE_SECRET = `MyDBSecretCopy${sfx}`;
const OTHER_PARAMETER = `/sample-app/other-${sfx}/password`;
let kube: KubeClient;
let aws: ReturnType<typeof awsAdmin>;
const clients: { destroy(): void }[] = [];

async function removeAll(): Promise<void> {
  await deleteArticleAws(aws);
  for (const { serviceAccount } of Object.values(ARTICLE_ROLES))
    await kube
      .delete(resourcePath(Resources.serviceAccounts, ARTICLE_NAMESPACE, serviceAccount))
      .catch(() => undefined);
}

beforeAll(async () => {
  kube = adminClient(lab);
  aws = awsAdmin(lab, ARTICLE_REGION);
  await removeAll();
  await aws.secretsManager.send(new CreateSecretCommand({ Name: 'MyDBSecret', SecretString: 'db' }));
  await aws.secretsManager.send(new CreateSecretCommand({ Name: LOOKALIKE_SECRET, SecretString: 'copy' }));
  for (const [name, type] of [
    ['/sample-app/db/username', 'String'],
    ['/sample-app/db/password', 'SecureString'],
    [OTHER_PARAMETER, 'SecureString'],
  ] as const)
    await aws.ssm.send(new PutParameterCommand({ Name: name, Value: `value of ${name}`, Type: type }));
  await createArticleOidcProvider(aws);
  for (const { role, serviceAccount, policy } of Object.values(ARTICLE_ROLES)) {
    await createArticleRole(aws, role, serviceAccount, policy);
    await createServiceAccount(
      kube,
      ARTICLE_NAMESPACE,
      serviceAccount,
      `arn:aws:iam::${ACCOUNT}:role/${role}`,
    );
  }
});

afterAll(async () => {
  if (aws) {
    await aws.secretsManager
      .send(new DeleteSecretCommand({ SecretId: LOOKALIKE_SECRET, ForceDeleteWithoutRecovery: true }))
      .catch(() => undefined);
    await aws.ssm.send(new DeleteParameterCommand({ Name: OTHER_PARAMETER })).catch(() => undefined);
    await removeAll();
  }
  for (const c of clients) c.destroy();
  aws?.destroy();
  kube?.close();
});

/** The ServiceAccount's token for `audience`, as the kubelet gives it to the provider. */
async function tokenOf(serviceAccount: string, audience = 'sts.amazonaws.com'): Promise<string> {
  const tokens = JSON.parse(await mintTokens(kube, ARTICLE_NAMESPACE, serviceAccount, [audience])) as Record<
    string,
    { token: string }
  >;
  return tokens[audience]?.token ?? '';
}

/** AssumeRoleWithWebIdentity, as the provider calls it for IRSA; the role's clients, or STS's error. */
async function assume(role: string, token: string) {
  const sts = new STSClient({ region: ARTICLE_REGION, endpoint: lab.awsEndpoint });
  clients.push(sts);
  const out = await sts.send(
    new AssumeRoleWithWebIdentityCommand({
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`,
      RoleSessionName: `examples-${sfx}`,
      WebIdentityToken: token,
    }),
  );
  const c = out.Credentials;
  const credentials = {
    accessKeyId: c?.AccessKeyId ?? '',
    secretAccessKey: c?.SecretAccessKey ?? '',
    sessionToken: c?.SessionToken ?? '',
  };
  const config = { region: ARTICLE_REGION, endpoint: lab.awsEndpoint, credentials };
  const secretsManager = new SecretsManagerClient(config);
  const ssm = new SSMClient(config);
  clients.push(secretsManager, ssm);
  return {
    secret: (id: string) => secretsManager.send(new GetSecretValueCommand({ SecretId: id })),
    parameters: (names: string[]) =>
      ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true })),
  };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'allowed',
    (err: { name?: string }) => err.name,
  );

describe("examples/iam, enforced by the lab's AWS", () => {
  it('secrets-manager-policy.json: MyDBSecret, and nothing else', async () => {
    const role = await assume(secretsManager.role, await tokenOf(secretsManager.serviceAccount));
    expect((await role.secret('MyDBSecret')).SecretString).toBe('db');
    expect(await refusal(role.secret(LOOKALIKE_SECRET))).toBe('AccessDeniedException');
    expect(await refusal(role.parameters(['/sample-app/db/username']))).toBe('AccessDeniedException');
  });

  it('parameter-store-policy.json: /sample-app/db/*, and nothing else', async () => {
    const role = await assume(parameterStore.role, await tokenOf(parameterStore.serviceAccount));
    const read = await role.parameters(['/sample-app/db/username', '/sample-app/db/password']);
    expect(read.Parameters?.map((p) => p.Value).sort()).toEqual([
      'value of /sample-app/db/password',
      'value of /sample-app/db/username',
    ]);
    expect(await refusal(role.parameters([OTHER_PARAMETER]))).toBe('AccessDeniedException');
    expect(await refusal(role.secret('MyDBSecret'))).toBe('AccessDeniedException');
  });

  it("trust-policy.json: only the role's own ServiceAccount, only with a token for STS", async () => {
    const otherAccount = await tokenOf(parameterStore.serviceAccount);
    expect(await refusal(assume(secretsManager.role, otherAccount))).toBe('AccessDenied');
    const otherAudience = await tokenOf(secretsManager.serviceAccount, 'pods.eks.amazonaws.com');
    expect(await refusal(assume(secretsManager.role, otherAudience))).toMatch(
      /^(AccessDenied|InvalidIdentityToken)(Exception)?$/,
    );
  });
});
