// The article's material, shared by the walkthrough on the kubelet stand-in and the one on the real
// node: its manifests, IAM policies and trust policy read from examples/ as they are (placeholders
// filled as examples/README.md says), its roles (as examples/terraform makes them, through the IAM
// API), its AWS objects, and how to remove them all again.
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  DeletePolicyCommand,
  DeleteRoleCommand,
  DetachRolePolicyCommand,
} from '@aws-sdk/client-iam';
import type { awsAdmin } from '@sscsi/e2e';
import { ensureOidcProvider, issuerHost, LAB_ACCOUNT } from '@sscsi/e2e';

import type { PlaceholderValues } from './examples';
import type { Reporter } from './steps';
import {
  envsubstCommand,
  examplePath,
  filledExample,
  forTheLab,
  placeholdersOf,
  readExample,
} from './examples';

/** moto's account: the one every ARN of the lab names. */
export const ACCOUNT = LAB_ACCOUNT;
export const DB_SECRET_VALUE = '{"username":"mamezou-tech", "password":"my-super-secret-password"}';
export const ROTATED_PASSWORD = 'my-rotated-password';
export const SECRETS_MANAGER_ROLE = 'MySampleAppSecretsManager';
export const PARAMETER_STORE_ROLE = 'MySampleAppParameterStore';

/** The ServiceAccounts that may assume the two roles. */
export const SECRETS_MANAGER_SERVICE_ACCOUNT = 'sample-app-secrets-manager';
export const PARAMETER_STORE_SERVICE_ACCOUNT = 'sample-app-parameter-store';
/** The namespace of the article's manifests (examples/manifests). */
export const ARTICLE_NAMESPACE = 'default';
/** The region of the article's ARNs, and of the lab's node. */
export const ARTICLE_REGION = 'ap-northeast-1';

/** The article's manifests in examples/manifests, one folder per stage of the walkthrough. */
export const MANIFESTS = {
  secretsManager: {
    serviceAccount: 'manifests/secrets-manager/serviceaccount.yaml',
    secretProviderClass: 'manifests/secrets-manager/my-db-secret.yaml',
    pod: 'manifests/secrets-manager/sample-app.yaml',
  },
  parameterStore: {
    serviceAccount: 'manifests/parameter-store/serviceaccount.yaml',
    secretProviderClass: 'manifests/parameter-store/my-db-secret.yaml',
    pod: 'manifests/parameter-store/sample-app.yaml',
  },
  syncSecret: {
    secretProviderClass: 'manifests/sync-secret/my-db-secret.yaml',
    pod: 'manifests/sync-secret/sample-app.yaml',
  },
  /** Beyond the article: MyDBSecret's keys as an application's configuration files (templatedFiles). */
  templatedFiles: {
    secretProviderClass: 'manifests/templated-files/my-db-config.yaml',
    pod: 'manifests/templated-files/sample-app.yaml',
  },
} as const;

/**
 * Beyond the article: the Parameter Store class with an optional third parameter, which the
 * walkthrough creates only once the pod runs without it.
 */
export const OPTIONAL_OBJECTS = {
  secretProviderClass: 'manifests/optional-objects/my-db-secret.yaml',
  parameter: '/sample-app/db/replica-host',
  file: '_sample-app_db_replica-host',
  value: 'db-replica.sample-app.internal',
} as const;

/** The class and pod of MANIFESTS.templatedFiles. */
export const TEMPLATED_FILES_CLASS = 'my-db-config';
export const TEMPLATED_FILES_POD = 'sample-app-config';

/** An IAM policy of examples/iam, filled for the lab's account and the article's region. */
export interface ArticlePolicy {
  /** The article's Terraform `aws_iam_policy` name. */
  name: string;
  /** Its file under examples/. */
  file: string;
  /** The placeholders' values, as `envsubst` gets them. */
  values: PlaceholderValues;
  /** The filled document. */
  json: string;
}

function articlePolicy(name: string, file: string): ArticlePolicy {
  const values = { AWS_ACCOUNT_ID: ACCOUNT, AWS_REGION: ARTICLE_REGION };
  return { name, file, values, json: filledExample(file, values) };
}

export const SECRETS_MANAGER_POLICY = articlePolicy(
  'SecretsManagerMyDBSecretReadOnly',
  'iam/secrets-manager-policy.json',
);
export const PARAMETER_STORE_POLICY = articlePolicy(
  'ParameterStoreMyDBSecretReadOnly',
  'iam/parameter-store-policy.json',
);

/** The article's two roles, each with the ServiceAccount it trusts and the policy attached to it. */
export const ARTICLE_ROLES = {
  secretsManager: {
    role: SECRETS_MANAGER_ROLE,
    serviceAccount: SECRETS_MANAGER_SERVICE_ACCOUNT,
    policy: SECRETS_MANAGER_POLICY,
  },
  parameterStore: {
    role: PARAMETER_STORE_ROLE,
    serviceAccount: PARAMETER_STORE_SERVICE_ACCOUNT,
    policy: PARAMETER_STORE_POLICY,
  },
} as const;

/** The lab's service-account issuer, as the cluster_oidc_issuer_url of the article's EKS module. */
export const LAB_ISSUER = process.env.LAB_SERVICE_ACCOUNT_ISSUER ?? 'https://kubernetes.default.svc';

export const TRUST_POLICY_FILE = 'iam/trust-policy.json';

/** The values examples/iam/trust-policy.json is filled with for one of the article's ServiceAccounts. */
export function trustPolicyValues(serviceAccount: string): PlaceholderValues {
  return {
    AWS_ACCOUNT_ID: ACCOUNT,
    OIDC_PROVIDER: issuerHost(LAB_ISSUER),
    NAMESPACE: ARTICLE_NAMESPACE,
    SERVICE_ACCOUNT: serviceAccount,
  };
}

/** examples/iam/trust-policy.json for the role of `serviceAccount`. */
export function articleTrustPolicy(serviceAccount: string): string {
  return filledExample(TRUST_POLICY_FILE, trustPolicyValues(serviceAccount));
}

const policyArn = (name: string) => `arn:aws:iam::${ACCOUNT}:policy/${name}`;

/** `aws iam create-open-id-connect-provider` for the cluster's issuer (EKS: associate-iam-oidc-provider). */
export function createArticleOidcProvider(aws: ReturnType<typeof awsAdmin>): Promise<string> {
  return ensureOidcProvider(aws.iam, LAB_ISSUER);
}

/** What examples/terraform makes in IAM, through the IAM API: the policy, the role with its trust policy, attached. */
export async function createArticleRole(
  aws: ReturnType<typeof awsAdmin>,
  role: string,
  serviceAccount: string,
  policy: ArticlePolicy,
): Promise<void> {
  await aws.iam.send(new CreatePolicyCommand({ PolicyName: policy.name, PolicyDocument: policy.json }));
  await aws.iam.send(
    new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: articleTrustPolicy(serviceAccount) }),
  );
  await aws.iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn(policy.name) }));
}

/**
 * Removes the article's AWS objects, roles and policies, whatever of them exists. The cluster's
 * OIDC provider stays, as it stays with an EKS cluster.
 */
export async function deleteArticleAws(aws: ReturnType<typeof awsAdmin>): Promise<void> {
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
  await quiet(
    aws.secretsManager.send(
      new DeleteSecretCommand({ SecretId: 'MyDBSecret', ForceDeleteWithoutRecovery: true }),
    ),
  );
  for (const name of ['/sample-app/db/username', '/sample-app/db/password', OPTIONAL_OBJECTS.parameter])
    await quiet(aws.ssm.send(new DeleteParameterCommand({ Name: name })));
  for (const { role, policy } of Object.values(ARTICLE_ROLES)) {
    await quiet(
      aws.iam.send(new DetachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn(policy.name) })),
    );
    await quiet(aws.iam.send(new DeleteRoleCommand({ RoleName: role })));
    await quiet(aws.iam.send(new DeletePolicyCommand({ PolicyArn: policyArn(policy.name) })));
  }
}

/**
 * How a user applies a manifest of examples/: `kubectl apply -f`, through envsubst when it has
 * placeholders (the ServiceAccounts' role ARNs).
 */
export function applyCommand(file: string): string {
  const values: PlaceholderValues = placeholdersOf(readExample(file)).length
    ? { AWS_ACCOUNT_ID: ACCOUNT }
    : {};
  return Object.keys(values).length
    ? `${envsubstCommand(file, values)} | kubectl apply -f -`
    : `kubectl apply -f ${examplePath(file)}`;
}

/** A ServiceAccount manifest of examples/, filled with the lab's account ID. */
export function serviceAccountManifest(file: string): string {
  return filledExample(file, { AWS_ACCOUNT_ID: ACCOUNT });
}

/** A SecretProviderClass manifest of examples/, as it is (it has no placeholders). */
export function classManifest(file: string): string {
  return filledExample(file, {});
}

/** A pod manifest of examples/ as the lab runs it (examples.ts: forTheLab). */
export function podManifest(file: string, nodeName?: string): string {
  return forTheLab(filledExample(file, {}), { nodeName });
}

/**
 * A new value of the password parameter, as the article rotates it (`aws ssm put-parameter ...
 * --overwrite`), the command printed through `out` when given.
 */
export async function putPasswordParameter(
  aws: ReturnType<typeof awsAdmin>,
  value: string,
  out?: Reporter,
): Promise<void> {
  out?.command(
    `aws ssm put-parameter --name "/sample-app/db/password" --value "${value}" --type SecureString --overwrite`,
  );
  await aws.ssm.send(
    new PutParameterCommand({
      Name: '/sample-app/db/password',
      Value: value,
      Type: 'SecureString',
      Overwrite: true,
    }),
  );
}
