// Beyond the article: its objects (MyDBSecret, /sample-app/db/username and /sample-app/db/password)
// turned into Kubernetes Secrets by the sync controller, with no pod, through the article's roles
// and ServiceAccounts (IRSA). One SecretProviderClass and one SecretSync per role: a SecretSync's
// provider call uses its ServiceAccount's role, which may read only its own objects. SecretSync
// sourcePaths may not start with `_` or hold `/` (upstream's pattern), so the parameters, whose files
// would be `_sample-app_db_username` and `_sample-app_db_password`, get an objectAlias each.
import {
  ARTICLE_NAMESPACE,
  PARAMETER_STORE_SERVICE_ACCOUNT,
  SECRETS_MANAGER_SERVICE_ACCOUNT,
} from './article';

export const SECRET_SYNC_NAMES = {
  /** MyDBSecret, with the Secrets Manager role: the Secret's key `MyDBSecret`. */
  secretsManager: 'my-db-secret-sm',
  /** The two parameters, with the Parameter Store role: the keys `username` and `password`. */
  parameterStore: 'my-db-secret-ssm',
  /** MyDBSecret asked with the Parameter Store role, which may not read it. */
  denied: 'my-db-secret-denied',
} as const;

function secretProviderClass(name: string, objects: string, namespace: string): string {
  return `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  provider: aws
  parameters:
    objects: |
${objects
  .trim()
  .split('\n')
  .map((line) => `      ${line}`)
  .join('\n')}
`;
}

function secretSync(
  name: string,
  o: { serviceAccount: string; className: string; data: Array<[string, string]> },
  namespace: string,
): string {
  return `apiVersion: secret-sync.x-k8s.io/v1alpha1
kind: SecretSync
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  serviceAccountName: ${o.serviceAccount}
  secretProviderClassName: ${o.className}
  secretObject:
    type: Opaque
    data:
${o.data.map(([sourcePath, targetKey]) => `      - sourcePath: ${sourcePath}\n        targetKey: ${targetKey}`).join('\n')}
`;
}

/** The classes of the article's objects for SecretSyncs, as YAML (one document each). */
export function secretSyncClasses(namespace = ARTICLE_NAMESPACE): string[] {
  return [
    secretProviderClass(
      SECRET_SYNC_NAMES.secretsManager,
      `- objectName: "MyDBSecret"\n  objectType: "secretsmanager"`,
      namespace,
    ),
    secretProviderClass(
      SECRET_SYNC_NAMES.parameterStore,
      [
        '- objectName: "/sample-app/db/username"',
        '  objectType: "ssmparameter"',
        '  objectAlias: "username"',
        '- objectName: "/sample-app/db/password"',
        '  objectType: "ssmparameter"',
        '  objectAlias: "password"',
      ].join('\n'),
      namespace,
    ),
  ];
}

/** The SecretSyncs of the article's objects, each with the ServiceAccount whose role may read them. */
export function articleSecretSyncs(namespace = ARTICLE_NAMESPACE): string[] {
  return [
    secretSync(
      SECRET_SYNC_NAMES.secretsManager,
      {
        serviceAccount: SECRETS_MANAGER_SERVICE_ACCOUNT,
        className: SECRET_SYNC_NAMES.secretsManager,
        data: [['MyDBSecret', 'MyDBSecret']],
      },
      namespace,
    ),
    secretSync(
      SECRET_SYNC_NAMES.parameterStore,
      {
        serviceAccount: PARAMETER_STORE_SERVICE_ACCOUNT,
        className: SECRET_SYNC_NAMES.parameterStore,
        data: [
          ['username', 'username'],
          ['password', 'password'],
        ],
      },
      namespace,
    ),
  ];
}

/** A SecretSync asking MyDBSecret with the Parameter Store ServiceAccount, whose role may not read it. */
export function deniedSecretSync(namespace = ARTICLE_NAMESPACE): string {
  return secretSync(
    SECRET_SYNC_NAMES.denied,
    {
      serviceAccount: PARAMETER_STORE_SERVICE_ACCOUNT,
      className: SECRET_SYNC_NAMES.secretsManager,
      data: [['MyDBSecret', 'MyDBSecret']],
    },
    namespace,
  );
}

/** The Deployment that opts in to a restart on rotation and reads the Parameter Store SecretSync's Secret. */
export const RESTARTED_DEPLOYMENT = 'sample-app-env';

/**
 * examples/manifests/restart-on-rotation/sample-app-env.yaml reading the SecretSync's Secret instead
 * of the driver's synced one, for the lab: its busybox, bound to the stand-in's node (no scheduler),
 * and the Recreate strategy (the stand-in runs no containers, so a rolling update would wait for a
 * ready pod forever).
 */
export function restartedDeployment(nodeName: string, namespace = ARTICLE_NAMESPACE): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${RESTARTED_DEPLOYMENT}
  namespace: ${namespace}
  annotations:
    secrets-store.csi.x-k8s.io/restart-on-rotation: "true"
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app: ${RESTARTED_DEPLOYMENT}
  template:
    metadata:
      labels:
        app: ${RESTARTED_DEPLOYMENT}
    spec:
      nodeName: ${nodeName}
      containers:
        - name: sample-app
          image: busybox:lab
          imagePullPolicy: Never
          command: ['sh', '-c', 'sleep 3600']
          envFrom:
            - secretRef:
                name: ${SECRET_SYNC_NAMES.parameterStore}
`;
}
