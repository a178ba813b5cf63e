// Files for non-root readers on the real kubelet (issue 24 item 4): what README "Files for non-root
// readers (fsGroup, fileGroup)" claims, checked where the kubelet is the real one rather than the
// stand-in of file-ownership.test.ts. The charts installed with helm on the lab's node (make lab-up
// NODE=1; make test starts it), real pods that run as uid 1000 with runAsNonRoot, and `kubectl exec`
// reading their files, in both write modes: the driver writes the files (the provider's
// --driver-writes-secrets=true, our default) and the provider writes them (false, upstream's
// default). Without the real node these tests fail and say why; they never pass by skipping.
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { DeleteRoleCommand, DeleteRolePolicyCommand } from '@aws-sdk/client-iam';

import type { SecretsPodOptions } from '../src';
import {
  adminClient,
  AWS_PROVIDER_INSTALLER,
  awsAdmin,
  createNamespace,
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  DRIVER_CHART,
  DRIVER_RELEASE,
  eventually,
  execInPod,
  irsaTrustPolicy,
  labTool,
  mustRun,
  PROVIDER_CHART,
  PROVIDER_RELEASE,
  requireLab,
  requireRealNode,
  SECRETS_MOUNT,
  startSecretsPod,
  SYSTEM_NAMESPACE,
  uniqueSuffix,
} from '../src';
import { ContainerLogKeeper } from '../src/container-logs';

const lab = requireLab();
const kube = adminClient(lab);
const containerLogs = new ContainerLogKeeper();

const suffix = uniqueSuffix();
const APP = `ownership-node-${suffix}`;
const SECRET = `ownership-node-${suffix}`;
const ROLE = `ownership-node-${suffix}`;
const FILE = 'db-password';
const USER = 1000;
const FS_GROUP = 2000;
const CLASS_GROUP = 3000;
/** The values stored in AWS; the log audit (log-audit.test.ts) looks for them. */
const FIRST_VALUE = 'ownership-node-first';
const ROTATED = { driver: 'ownership-node-rotated-driver', provider: 'ownership-node-rotated-provider' };
/** The provider chart's DaemonSet label, upstream's. */
const PROVIDER_LABEL = 'app=secrets-store-csi-driver-provider-aws';

let node: ReturnType<typeof requireRealNode>;
let aws: ReturnType<typeof awsAdmin> | undefined;
let currentValue = FIRST_VALUE;

/** Every container of these pods runs as uid 1000, never as root. */
const NON_ROOT = { runAsNonRoot: true, runAsUser: USER, runAsGroup: USER };

/** Files 0440: only root and the owning group may read them. */
const objects = `- {objectName: ${SECRET}, objectType: secretsmanager, objectAlias: ${FILE}}`;

async function removeEverything(): Promise<void> {
  labTool(lab, 'kubectl', ['delete', 'namespace', APP, '--ignore-not-found', '--wait=true', '--timeout=90s']);
  for (const release of [PROVIDER_RELEASE, DRIVER_RELEASE])
    labTool(lab, 'helm', ['uninstall', release, '-n', SYSTEM_NAMESPACE, '--wait', '--timeout', '90s']);
  const quiet = (p: Promise<unknown> | undefined) => p?.catch(() => undefined);
  await quiet(aws?.iam.send(new DeleteRolePolicyCommand({ RoleName: ROLE, PolicyName: 'read' })));
  await quiet(aws?.iam.send(new DeleteRoleCommand({ RoleName: ROLE })));
  await quiet(
    aws?.secretsManager.send(new DeleteSecretCommand({ SecretId: SECRET, ForceDeleteWithoutRecovery: true })),
  );
}

beforeAll(async () => {
  node = requireRealNode('file ownership on the real kubelet');
  containerLogs.start();
  aws = awsAdmin(lab, node.region);
  // What other files may have left: the installer's provider (helm would refuse its objects) and a
  // CSIDriver made without helm.
  labTool(lab, 'kubectl', ['delete', '-f', AWS_PROVIDER_INSTALLER, '--ignore-not-found']);
  if (labTool(lab, 'helm', ['status', DRIVER_RELEASE, '-n', SYSTEM_NAMESPACE]).status !== 0)
    labTool(lab, 'kubectl', ['delete', 'csidriver', 'secrets-store.csi.k8s.io', '--ignore-not-found']);

  // The driver as the article installs it, with rotation every 5 s.
  mustRun(lab, 'helm', [
    'upgrade',
    '--install',
    DRIVER_RELEASE,
    DRIVER_CHART,
    '-n',
    SYSTEM_NAMESPACE,
    '--set',
    'enableSecretRotation=true',
    '--set',
    'rotationPollInterval=5s',
    '--wait',
    '--timeout',
    '180s',
  ]);
  mustRun(lab, 'kubectl', [
    'rollout',
    'status',
    '-n',
    SYSTEM_NAMESPACE,
    'daemonset/secrets-store-csi-driver',
    '--timeout=120s',
  ]);

  await aws.secretsManager.send(new CreateSecretCommand({ Name: SECRET, SecretString: FIRST_VALUE }));
  const roleArn = await createRole(
    aws.iam,
    ROLE,
    [
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: '*',
      },
    ],
    irsaTrustPolicy(lab.serviceAccountIssuer, `system:serviceaccount:${APP}:app`),
  );
  await createNamespace(kube, APP);
  await createServiceAccount(kube, APP, 'app', roleArn);
  for (const [name, extra] of [
    ['restricted', {}],
    ['class-group', { fileGroup: String(CLASS_GROUP) }],
  ] as const)
    await createSecretProviderClass(kube, APP, name, {
      provider: 'aws',
      parameters: { region: node.region, objects, defaultFilePermission: '0440', ...extra },
    });
}, 420_000);

afterAll(async () => {
  await removeEverything();
  aws?.destroy();
  kube.close();
  containerLogs.stop();
}, 300_000);

/** Our AWS provider's chart in one write mode, pointed at the lab's AWS; waits for its new pod. */
function installProvider(driverWritesSecrets: boolean): void {
  mustRun(lab, 'helm', [
    'upgrade',
    '--install',
    PROVIDER_RELEASE,
    PROVIDER_CHART,
    '-n',
    SYSTEM_NAMESPACE,
    '--set',
    `driverWritesSecrets=${driverWritesSecrets}`,
    '--set-json',
    `env=${JSON.stringify([{ name: 'AWS_ENDPOINT_URL', value: node.awsEndpoint }])}`,
    '--wait',
    '--timeout',
    '180s',
  ]);
  const ds = mustRun(lab, 'kubectl', [
    'get',
    'ds',
    '-n',
    SYSTEM_NAMESPACE,
    '-l',
    PROVIDER_LABEL,
    '-o',
    'name',
  ]);
  mustRun(lab, 'kubectl', ['rollout', 'status', '-n', SYSTEM_NAMESPACE, ds.trim(), '--timeout=120s']);
}

async function pod(name: string, secretProviderClass: string, securityContext: object): Promise<string> {
  const o: SecretsPodOptions = {
    name,
    namespace: APP,
    serviceAccountName: 'app',
    secretProviderClass,
    securityContext: { ...NON_ROOT, ...securityContext },
  };
  await startSecretsPod(lab, o);
  return name;
}

const exec = (p: string, ...command: string[]) => execInPod(lab, APP, p, command);
const read = (p: string) => exec(p, 'cat', `${SECRETS_MOUNT}/${FILE}`);
/** uid:gid and mode of the file (through the driver's symlink, if any) and of the volume's root. */
async function ownership(p: string): Promise<{ root: string; file: string }> {
  const root = await exec(p, 'stat', '-c', '%u:%g %a', SECRETS_MOUNT);
  const file = await exec(p, 'stat', '-L', '-c', '%u:%g %a', `${SECRETS_MOUNT}/${FILE}`);
  return { root: root.out.trim(), file: file.out.trim() };
}
/** `ls -lnL` of the file, as a user would look: mode, links, uid, gid. */
async function listing(p: string): Promise<string> {
  return (await exec(p, 'ls', '-lnL', `${SECRETS_MOUNT}/${FILE}`)).out.trim();
}

describe.each([
  ['the driver writes the files (--driver-writes-secrets=true)', 'driver', true],
  ['the provider writes the files (--driver-writes-secrets=false)', 'provider', false],
] as const)('%s', (_title, mode, driverWritesSecrets) => {
  beforeAll(() => installProvider(driverWritesSecrets), 300_000);
  afterAll(() => {
    labTool(lab, 'kubectl', ['delete', 'pods', '--all', '-n', APP, '--wait=true', '--timeout=60s']);
  }, 120_000);

  it('a uid-1000 pod without fsGroup or fileGroup gets root:root files it cannot read', async () => {
    const p = await pod(`${mode}-no-group`, 'restricted', {});
    expect((await ownership(p)).file).toBe('0:0 440');
    expect(await listing(p)).toMatch(/^-r--r-----\s+\d+\s+0\s+0\s/);
    const r = await read(p);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/Permission denied/);
  }, 180_000);

  it("with fsGroup 2000 the tmpfs and the files belong to group 2000, which the container's process has: it reads them", async () => {
    const p = await pod(`${mode}-fs-group`, 'restricted', { fsGroup: FS_GROUP });
    expect((await exec(p, 'id', '-G')).out.trim().split(' ')).toContain(String(FS_GROUP));
    expect(await ownership(p)).toEqual({ root: `0:${FS_GROUP} 2755`, file: `0:${FS_GROUP} 440` });
    expect(await listing(p)).toMatch(new RegExp(`^-r--r-----\\s+\\d+\\s+0\\s+${FS_GROUP}\\s`));
    expect(await read(p)).toEqual({ status: 0, out: currentValue });
  }, 180_000);

  it("a class's fileGroup serves a pod without fsGroup whose container has that group; it wins over a pod's fsGroup", async () => {
    const member = await pod(`${mode}-class-group`, 'class-group', { supplementalGroups: [CLASS_GROUP] });
    expect((await ownership(member)).file).toBe(`0:${CLASS_GROUP} 440`);
    expect(await read(member)).toEqual({ status: 0, out: currentValue });
    // fsGroup 2000 but not group 3000: the class's group owns the files, this pod cannot read them.
    const other = await pod(`${mode}-class-group-other`, 'class-group', { fsGroup: FS_GROUP });
    expect((await ownership(other)).file).toBe(`0:${CLASS_GROUP} 440`);
    expect((await read(other)).out).toMatch(/Permission denied/);
  }, 240_000);

  it('rotation rewrites the files in the running container and keeps their group and mode', async () => {
    const p = `${mode}-fs-group`;
    currentValue = ROTATED[mode];
    await aws?.secretsManager.send(
      new PutSecretValueCommand({ SecretId: SECRET, SecretString: currentValue }),
    );
    await eventually(
      'the rotated value in the container',
      async () => ((await read(p)).out === currentValue ? true : undefined),
      120_000,
      1_000,
    );
    expect(await ownership(p)).toEqual({ root: `0:${FS_GROUP} 2755`, file: `0:${FS_GROUP} 440` });
    expect(await read(p)).toEqual({ status: 0, out: currentValue });
  }, 180_000);
});
