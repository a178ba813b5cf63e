// The article's commands, verbatim, on the lab's real node (make lab-up NODE=1): a kubelet with
// containerd, the charts installed with helm, the AWS provider from its installer, real pods, and
// `kubectl exec` into them. Without the real node these tests fail and say why; they never skip.
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { DeleteRoleCommand, DeleteRolePolicyCommand } from '@aws-sdk/client-iam';
import fs from 'node:fs';

import {
  ACCOUNT,
  AWS_PROVIDER_INSTALLER,
  AwsGate,
  awsAdmin,
  createRole,
  DB_SECRET_VALUE,
  DRIVER_CHART,
  eventually,
  IamPolicyEnforcer,
  kubectlAsync,
  labToolAsync,
  requireLab,
  ROTATED_PASSWORD,
} from '../src';

const lab = requireLab();
const nodeMode = process.env.LAB_MODE === 'node';
const nodeIp = process.env.LAB_NODE_IP ?? '';
const region = process.env.LAB_NODE_REGION ?? 'ap-northeast-1';

let gate: AwsGate;
let policy: IamPolicyEnforcer;
let aws: ReturnType<typeof awsAdmin>;

const kubectl = (...args: string[]) => kubectlAsync(lab, args);
const kubectlIn = (input: string, ...args: string[]) => kubectlAsync(lab, args, input);
const helm = (...args: string[]) => labToolAsync(lab, 'helm', args);
const exec = (pod: string, ...command: string[]) => kubectl('exec', pod, '--', ...command);

function podManifest(serviceAccount: string, withSecretVolume: boolean): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: sample-app
  namespace: default
spec:
  serviceAccountName: ${serviceAccount}
  containers:
    - name: sample-app
      image: busybox:lab
      imagePullPolicy: Never
      command: ["sh", "-c", "sleep 3600"]
      volumeMounts:
        - name: my-db-secret
          mountPath: /mnt/secrets-store
          readOnly: true
${withSecretVolume ? '        - name: my-db-secret-2\n          mountPath: /k8s-secret\n          readOnly: true\n' : ''}  volumes:
    - name: my-db-secret
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes:
          secretProviderClass: my-db-secret
${withSecretVolume ? '    - name: my-db-secret-2\n      secret:\n        secretName: my-db-secret\n' : ''}`;
}

function spcManifest(objects: string, secretObjects: boolean): string {
  return `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: my-db-secret
  namespace: default
spec:
  provider: aws
${
  secretObjects
    ? `  secretObjects:
    - secretName: my-db-secret
      type: Opaque
      data:
        - key: username
          objectName: _sample-app_db_username
        - key: password
          objectName: _sample-app_db_password
`
    : ''
}  parameters:
    objects: |
${objects}`;
}

const serviceAccount = (name: string, role: string) => `apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${name}
  namespace: default
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::${ACCOUNT}:role/${role}
`;

async function recreatePod(manifest: string): Promise<string> {
  // A short grace period: the container's sh does not stop on SIGTERM, so 30 s would pass.
  await kubectl('delete', 'pod', 'sample-app', '--ignore-not-found', '--wait=true', '--grace-period=1');
  await kubectlIn(manifest, 'apply', '-f', '-');
  await kubectl('wait', '--for=condition=Ready', 'pod/sample-app', '--timeout=120s');
  return (await kubectl('get', 'pod', 'sample-app', '-o', 'jsonpath={.metadata.uid}')).trim();
}

async function cleanAws(): Promise<void> {
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
  await quiet(
    aws.secretsManager.send(
      new DeleteSecretCommand({ SecretId: 'MyDBSecret', ForceDeleteWithoutRecovery: true }),
    ),
  );
  for (const name of ['/sample-app/db/username', '/sample-app/db/password'])
    await quiet(aws.ssm.send(new DeleteParameterCommand({ Name: name })));
  for (const role of ['MySampleAppSecretsManager', 'MySampleAppParameterStore']) {
    await quiet(aws.iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: 'read' })));
    await quiet(aws.iam.send(new DeleteRoleCommand({ RoleName: role })));
  }
}

beforeAll(async () => {
  if (!nodeMode) {
    throw new Error(
      'the lab runs without its real node (LAB_MODE is not "node"): these tests need `make lab-up NODE=1` (make test starts it); they never pass by skipping',
    );
  }
  aws = awsAdmin(lab, region);
  await cleanAws();
  await kubectl('delete', 'pod', 'sample-app', '--ignore-not-found', '--wait=true');
  // Other tests create the CSIDriver object without Helm; Helm must own it.
  await kubectl('delete', 'csidriver', 'secrets-store.csi.k8s.io', '--ignore-not-found');
  gate = new AwsGate(lab.awsEndpoint);
  policy = new IamPolicyEnforcer(lab.awsEndpoint);
  gate.policy = policy;
  // On the node's address: the provider's pod reaches it there.
  await gate.start(0, nodeIp);
});

afterAll(async () => {
  if (!nodeMode) return;
  await kubectl('delete', 'pod', 'sample-app', '--ignore-not-found', '--wait=true').catch(() => undefined);
  await kubectl('delete', 'secretproviderclass', 'my-db-secret', '--ignore-not-found').catch(() => undefined);
  await kubectl(
    'delete',
    'serviceaccount',
    'sample-app-secrets-manager',
    'sample-app-parameter-store',
    '--ignore-not-found',
  ).catch(() => undefined);
  await kubectl('delete', '-f', AWS_PROVIDER_INSTALLER, '--ignore-not-found', '--wait=true').catch(
    () => undefined,
  );
  await helm('uninstall', 'secrets-store-csi-driver', '--namespace', 'kube-system', '--wait').catch(
    () => undefined,
  );
  await cleanAws();
  aws?.destroy();
  policy?.close();
  await gate?.stop();
});

describe("the article's walkthrough on a real node", () => {
  it('helm upgrade --install secrets-store-csi-driver ... --set syncSecret.enabled=true --set enableSecretRotation=true --wait', async () => {
    const out = await helm(
      'upgrade',
      '--install',
      'secrets-store-csi-driver',
      DRIVER_CHART,
      '--namespace',
      'kube-system',
      '--set',
      'syncSecret.enabled=true',
      '--set',
      'enableSecretRotation=true',
      '--wait',
      '--timeout',
      '180s',
    );
    expect(out).toMatch(/STATUS: deployed/);
    const ds = await kubectl(
      'get',
      'ds,pod',
      '-n',
      'kube-system',
      '-l',
      'app.kubernetes.io/name=secrets-store-csi-driver',
    );
    expect(ds).toMatch(
      /daemonset.apps\/secrets-store-csi-driver\s+1\s+1\s+1\s+1\s+1\s+kubernetes.io\/os=linux/,
    );
    expect(ds).toMatch(/pod\/secrets-store-csi-driver-\w+\s+3\/3\s+Running/);
    // node-driver-registrar told the kubelet about the driver.
    await eventually('the driver registered with the kubelet', async () =>
      (
        await kubectl(
          'get',
          'csinode',
          process.env.LAB_NODE_NAME ?? 'lab-node',
          '-o',
          'jsonpath={.spec.drivers[*].name}',
        )
      ).includes('secrets-store.csi.k8s.io')
        ? true
        : undefined,
    );
    expect(
      await kubectl(
        'get',
        'csinode',
        process.env.LAB_NODE_NAME ?? 'lab-node',
        '-o',
        'jsonpath={.spec.drivers[*].name}',
      ),
    ).toContain('secrets-store.csi.k8s.io');
  });

  it('kubectl apply -f aws-provider-installer.yaml, pointed at the lab AWS endpoint', async () => {
    await kubectl('apply', '-f', AWS_PROVIDER_INSTALLER);
    // The lab's only addition: its AWS endpoint instead of AWS (no internet here).
    await kubectl(
      'set',
      'env',
      '-n',
      'kube-system',
      'daemonset/csi-secrets-store-provider-aws',
      `AWS_ENDPOINT_URL=${gate.url}`,
    );
    await kubectl(
      'rollout',
      'status',
      '-n',
      'kube-system',
      'daemonset/csi-secrets-store-provider-aws',
      '--timeout=120s',
    );
    const ds = await kubectl(
      'get',
      'ds,pod',
      '-n',
      'kube-system',
      '-l',
      'app=csi-secrets-store-provider-aws',
    );
    expect(ds).toMatch(/daemonset.apps\/csi-secrets-store-provider-aws\s+1\s+1\s+1\s+1\s+1/);
    expect(ds).toMatch(/pod\/csi-secrets-store-provider-aws-\w+\s+1\/1\s+Running/);
  });

  it('kubectl exec sample-app -- cat /mnt/secrets-store/MyDBSecret', async () => {
    await aws.secretsManager.send(
      new CreateSecretCommand({ Name: 'MyDBSecret', SecretString: DB_SECRET_VALUE }),
    );
    await createRole(aws.iam, 'MySampleAppSecretsManager', [
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: [`arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:MyDBSecret-*`],
      },
    ]);
    await kubectlIn(
      serviceAccount('sample-app-secrets-manager', 'MySampleAppSecretsManager'),
      'apply',
      '-f',
      '-',
    );
    await kubectlIn(
      spcManifest('      - objectName: "MyDBSecret"\n        objectType: "secretsmanager"\n', false),
      'apply',
      '-f',
      '-',
    );
    await recreatePod(podManifest('sample-app-secrets-manager', false));
    expect(await exec('sample-app', 'cat', '/mnt/secrets-store/MyDBSecret')).toBe(DB_SECRET_VALUE);
    // In the container, the volume is a read-only tmpfs.
    expect(await exec('sample-app', 'sh', '-c', 'grep " /mnt/secrets-store " /proc/mounts')).toMatch(
      /^tmpfs \/mnt\/secrets-store tmpfs ro/,
    );
  });

  it('kubectl describe secretproviderclasspodstatus sample-app-default-my-db-secret', async () => {
    const uid = (await kubectl('get', 'pod', 'sample-app', '-o', 'jsonpath={.metadata.uid}')).trim();
    const out = await kubectl('describe', 'secretproviderclasspodstatus', 'sample-app-default-my-db-secret');
    expect(out).toMatch(/Mounted:\s+true/);
    expect(out).toMatch(/Id:\s+MyDBSecret/);
    expect(out).toMatch(/Version:\s+[0-9a-f-]{36}/);
    expect(out).toContain(
      `Target Path:                 /var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~csi/my-db-secret/mount`,
    );
    expect(out).toMatch(/internal.secrets-store.csi.k8s.io\/node-name=lab-node/);
  });

  it('the SSM files and the synced Secret mounted at /k8s-secret', async () => {
    await aws.ssm.send(
      new PutParameterCommand({ Name: '/sample-app/db/username', Value: 'mamezou-tech', Type: 'String' }),
    );
    await aws.ssm.send(
      new PutParameterCommand({
        Name: '/sample-app/db/password',
        Value: 'my-super-secret-password',
        Type: 'SecureString',
      }),
    );
    await createRole(aws.iam, 'MySampleAppParameterStore', [
      {
        Effect: 'Allow',
        Action: ['ssm:GetParameters'],
        Resource: [`arn:aws:ssm:${region}:${ACCOUNT}:parameter/sample-app/db/*`],
      },
    ]);
    await kubectlIn(
      serviceAccount('sample-app-parameter-store', 'MySampleAppParameterStore'),
      'apply',
      '-f',
      '-',
    );
    const objects =
      '      - objectName: "/sample-app/db/username"\n        objectType: "ssmparameter"\n      - objectName: "/sample-app/db/password"\n        objectType: "ssmparameter"\n';
    await kubectlIn(spcManifest(objects, true), 'apply', '-f', '-');
    await recreatePod(podManifest('sample-app-parameter-store', true));
    const listing = await exec('sample-app', 'ls', '-l', '/mnt/secrets-store/');
    expect(listing).toMatch(/_sample-app_db_password -> \.\.data\/_sample-app_db_password/);
    expect(listing).toMatch(/_sample-app_db_username -> \.\.data\/_sample-app_db_username/);
    expect(await exec('sample-app', 'cat', '/mnt/secrets-store/_sample-app_db_username')).toBe(
      'mamezou-tech',
    );
    expect(await exec('sample-app', 'cat', '/mnt/secrets-store/_sample-app_db_password')).toBe(
      'my-super-secret-password',
    );
    const described = await kubectl('describe', 'secret', 'my-db-secret');
    expect(described).toMatch(/Labels:\s+secrets-store.csi.k8s.io\/managed=true/);
    expect(described).toMatch(/password:\s+24 bytes/);
    expect(await exec('sample-app', 'cat', '/k8s-secret/username')).toBe('mamezou-tech');
    expect(await exec('sample-app', 'cat', '/k8s-secret/password')).toBe('my-super-secret-password');
  });

  it('a rotation reaches the running container, in the file and in the Secret volume', async () => {
    // A short poll interval, as an operator would set for this check (the chart's default is 2m).
    await helm(
      'upgrade',
      'secrets-store-csi-driver',
      DRIVER_CHART,
      '--namespace',
      'kube-system',
      '--reuse-values',
      '--set',
      'rotationPollInterval=10s',
      '--wait',
    );
    await aws.ssm.send(
      new PutParameterCommand({
        Name: '/sample-app/db/password',
        Value: ROTATED_PASSWORD,
        Type: 'SecureString',
        Overwrite: true,
      }),
    );
    await eventually(
      'the rotated password in the container',
      async () =>
        (await exec('sample-app', 'cat', '/mnt/secrets-store/_sample-app_db_password')) === ROTATED_PASSWORD
          ? true
          : undefined,
      180_000,
      2000,
    );
    await eventually(
      'the rotated password in the Secret volume',
      async () =>
        (await exec('sample-app', 'cat', '/k8s-secret/password')) === ROTATED_PASSWORD ? true : undefined,
      180_000,
      2000,
    );
  });

  it('deleting the pod removes its mount, its status and the synced Secret', async () => {
    const uid = (await kubectl('get', 'pod', 'sample-app', '-o', 'jsonpath={.metadata.uid}')).trim();
    await kubectl('delete', 'pod', 'sample-app', '--wait=true');
    const podMounts = () =>
      fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(`/var/lib/kubelet/pods/${uid}/`));
    await eventually(
      'the volume to be unmounted',
      () => (podMounts().length === 0 ? true : undefined),
      60_000,
    );
    await eventually(
      'the status and the Secret to go',
      async () => {
        const left = await kubectl(
          'get',
          'secretproviderclasspodstatus,secret',
          '--ignore-not-found',
          '-o',
          'name',
        );
        return /sample-app-default-my-db-secret|secret\/my-db-secret/.test(left) ? undefined : true;
      },
      90_000,
    );
  });
});
