// The article's material, shared by the walkthrough on the kubelet stand-in and the one on the real
// node: its manifests (my-db-secret.yaml, sample-app.yaml, the ServiceAccounts), its IAM policies
// (verbatim) and roles (as its Terraform makes them, through the IAM API), its AWS objects, and how
// to remove them all again.
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand } from '@aws-sdk/client-ssm';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  DeletePolicyCommand,
  DeleteRoleCommand,
  DetachRolePolicyCommand,
} from '@aws-sdk/client-iam';

import type { awsAdmin } from '../aws-provider';
import { ensureOidcProvider, LAB_ACCOUNT } from '../aws-provider';

/** moto's account: the one every ARN of the lab names. */
export const ACCOUNT = LAB_ACCOUNT;
export const DB_SECRET_VALUE = '{"username":"mamezou-tech", "password":"my-super-secret-password"}';
export const ROTATED_PASSWORD = 'my-rotated-password';
export const SECRETS_MANAGER_ROLE = 'MySampleAppSecretsManager';
export const PARAMETER_STORE_ROLE = 'MySampleAppParameterStore';

export const SECRETS_MANAGER_OBJECTS = ['- objectName: "MyDBSecret"', '  objectType: "secretsmanager"'];
export const PARAMETER_STORE_OBJECTS = [
  '- objectName: "/sample-app/db/username"',
  '  objectType: "ssmparameter"',
  '- objectName: "/sample-app/db/password"',
  '  objectType: "ssmparameter"',
];

/**
 * secrets-manager-policy.json, verbatim from the article; its `xxxxxxxxxxxx` is the account ID, as
 * the article says to put there.
 */
const SECRETS_MANAGER_POLICY_JSON = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret"
      ],
      "Resource": [
        "arn:aws:secretsmanager:ap-northeast-1:xxxxxxxxxxxx:secret:MyDBSecret-*"
      ]
    }
  ]
}`;

/** parameter-store-policy.json, verbatim from the article (the account ID in place of `xxxxxxxxxxxx`). */
const PARAMETER_STORE_POLICY_JSON = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "ssm:GetParameters"
      ],
      "Resource": [
        "arn:aws:ssm:ap-northeast-1:xxxxxxxxxxxx:parameter/sample-app/db/*"
      ]
    }
  ]
}`;

export interface ArticlePolicy {
  /** The article's Terraform `aws_iam_policy` name. */
  name: string;
  file: string;
  json: string;
}

export const SECRETS_MANAGER_POLICY: ArticlePolicy = {
  name: 'SecretsManagerMyDBSecretReadOnly',
  file: 'secrets-manager-policy.json',
  json: SECRETS_MANAGER_POLICY_JSON.replaceAll('xxxxxxxxxxxx', ACCOUNT),
};

export const PARAMETER_STORE_POLICY: ArticlePolicy = {
  name: 'ParameterStoreMyDBSecretReadOnly',
  file: 'parameter-store-policy.json',
  json: PARAMETER_STORE_POLICY_JSON.replaceAll('xxxxxxxxxxxx', ACCOUNT),
};

/** The lab's service-account issuer, as the cluster_oidc_issuer_url of the article's EKS module. */
export const LAB_ISSUER = process.env.LAB_SERVICE_ACCOUNT_ISSUER ?? 'https://kubernetes.default.svc';

/**
 * The trust policy terraform-aws-modules' iam-assumable-role-with-oidc (~> 4.0) writes for the
 * article's `provider_url` (the issuer without https://) and `oidc_fully_qualified_subjects`.
 */
export function articleTrustPolicy(serviceAccount: string): string {
  const providerUrl = LAB_ISSUER.replace('https://', '');
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: '',
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::${ACCOUNT}:oidc-provider/${providerUrl}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: { [`${providerUrl}:sub`]: [`system:serviceaccount:default:${serviceAccount}`] },
          },
        },
      ],
    },
    null,
    2,
  );
}

const policyArn = (name: string) => `arn:aws:iam::${ACCOUNT}:policy/${name}`;

/** `aws iam create-open-id-connect-provider` for the cluster's issuer (EKS: associate-iam-oidc-provider). */
export function createArticleOidcProvider(aws: ReturnType<typeof awsAdmin>): Promise<string> {
  return ensureOidcProvider(aws.iam, LAB_ISSUER);
}

/** The article's Terraform, through the IAM API: the policy, the role with its trust policy, attached. */
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
  for (const name of ['/sample-app/db/username', '/sample-app/db/password'])
    await quiet(aws.ssm.send(new DeleteParameterCommand({ Name: name })));
  for (const [role, policy] of [
    [SECRETS_MANAGER_ROLE, SECRETS_MANAGER_POLICY],
    [PARAMETER_STORE_ROLE, PARAMETER_STORE_POLICY],
  ] as const) {
    await quiet(
      aws.iam.send(new DetachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn(policy.name) })),
    );
    await quiet(aws.iam.send(new DeleteRoleCommand({ RoleName: role })));
    await quiet(aws.iam.send(new DeletePolicyCommand({ PolicyArn: policyArn(policy.name) })));
  }
}

/** sample-app.yaml; `nodeName` binds it where the lab has no scheduler (the kubelet stand-in). */
export function podManifest(o: {
  serviceAccount: string;
  withSecretVolume?: boolean;
  nodeName?: string;
}): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  name: sample-app',
    '  namespace: default',
    'spec:',
    `  serviceAccountName: ${o.serviceAccount}`,
    ...(o.nodeName
      ? [`  nodeName: ${o.nodeName}   # no scheduler for the kubelet stand-in: bound to its node`]
      : []),
    '  containers:',
    '    - name: sample-app',
    '      image: busybox:lab   # the lab has no registry: its own busybox image',
    '      imagePullPolicy: Never',
    '      command: ["sh", "-c", "sleep 3600"]',
    '      volumeMounts:',
    '        - name: my-db-secret',
    '          mountPath: /mnt/secrets-store',
    '          readOnly: true',
    ...(o.withSecretVolume
      ? ['        - name: my-db-secret-2', '          mountPath: /k8s-secret', '          readOnly: true']
      : []),
    '  volumes:',
    '    - name: my-db-secret',
    '      csi:',
    '        driver: secrets-store.csi.k8s.io',
    '        readOnly: true',
    '        volumeAttributes:',
    '          secretProviderClass: my-db-secret',
    ...(o.withSecretVolume
      ? ['    - name: my-db-secret-2', '      secret:', '        secretName: my-db-secret']
      : []),
    '',
  ].join('\n');
}

/** my-db-secret.yaml, with the article's secretObjects when asked. */
export function spcManifest(objects: readonly string[], secretObjects = false): string {
  return [
    'apiVersion: secrets-store.csi.x-k8s.io/v1',
    'kind: SecretProviderClass',
    'metadata:',
    '  name: my-db-secret',
    '  namespace: default',
    'spec:',
    '  provider: aws',
    ...(secretObjects
      ? [
          '  secretObjects:',
          '    - secretName: my-db-secret',
          '      type: Opaque',
          '      data:',
          '        - key: username',
          '          objectName: _sample-app_db_username',
          '        - key: password',
          '          objectName: _sample-app_db_password',
        ]
      : []),
    '  parameters:',
    '    objects: |',
    ...objects.map((l) => `      ${l}`),
    '',
  ].join('\n');
}

export function serviceAccountManifest(name: string, role: string): string {
  return [
    'apiVersion: v1',
    'kind: ServiceAccount',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    '  annotations:',
    `    eks.amazonaws.com/role-arn: arn:aws:iam::${ACCOUNT}:role/${role}`,
    '',
  ].join('\n');
}
