// The article's material, shared by the walkthrough on the kubelet stand-in and the one on the real
// node: its manifests (my-db-secret.yaml, sample-app.yaml, the ServiceAccounts), its IAM policies,
// its AWS objects, and how to remove them all again.
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand } from '@aws-sdk/client-ssm';
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';

import type { awsAdmin } from '../aws-provider';
import { LAB_ACCOUNT } from '../aws-provider';

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

export function secretsManagerPolicy(region: string): object {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: [`arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:MyDBSecret-*`],
      },
    ],
  };
}

export function parameterStorePolicy(region: string): object {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['ssm:GetParameters'],
        Resource: [`arn:aws:ssm:${region}:${ACCOUNT}:parameter/sample-app/db/*`],
      },
    ],
  };
}

function trustPolicy(serviceAccount: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::${ACCOUNT}:oidc-provider/kubernetes.default.svc` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { 'kubernetes.default.svc:sub': `system:serviceaccount:default:${serviceAccount}` },
        },
      },
    ],
  });
}

/** The article's IAM role for a ServiceAccount, with its policy as the one inline policy. */
export async function createArticleRole(
  aws: ReturnType<typeof awsAdmin>,
  role: string,
  serviceAccount: string,
  policy: object,
): Promise<void> {
  await aws.iam.send(
    new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: trustPolicy(serviceAccount) }),
  );
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: role,
      PolicyName: `${role}ReadOnly`,
      PolicyDocument: JSON.stringify(policy),
    }),
  );
}

/** Removes the article's AWS objects and roles, whatever of them exists. */
export async function deleteArticleAws(aws: ReturnType<typeof awsAdmin>): Promise<void> {
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
  await quiet(
    aws.secretsManager.send(
      new DeleteSecretCommand({ SecretId: 'MyDBSecret', ForceDeleteWithoutRecovery: true }),
    ),
  );
  for (const name of ['/sample-app/db/username', '/sample-app/db/password'])
    await quiet(aws.ssm.send(new DeleteParameterCommand({ Name: name })));
  for (const role of [SECRETS_MANAGER_ROLE, PARAMETER_STORE_ROLE]) {
    await quiet(aws.iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: `${role}ReadOnly` })));
    await quiet(aws.iam.send(new DeleteRoleCommand({ RoleName: role })));
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
