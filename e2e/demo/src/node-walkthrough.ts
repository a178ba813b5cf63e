// The article's walkthrough on the lab's real node (make lab-up NODE=1): the charts installed with
// helm as the article does, the AWS provider from its installer, real pods scheduled on the node,
// and the article's kubectl commands verbatim (`kubectl exec sample-app -- cat ...`).
// `make demo NODE=1` prints it; e2e/tests/real-node.test.ts runs the same steps.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { Lab } from '@sscsi/e2e';
import {
  awsAdmin,
  AWS_PROVIDER_INSTALLER,
  DRIVER_CHART,
  eventually,
  kubectlStatus,
  labToolAsync,
} from '@sscsi/e2e';
import fs from 'node:fs';

import type { ArticlePolicy } from './article';
import {
  applyCommand,
  classManifest,
  createArticleOidcProvider,
  createArticleRole,
  DB_SECRET_VALUE,
  deleteArticleAws,
  LAB_ISSUER,
  MANIFESTS,
  PARAMETER_STORE_POLICY,
  PARAMETER_STORE_ROLE,
  PARAMETER_STORE_SERVICE_ACCOUNT,
  podManifest,
  ROTATED_PASSWORD,
  SECRETS_MANAGER_POLICY,
  SECRETS_MANAGER_ROLE,
  SECRETS_MANAGER_SERVICE_ACCOUNT,
  serviceAccountManifest,
  TRUST_POLICY_FILE,
  trustPolicyValues,
} from './article';
import { envsubstCommand, examplePath, readExample } from './examples';
import type { Reporter, Step } from './steps';
import { expectThat, silentReporter } from './steps';

interface NodeWalkthroughOptions {
  lab: Lab;
  /** The lab's AWS endpoint (its gate) at the node's address, where the provider's pod reaches it. */
  awsEndpointForPods: string;
  nodeName: string;
  region: string;
}

export class NodeWalkthrough {
  private awsClients?: ReturnType<typeof awsAdmin>;

  private constructor(
    private readonly o: NodeWalkthroughOptions,
    private readonly out: Reporter,
  ) {}

  /** The walkthrough on the real node. Fails, saying why, on a lab without its real node. */
  static async start(lab: Lab, out: Reporter): Promise<NodeWalkthrough> {
    const awsEndpointForPods =
      process.env.LAB_MODE === 'node' ? process.env.LAB_NODE_AWS_ENDPOINT_URL : undefined;
    if (!awsEndpointForPods) {
      throw new Error(
        'the lab runs without its real node (LAB_MODE is not "node"): the walkthrough on the node needs `make lab-up NODE=1` (make test starts it)',
      );
    }
    const nodeName = process.env.LAB_NODE_NAME ?? 'lab-node';
    const region = process.env.LAB_NODE_REGION ?? 'ap-northeast-1';
    return new NodeWalkthrough({ lab, awsEndpointForPods, nodeName, region }, out);
  }

  static titles(): string[] {
    return new NodeWalkthrough(undefined as unknown as NodeWalkthroughOptions, silentReporter).steps.map(
      (s) => s.title,
    );
  }

  private get aws(): ReturnType<typeof awsAdmin> {
    this.awsClients ??= awsAdmin(this.o.lab, this.o.region);
    return this.awsClients;
  }

  /** Removes whatever the steps left (all of it after a failed step). */
  async close(): Promise<void> {
    await this.cleanSlate().catch(() => undefined);
    this.awsClients?.destroy();
  }

  private async tool(
    tool: 'kubectl' | 'helm',
    args: string[],
    input?: string,
    shown?: string,
  ): Promise<string> {
    this.out.command(`${tool} ${shown ?? args.join(' ')}`);
    const text = await labToolAsync(this.o.lab, tool, args, input);
    if (text.trim()) this.out.output(text.trimEnd());
    return text;
  }

  private kubectl(...args: string[]): Promise<string> {
    return this.tool('kubectl', args);
  }

  /** Applies a manifest of examples/ (`file`), as filled and adapted for the lab (`manifest`). */
  private async apply(manifest: string, file: string): Promise<string> {
    this.out.note(`${examplePath(file)}, as applied:\n${manifest.trimEnd()}`);
    this.out.command(applyCommand(file));
    const text = await labToolAsync(this.o.lab, 'kubectl', ['apply', '-f', '-'], manifest);
    this.out.output(text.trimEnd());
    return text;
  }

  private quiet(...args: string[]): Promise<string> {
    return labToolAsync(this.o.lab, 'kubectl', args);
  }

  /** Replaces sample-app (a short grace period: its shell ignores SIGTERM) and waits until it runs. */
  private async recreatePod(file: string): Promise<void> {
    await this.kubectl('delete', 'pod', 'sample-app', '--ignore-not-found', '--grace-period=1');
    await this.apply(podManifest(file), file);
    await this.kubectl('wait', '--for=condition=Ready', 'pod/sample-app', '--timeout=120s');
  }

  /** examples/terraform as IAM API calls, with examples/iam's documents filled the documented way. */
  private async role(role: string, serviceAccount: string, policy: ArticlePolicy): Promise<void> {
    this.out.command(`${envsubstCommand(policy.file, policy.values)} > policy.json`);
    this.out.command(`${envsubstCommand(TRUST_POLICY_FILE, trustPolicyValues(serviceAccount))} > trust.json`);
    this.out.command(
      `aws iam create-policy --policy-name ${policy.name} --policy-document file://policy.json; aws iam create-role --role-name ${role} --assume-role-policy-document file://trust.json; aws iam attach-role-policy --role-name ${role} ...`,
    );
    await createArticleRole(this.aws, role, serviceAccount, policy);
  }

  /** Removes what the walkthrough makes, whatever of it exists: a clean start, or the end of a failed run. */
  async cleanSlate(): Promise<void> {
    await this.quiet('delete', 'pod', 'sample-app', '--ignore-not-found', '--grace-period=1', '--wait=true');
    await this.quiet('delete', 'secretproviderclass', 'my-db-secret', '--ignore-not-found');
    await this.quiet(
      'delete',
      'serviceaccount',
      SECRETS_MANAGER_SERVICE_ACCOUNT,
      PARAMETER_STORE_SERVICE_ACCOUNT,
      '--ignore-not-found',
    );
    await this.quiet('delete', 'secret', 'my-db-secret', '--ignore-not-found');
    await this.quiet('delete', '-f', AWS_PROVIDER_INSTALLER, '--ignore-not-found', '--wait=true');
    await labToolAsync(this.o.lab, 'helm', [
      'uninstall',
      'secrets-store-csi-driver',
      '--namespace',
      'kube-system',
      '--wait',
    ]).catch(() => '');
    // A CSIDriver made without Helm (by other tests) would stop Helm from installing the chart.
    await this.quiet('delete', 'csidriver', 'secrets-store.csi.k8s.io', '--ignore-not-found');
    await deleteArticleAws(this.aws);
  }

  /**
   * secrets-store-csi-lint inside a container of the charts' pods, reading `manifests` on stdin;
   * `source` is the shell command that writes them, as printed.
   */
  private async lintIn(
    workload: string,
    container: string | undefined,
    manifests: string,
    source: string,
  ): Promise<string> {
    const target = ['-n', 'kube-system', workload, ...(container ? ['-c', container] : [])];
    this.out.command(
      `${source} | kubectl exec -i ${target.join(' ')} -- secrets-store-csi-lint -; echo "exit status $?"`,
    );
    // The images have no shell: kubectl exec passes on the linter's exit status, printed as the
    // command line above prints it.
    const run = await kubectlStatus(
      this.o.lab,
      ['exec', '-i', ...target, '--', 'secrets-store-csi-lint', '-'],
      manifests,
    );
    // What the linter wrote to stderr too (not kubectl's own line about the exit status).
    const stderr = run.stderr.replace(/^command terminated with exit code \d+\n?/m, '');
    const out = `${run.stdout}${stderr}exit status ${run.status}`;
    this.out.output(out.trimEnd());
    return out.trim();
  }

  private exec(...command: string[]): Promise<string> {
    return this.kubectl('exec', 'sample-app', '--', ...command);
  }

  readonly steps: Step[] = [
    {
      title:
        'helm upgrade --install secrets-store-csi-driver --set syncSecret.enabled=true --set enableSecretRotation=true --wait',
      run: async () => {
        await this.cleanSlate();
        const args = [
          'upgrade',
          '--install',
          'secrets-store-csi-driver',
          DRIVER_CHART,
          '--namespace',
          'kube-system',
        ];
        args.push(
          '--set',
          'syncSecret.enabled=true',
          '--set',
          'enableSecretRotation=true',
          '--wait',
          '--timeout',
          '180s',
        );
        const out = await this.tool(
          'helm',
          args,
          undefined,
          `${args.join(' ').replace(DRIVER_CHART, 'charts/secrets-store-csi-driver')}`,
        );
        expectThat(/STATUS: deployed/.test(out), 'helm did not deploy the chart');
        // helm's --wait counts a one-node DaemonSet as ready before its pod is (maxUnavailable 1).
        await this.kubectl(
          'rollout',
          'status',
          '-n',
          'kube-system',
          'daemonset/secrets-store-csi-driver',
          '--timeout=120s',
        );
        const ds = await this.kubectl(
          'get',
          'ds,pod',
          '-n',
          'kube-system',
          '-l',
          'app.kubernetes.io/name=secrets-store-csi-driver',
        );
        expectThat(
          /pod\/secrets-store-csi-driver-\w+\s+3\/3\s+Running/.test(ds),
          'the driver pod is not 3/3 Running',
        );
        // The image carries koffi's prebuilt module: the driver mounts with the system call. The
        // container may be Running before its first line is written: wait for its start line.
        const log = await eventually('the driver container logged its start', async () => {
          const text = await this.quiet(
            'logs',
            '-n',
            'kube-system',
            'daemonset/secrets-store-csi-driver',
            '-c',
            'secrets-store',
          ).catch(() => '');
          return text.includes('secrets-store-csi-driver started') ? text : undefined;
        });
        expectThat(
          log.includes('mounting with the mount(2) system call'),
          'the driver does not mount with the system call',
        );
        await eventually('the driver registered with the kubelet', async () =>
          (
            await this.quiet('get', 'csinode', this.o.nodeName, '-o', 'jsonpath={.spec.drivers[*].name}')
          ).includes('secrets-store.csi.k8s.io')
            ? true
            : undefined,
        );
        // The image carries the linter: the article's manifests checked where the driver runs.
        const { secretProviderClass, pod } = MANIFESTS.secretsManager;
        const lint = await this.lintIn(
          'daemonset/secrets-store-csi-driver',
          'secrets-store',
          [readExample(secretProviderClass), readExample(pod)].join('---\n'),
          `(cat ${examplePath(secretProviderClass)}; echo ---; cat ${examplePath(pod)})`,
        );
        expectThat(lint === 'exit status 0', `the linter in the driver's image says: ${lint}`);
      },
    },
    {
      title: 'kubectl apply -f aws-provider-installer.yaml (pointed at the lab AWS endpoint)',
      run: async () => {
        await this.tool(
          'kubectl',
          ['apply', '-f', AWS_PROVIDER_INSTALLER],
          undefined,
          'apply -f deploy/aws-provider-installer.yaml',
        );
        this.out.note(
          "the lab's one addition: its AWS endpoint (there is no internet here); the node's region label names ap-northeast-1",
        );
        await this.kubectl(
          'set',
          'env',
          '-n',
          'kube-system',
          'daemonset/csi-secrets-store-provider-aws',
          `AWS_ENDPOINT_URL=${this.o.awsEndpointForPods}`,
        );
        await this.kubectl(
          'rollout',
          'status',
          '-n',
          'kube-system',
          'daemonset/csi-secrets-store-provider-aws',
          '--timeout=120s',
        );
        const ds = await this.kubectl(
          'get',
          'ds,pod',
          '-n',
          'kube-system',
          '-l',
          'app=csi-secrets-store-provider-aws',
        );
        expectThat(
          /pod\/csi-secrets-store-provider-aws-\w+\s+1\/1\s+Running/.test(ds),
          'the provider pod is not 1/1 Running',
        );
        // The provider's image carries the linter too; a class with a typo is refused there.
        const file = MANIFESTS.secretsManager.secretProviderClass;
        const broken = readExample(file).replace('"secretsmanager"', '"secretmanager"');
        const lint = await this.lintIn(
          'daemonset/csi-secrets-store-provider-aws',
          undefined,
          broken,
          `sed 's/"secretsmanager"/"secretmanager"/' ${examplePath(file)}`,
        );
        expectThat(
          lint ===
            '<stdin>:1: spec.parameters: object "MyDBSecret": objectType must be "secretsmanager" or "ssmparameter", got "secretmanager"\nexit status 1',
          `the linter in the provider's image says: ${lint}`,
        );
      },
    },
    {
      title: 'Secrets Manager: kubectl exec sample-app -- cat /mnt/secrets-store/MyDBSecret',
      run: async () => {
        this.out.command(
          `aws secretsmanager create-secret --name MyDBSecret --secret-string '${DB_SECRET_VALUE}'`,
        );
        await this.aws.secretsManager.send(
          new CreateSecretCommand({ Name: 'MyDBSecret', SecretString: DB_SECRET_VALUE }),
        );
        this.out.command(
          `aws iam create-open-id-connect-provider --url ${LAB_ISSUER} --client-id-list sts.amazonaws.com`,
        );
        await createArticleOidcProvider(this.aws);
        await this.role(SECRETS_MANAGER_ROLE, SECRETS_MANAGER_SERVICE_ACCOUNT, SECRETS_MANAGER_POLICY);
        const { serviceAccount, secretProviderClass, pod } = MANIFESTS.secretsManager;
        await this.apply(serviceAccountManifest(serviceAccount), serviceAccount);
        await this.apply(classManifest(secretProviderClass), secretProviderClass);
        await this.recreatePod(pod);
        expectThat(
          (await this.exec('cat', '/mnt/secrets-store/MyDBSecret')) === DB_SECRET_VALUE,
          'the file does not hold the secret',
        );
        const mount = await this.exec('sh', '-c', 'grep " /mnt/secrets-store " /proc/mounts');
        expectThat(/^tmpfs \/mnt\/secrets-store tmpfs ro/.test(mount), 'the volume is not a read-only tmpfs');
      },
    },
    {
      title: 'kubectl describe secretproviderclasspodstatus sample-app-default-my-db-secret',
      run: async () => {
        const out = await this.kubectl(
          'describe',
          'secretproviderclasspodstatus',
          'sample-app-default-my-db-secret',
        );
        expectThat(/Mounted:\s+true/.test(out), 'not Mounted: true');
        expectThat(
          /Id:\s+MyDBSecret/.test(out) && /Version:\s+[0-9a-f-]{36}/.test(out),
          'no MyDBSecret object with its version',
        );
        expectThat(
          /Target Path:\s+\/var\/lib\/kubelet\/pods\/[0-9a-f-]+\/volumes\/kubernetes.io~csi\/my-db-secret\/mount/.test(
            out,
          ),
          'unexpected target path',
        );
        expectThat(
          out.includes(`internal.secrets-store.csi.k8s.io/node-name=${this.o.nodeName}`),
          'not labelled with the node',
        );
      },
    },
    {
      title: 'Parameter Store, secretObjects, and the synced Secret mounted at /k8s-secret',
      run: async () => {
        this.out.command(
          'aws ssm put-parameter --name "/sample-app/db/username" --value "mamezou-tech" --type String',
        );
        await this.aws.ssm.send(
          new PutParameterCommand({ Name: '/sample-app/db/username', Value: 'mamezou-tech', Type: 'String' }),
        );
        this.out.command(
          'aws ssm put-parameter --name "/sample-app/db/password" --value "my-super-secret-password" --type SecureString',
        );
        await this.aws.ssm.send(
          new PutParameterCommand({
            Name: '/sample-app/db/password',
            Value: 'my-super-secret-password',
            Type: 'SecureString',
          }),
        );
        await this.role(PARAMETER_STORE_ROLE, PARAMETER_STORE_SERVICE_ACCOUNT, PARAMETER_STORE_POLICY);
        const serviceAccount = MANIFESTS.parameterStore.serviceAccount;
        await this.apply(serviceAccountManifest(serviceAccount), serviceAccount);
        const { secretProviderClass, pod } = MANIFESTS.syncSecret;
        await this.apply(classManifest(secretProviderClass), secretProviderClass);
        await this.recreatePod(pod);
        const listing = await this.exec('ls', '-l', '/mnt/secrets-store/');
        expectThat(
          /_sample-app_db_password -> \.\.data\/_sample-app_db_password/.test(listing),
          'no _sample-app_db_password',
        );
        expectThat(
          (await this.exec('cat', '/mnt/secrets-store/_sample-app_db_username')) === 'mamezou-tech',
          'wrong username file',
        );
        expectThat(
          (await this.exec('cat', '/mnt/secrets-store/_sample-app_db_password')) ===
            'my-super-secret-password',
          'wrong password file',
        );
        const described = await this.kubectl('describe', 'secret', 'my-db-secret');
        expectThat(/Labels:\s+secrets-store.csi.k8s.io\/managed=true/.test(described), 'no managed label');
        expectThat(
          /password:\s+24 bytes/.test(described) && /username:\s+12 bytes/.test(described),
          'Secret keys missing',
        );
        expectThat(
          (await this.exec('cat', '/k8s-secret/username')) === 'mamezou-tech',
          'wrong /k8s-secret/username',
        );
        expectThat(
          (await this.exec('cat', '/k8s-secret/password')) === 'my-super-secret-password',
          'wrong /k8s-secret/password',
        );
      },
    },
    {
      title: 'Rotation reaches the running container, in the CSI volume and in the Secret volume',
      run: async () => {
        this.out.note("a short poll interval for the demonstration (the chart's default is 2m):");
        const args = [
          'upgrade',
          'secrets-store-csi-driver',
          DRIVER_CHART,
          '--namespace',
          'kube-system',
          '--reuse-values',
        ];
        args.push('--set', 'rotationPollInterval=10s', '--wait');
        await this.tool(
          'helm',
          args,
          undefined,
          args.join(' ').replace(DRIVER_CHART, 'charts/secrets-store-csi-driver'),
        );
        this.out.command(
          `aws ssm put-parameter --name "/sample-app/db/password" --value "${ROTATED_PASSWORD}" --type SecureString --overwrite`,
        );
        await this.aws.ssm.send(
          new PutParameterCommand({
            Name: '/sample-app/db/password',
            Value: ROTATED_PASSWORD,
            Type: 'SecureString',
            Overwrite: true,
          }),
        );
        const started = Date.now();
        const read = (file: string) =>
          labToolAsync(this.o.lab, 'kubectl', ['exec', 'sample-app', '--', 'cat', file]);
        await eventually(
          'the rotated password in the container',
          async () =>
            (await read('/mnt/secrets-store/_sample-app_db_password')) === ROTATED_PASSWORD &&
            (await read('/k8s-secret/password')) === ROTATED_PASSWORD
              ? true
              : undefined,
          240_000,
          2000,
        );
        this.out.note(`rotated in ${((Date.now() - started) / 1000).toFixed(0)} s`);
        await this.exec('cat', '/mnt/secrets-store/_sample-app_db_password');
        await this.exec('cat', '/k8s-secret/password');
      },
    },
    {
      title: 'kubectl delete pod sample-app: its mount, its status and the synced Secret go with it',
      run: async () => {
        const uid = (await this.quiet('get', 'pod', 'sample-app', '-o', 'jsonpath={.metadata.uid}')).trim();
        this.out.note(
          "busybox's sh ignores SIGTERM, so this waits out the pod's 30 s grace period, as in the article",
        );
        await this.kubectl('delete', 'pod', 'sample-app');
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
          'the garbage collector to delete the status and the Secret',
          async () => {
            const left = await this.quiet(
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
        await this.kubectl('get', 'secret', 'my-db-secret', '--ignore-not-found');
      },
    },
    {
      title: 'Clean up: kubectl delete -f, helm uninstall; nothing is left',
      run: async () => {
        await this.kubectl('delete', 'secretproviderclass', 'my-db-secret');
        await this.kubectl(
          'delete',
          'serviceaccount',
          SECRETS_MANAGER_SERVICE_ACCOUNT,
          PARAMETER_STORE_SERVICE_ACCOUNT,
        );
        await this.tool(
          'kubectl',
          ['delete', '-f', AWS_PROVIDER_INSTALLER, '--wait=true'],
          undefined,
          'delete -f deploy/aws-provider-installer.yaml',
        );
        await this.tool('helm', [
          'uninstall',
          'secrets-store-csi-driver',
          '--namespace',
          'kube-system',
          '--wait',
        ]);
        this.out.command(
          'aws secretsmanager delete-secret ...; aws ssm delete-parameter ...; aws iam delete-role ...',
        );
        await deleteArticleAws(this.aws);
        // The kubelet tears down the deleted pods' volumes (the charts' token volumes too) a moment
        // after the pods are gone.
        const podVolumes = () =>
          fs
            .readFileSync('/proc/self/mountinfo', 'utf8')
            .split('\n')
            .filter((l) => l.includes('/var/lib/kubelet/pods/'));
        const left = await eventually(
          'the kubelet to unmount every pod volume',
          () => (podVolumes().length === 0 ? podVolumes() : undefined),
          60_000,
        ).catch(() => podVolumes());
        this.out.output(`pod volumes left on the node: ${left.length}`);
        expectThat(
          left.length === 0,
          `pod volumes left on the node: ${left.map((l) => l.split(' ')[4]).join(', ')}`,
        );
      },
    },
  ];
}
