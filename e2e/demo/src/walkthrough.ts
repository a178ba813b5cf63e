// The article's walkthrough, step by step, against the demo system: the same commands and manifests
// (the AWS CLI's work done with the AWS SDK, since there is no CLI here), each step checking that
// it shows what the article shows. `make demo` prints it; the end-to-end suite runs the same steps.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { KubeClient, Secret, SecretProviderClassPodStatus } from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';
import type { DemoSystem, SyncControllerSystem } from '@sscsi/e2e';
import {
  awsAdmin,
  conditionsOf,
  DEMO_REGION,
  eventually,
  getSecretSync,
  kubectlAsync,
  mounts,
  REPO_ROOT,
  startSyncControllerSystem,
  SYNC_CONTROLLER_AWS_EXAMPLE,
  SYNC_CONTROLLER_CHART,
  SYNC_CONTROLLER_NAMESPACE,
  SYNC_CONTROLLER_RELEASE,
  waitForSync,
} from '@sscsi/e2e';
import fs from 'node:fs';
import path from 'node:path';

import type { ArticlePolicy } from './article';
import {
  ACCOUNT,
  applyCommand,
  articleTrustPolicy,
  classManifest,
  createArticleOidcProvider,
  createArticleRole,
  DB_SECRET_VALUE,
  deleteArticleAws,
  LAB_ISSUER,
  MANIFESTS,
  OPTIONAL_OBJECTS,
  PARAMETER_STORE_POLICY,
  PARAMETER_STORE_ROLE,
  PARAMETER_STORE_SERVICE_ACCOUNT,
  putPasswordParameter,
  podManifest,
  ROTATED_PASSWORD,
  SECRETS_MANAGER_POLICY,
  SECRETS_MANAGER_ROLE,
  SECRETS_MANAGER_SERVICE_ACCOUNT,
  serviceAccountManifest,
  TEMPLATED_FILES_CLASS,
  TEMPLATED_FILES_POD,
  TRUST_POLICY_FILE,
  trustPolicyValues,
} from './article';
import { envsubstCommand, examplePath } from './examples';
import {
  articleSecretSyncs,
  deniedSecretSync,
  RESTARTED_DEPLOYMENT,
  restartedDeployment,
  SECRET_SYNC_NAMES,
  secretSyncClasses,
} from './secret-syncs';
import type { Reporter, Step } from './steps';
import { expectThat, silentReporter } from './steps';

/** The sync controller chart's rotationPollInterval in the walkthrough: a rotation shows within seconds. */
const SYNC_POLL_SECONDS = 5;

export class Walkthrough {
  private awsClients?: ReturnType<typeof awsAdmin>;
  private readonly ns = 'default';
  /** The sync controller and its AWS sidecar, beyond the article. */
  private syncSystem?: SyncControllerSystem;

  constructor(
    private readonly sys: DemoSystem,
    private readonly out: Reporter,
  ) {}

  /** The step titles, without a system to run them on (to name the tests). */
  static titles(): string[] {
    return new Walkthrough(undefined as unknown as DemoSystem, silentReporter).steps.map((s) => s.title);
  }

  private get aws(): ReturnType<typeof awsAdmin> {
    this.awsClients ??= awsAdmin(this.sys.lab, DEMO_REGION);
    return this.awsClients;
  }

  private get kube(): KubeClient {
    return this.sys.kube;
  }

  /** Stops what the walkthrough started that may still run (the sync controller), and its AWS clients. */
  async close(): Promise<void> {
    await this.syncSystem?.close();
    this.syncSystem = undefined;
    this.awsClients?.destroy();
  }

  private async kubectl(args: string[], input?: string): Promise<string> {
    this.out.command(`kubectl ${args.join(' ')}`);
    const text = await kubectlAsync(this.sys.lab, args, input);
    this.out.output(text.trimEnd());
    return text;
  }

  /** Applies a manifest of examples/ (`file`), as filled and adapted for the lab (`manifest`). */
  private async apply(manifest: string, file: string): Promise<string> {
    this.out.note(`${examplePath(file)}, as applied:\n${manifest.trimEnd()}`);
    this.out.command(applyCommand(file));
    const text = await kubectlAsync(this.sys.lab, ['apply', '-f', '-'], manifest);
    this.out.output(text.trimEnd());
    return text;
  }

  private get targetPath(): string {
    const status = this.lastStatus;
    return status?.status?.targetPath ?? '';
  }

  private lastStatus?: SecretProviderClassPodStatus;

  private async getOrUndefined<T>(p: string): Promise<T | undefined> {
    try {
      return await this.kube.get<T>(p);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async waitMounted(): Promise<SecretProviderClassPodStatus> {
    const status = await this.mountedStatus('sample-app', 'my-db-secret');
    this.lastStatus = status;
    return status;
  }

  /** The status of the pod's mount of the class, once the driver says it is mounted. */
  private async mountedStatus(podName: string, spc: string): Promise<SecretProviderClassPodStatus> {
    const name = `${podName}-${this.ns}-${spc}`;
    const pod = await this.kube.get<{ metadata: { uid: string } }>(
      resourcePath(Resources.pods, this.ns, podName),
    );
    const status = await eventually(
      `SecretProviderClassPodStatus ${name} mounted for the new pod`,
      async () => {
        const s = await this.getOrUndefined<SecretProviderClassPodStatus>(
          resourcePath(Resources.secretProviderClassPodStatuses, this.ns, name),
        );
        return s?.status?.mounted && s.metadata.ownerReferences?.[0]?.uid === pod.metadata.uid
          ? s
          : undefined;
      },
      60_000,
    );
    return status;
  }

  private async recreatePod(file: string): Promise<void> {
    await this.kubectl(['delete', 'pod', 'sample-app', '--ignore-not-found', '--wait=true']);
    await this.apply(podManifest(file, this.sys.nodeName), file);
    await this.waitMounted();
  }

  /**
   * examples/terraform as IAM API calls (the AWS CLI's commands, as examples/README.md gives them),
   * with examples/iam's documents filled the documented way.
   */
  private async createRole(role: string, serviceAccount: string, policy: ArticlePolicy): Promise<void> {
    this.out.command(`${envsubstCommand(policy.file, policy.values)} > policy.json`);
    this.out.output(policy.json.trimEnd());
    this.out.command(
      `aws iam create-policy --policy-name ${policy.name} --policy-document file://policy.json`,
    );
    this.out.command(`${envsubstCommand(TRUST_POLICY_FILE, trustPolicyValues(serviceAccount))} > trust.json`);
    this.out.output(articleTrustPolicy(serviceAccount).trimEnd());
    this.out.command(
      `aws iam create-role --role-name ${role} --assume-role-policy-document file://trust.json`,
    );
    this.out.command(
      `aws iam attach-role-policy --role-name ${role} --policy-arn arn:aws:iam::${ACCOUNT}:policy/${policy.name}`,
    );
    await createArticleRole(this.aws, role, serviceAccount, policy);
  }

  /** Shows `kubectl get events` for `selector` once a line of it includes `needle`. */
  private async showEventsOnce(
    what: string,
    selector: string,
    columns: string,
    needle: string,
  ): Promise<void> {
    this.out.command(`kubectl get events --field-selector ${selector} -o ${columns}`);
    const events = await eventually(
      what,
      async () => {
        const out = await kubectlAsync(this.sys.lab, [
          'get',
          'events',
          '--field-selector',
          selector,
          '-o',
          columns,
        ]);
        return out.includes(needle) ? out : undefined;
      },
      30_000,
    );
    this.out.output(events.trimEnd());
  }

  private readMounted(name: string): string {
    return fs.readFileSync(path.join(this.targetPath, name), 'utf8');
  }

  private async secret(): Promise<Secret | undefined> {
    return this.getOrUndefined<Secret>(resourcePath(Resources.secrets, this.ns, 'my-db-secret'));
  }

  /** Removes what an interrupted earlier run may have left, so the walkthrough starts clean. */
  private async cleanSlate(): Promise<void> {
    await kubectlAsync(this.sys.lab, ['delete', 'pod', 'sample-app', '--ignore-not-found', '--wait=true']);
    await kubectlAsync(this.sys.lab, ['delete', 'secretproviderclass', 'my-db-secret', '--ignore-not-found']);
    await kubectlAsync(this.sys.lab, [
      'delete',
      'pod',
      TEMPLATED_FILES_POD,
      '--ignore-not-found',
      '--wait=true',
    ]);
    await kubectlAsync(this.sys.lab, [
      'delete',
      'secretproviderclass',
      TEMPLATED_FILES_CLASS,
      '--ignore-not-found',
    ]);
    await kubectlAsync(this.sys.lab, [
      'delete',
      'serviceaccount',
      SECRETS_MANAGER_SERVICE_ACCOUNT,
      PARAMETER_STORE_SERVICE_ACCOUNT,
      '--ignore-not-found',
    ]);
    await kubectlAsync(this.sys.lab, ['delete', 'secret', 'my-db-secret', '--ignore-not-found']);
    await this.deleteSecretSyncs();
    await kubectlAsync(this.sys.lab, [
      'delete',
      'namespace',
      SYNC_CONTROLLER_NAMESPACE,
      '--ignore-not-found',
      '--wait=true',
    ]);
    await deleteArticleAws(this.aws);
  }

  /** The SecretSyncs and classes beyond the article, whatever of them exists (their Secrets go with them). */
  private async deleteSecretSyncs(): Promise<void> {
    const { secretsManager, parameterStore, denied } = SECRET_SYNC_NAMES;
    const names = [secretsManager, parameterStore, denied];
    await kubectlAsync(this.sys.lab, ['delete', 'secretsync', ...names, '--ignore-not-found']).catch(
      // No SecretSync CRD yet: nothing to delete.
      (err: Error) => {
        if (!/the server doesn't have a resource type/.test(err.message)) throw err;
      },
    );
    await kubectlAsync(this.sys.lab, [
      'delete',
      'secretproviderclass',
      secretsManager,
      parameterStore,
      '--ignore-not-found',
    ]);
  }

  private get syncController(): SyncControllerSystem {
    if (!this.syncSystem) throw new Error('the sync controller is not running: its step did not run');
    return this.syncSystem;
  }

  /** The conditions of a SecretSync, one line each, as kubectl prints them with a jsonpath. */
  private async showConditions(name: string): Promise<void> {
    const jsonpath =
      '{range .status.conditions[*]}{.type}{"\\t"}{.status}{"\\t"}{.reason}{"\\t"}{.message}{"\\n"}{end}';
    this.out.command(`kubectl get secretsync ${name} -o jsonpath='${jsonpath}'`);
    this.out.output(
      (await kubectlAsync(this.sys.lab, ['get', 'secretsync', name, '-o', `jsonpath=${jsonpath}`])).trimEnd(),
    );
  }

  private async secretNamed(name: string): Promise<Secret | undefined> {
    return this.getOrUndefined<Secret>(resourcePath(Resources.secrets, this.ns, name));
  }

  readonly steps: Step[] = [
    {
      title: 'The driver and the AWS provider run with the flags their charts give them',
      run: async () => {
        await this.cleanSlate();
        this.out.note(`secrets-store-csi-driver ${this.sys.driverArgs.join(' ')}`);
        this.out.note(`secrets-store-csi-driver-provider-aws ${this.sys.providerArgs.join(' ')}`);
        await this.kubectl(['get', 'csidriver', 'secrets-store.csi.k8s.io']);
        expectThat(
          this.sys.driverArgs.includes('--enable-secret-rotation=true'),
          'the driver runs without rotation',
        );
      },
    },
    {
      title: 'Create the Secrets Manager secret MyDBSecret',
      run: async () => {
        this.out.command(
          `aws secretsmanager create-secret --name MyDBSecret --secret-string '${DB_SECRET_VALUE}'`,
        );
        const created = await this.aws.secretsManager.send(
          new CreateSecretCommand({ Name: 'MyDBSecret', SecretString: DB_SECRET_VALUE }),
        );
        this.out.output(
          JSON.stringify({ ARN: created.ARN, Name: created.Name, VersionId: created.VersionId }, null, 2),
        );
        expectThat(
          created.ARN?.startsWith(`arn:aws:secretsmanager:${DEMO_REGION}:${ACCOUNT}:secret:MyDBSecret-`) ===
            true,
          'unexpected ARN',
        );
      },
    },
    {
      title: 'An IAM role allowed to read only MyDBSecret, and the ServiceAccount that uses it (IRSA)',
      run: async () => {
        this.out.note(
          "the cluster's service-account issuer as an IAM OIDC provider (eksctl utils associate-iam-oidc-provider):",
        );
        this.out.command(
          `aws iam create-open-id-connect-provider --url ${LAB_ISSUER} --client-id-list sts.amazonaws.com`,
        );
        this.out.output(await createArticleOidcProvider(this.aws));
        await this.createRole(SECRETS_MANAGER_ROLE, SECRETS_MANAGER_SERVICE_ACCOUNT, SECRETS_MANAGER_POLICY);
        const file = MANIFESTS.secretsManager.serviceAccount;
        const out = await this.apply(serviceAccountManifest(file), file);
        expectThat(
          /serviceaccount\/sample-app-secrets-manager (created|configured)/.test(out),
          'the ServiceAccount was not created',
        );
      },
    },
    {
      title: 'SecretProviderClass my-db-secret and the pod sample-app',
      run: async () => {
        const spcFile = MANIFESTS.secretsManager.secretProviderClass;
        const spc = await this.apply(classManifest(spcFile), spcFile);
        expectThat(
          /secretproviderclass.secrets-store.csi.x-k8s.io\/my-db-secret (created|configured)/.test(spc),
          'no SecretProviderClass',
        );
        const podFile = MANIFESTS.secretsManager.pod;
        await this.apply(podManifest(podFile, this.sys.nodeName), podFile);
        await this.waitMounted();
      },
    },
    {
      title: 'kubectl describe secretproviderclasspodstatus sample-app-default-my-db-secret',
      run: async () => {
        const out = await this.kubectl([
          'describe',
          'secretproviderclasspodstatus',
          'sample-app-default-my-db-secret',
        ]);
        expectThat(/Mounted:\s+true/.test(out), 'the status does not say Mounted: true');
        expectThat(
          /Id:\s+MyDBSecret/.test(out) && /Version:\s+[0-9a-f-]{36}/.test(out),
          'the status lacks the object MyDBSecret and its version',
        );
        expectThat(
          /Pod Name:\s+sample-app/.test(out) && /Secret Provider Class Name:\s+my-db-secret/.test(out),
          'pod or class missing',
        );
      },
    },
    {
      title: 'The secret in the pod: cat /mnt/secrets-store/MyDBSecret',
      run: async () => {
        this.out.note(
          `(the stand-in node runs no containers: the pod's volume is read on the node, at ${this.targetPath})`,
        );
        this.out.command('cat /mnt/secrets-store/MyDBSecret; echo');
        const value = this.readMounted('MyDBSecret');
        this.out.output(value);
        expectThat(value === DB_SECRET_VALUE, 'the mounted file does not hold the secret');
      },
    },
    {
      title: "The volume is a tmpfs: the secret never touches the node's disk",
      run: async () => {
        const mount = mounts().find((m) => m.mountPoint === this.targetPath);
        this.out.command(`grep ' ${this.targetPath} ' /proc/self/mountinfo`);
        this.out.output(mount ? `${mount.mountPoint} type ${mount.fsType}` : '(not mounted)');
        expectThat(mount?.fsType === 'tmpfs', 'the volume is not a tmpfs');
      },
    },
    {
      title: 'Parameter Store: /sample-app/db/username (String) and /sample-app/db/password (SecureString)',
      run: async () => {
        this.out.command(
          'aws ssm put-parameter --name "/sample-app/db/username" --value "mamezou-tech" --type String',
        );
        const u = await this.aws.ssm.send(
          new PutParameterCommand({ Name: '/sample-app/db/username', Value: 'mamezou-tech', Type: 'String' }),
        );
        this.out.output(JSON.stringify({ Version: u.Version, Tier: u.Tier }));
        this.out.command(
          'aws ssm put-parameter --name "/sample-app/db/password" --value "my-super-secret-password" --type SecureString',
        );
        const p = await this.aws.ssm.send(
          new PutParameterCommand({
            Name: '/sample-app/db/password',
            Value: 'my-super-secret-password',
            Type: 'SecureString',
          }),
        );
        this.out.output(JSON.stringify({ Version: p.Version, Tier: p.Tier }));
        await this.createRole(PARAMETER_STORE_ROLE, PARAMETER_STORE_SERVICE_ACCOUNT, PARAMETER_STORE_POLICY);
        const file = MANIFESTS.parameterStore.serviceAccount;
        await this.apply(serviceAccountManifest(file), file);
      },
    },
    {
      title: 'The class now names the parameters; the pod uses sample-app-parameter-store',
      run: async () => {
        const spcFile = MANIFESTS.parameterStore.secretProviderClass;
        await this.apply(classManifest(spcFile), spcFile);
        await this.recreatePod(MANIFESTS.parameterStore.pod);
        this.out.command('ls -l /mnt/secrets-store/');
        const names = fs
          .readdirSync(this.targetPath)
          .filter((n) => !n.startsWith('..'))
          .sort();
        for (const name of names) {
          const stat = fs.statSync(path.join(this.targetPath, name));
          this.out.output(
            `-${(stat.mode & 0o777).toString(8).replace(/./g, (d) => ['---', '--x', '-w-', '-wx', 'r--', 'r-x', 'rw-', 'rwx'][Number(d)] ?? '')} ${String(stat.size).padStart(4)} ${name}`,
          );
        }
        expectThat(
          names.join(',') === '_sample-app_db_password,_sample-app_db_username',
          `unexpected files: ${names.join(', ')}`,
        );
        for (const name of ['_sample-app_db_username', '_sample-app_db_password']) {
          this.out.command(`cat /mnt/secrets-store/${name}; echo`);
          this.out.output(this.readMounted(name));
        }
        expectThat(this.readMounted('_sample-app_db_username') === 'mamezou-tech', 'wrong username');
        expectThat(
          this.readMounted('_sample-app_db_password') === 'my-super-secret-password',
          'wrong password',
        );
      },
    },
    {
      title: 'secretObjects: the mounted parameters synced into the Secret my-db-secret',
      run: async () => {
        const spcFile = MANIFESTS.syncSecret.secretProviderClass;
        await this.apply(classManifest(spcFile), spcFile);
        await this.recreatePod(MANIFESTS.syncSecret.pod);
        await eventually('the synced Secret my-db-secret', () => this.secret(), 30_000);
        const out = await this.kubectl(['describe', 'secret', 'my-db-secret']);
        expectThat(
          /Labels:\s+secrets-store.csi.k8s.io\/managed=true/.test(out),
          'the Secret lacks the managed label',
        );
        expectThat(
          /password:\s+24 bytes/.test(out) && /username:\s+12 bytes/.test(out),
          'the Secret lacks username or password',
        );
        const secret = await this.secret();
        this.out.note('what the pod reads in /k8s-secret (the Secret volume):');
        for (const key of ['username', 'password']) {
          this.out.command(`cat /k8s-secret/${key}; echo`);
          this.out.output(Buffer.from(secret?.data?.[key] ?? '', 'base64').toString('utf8'));
        }
        expectThat(
          Buffer.from(secret?.data?.password ?? '', 'base64').toString() === 'my-super-secret-password',
          'wrong password in the Secret',
        );
      },
    },
    {
      title: 'Rotation: the password changes in Parameter Store, then in the file and in the Secret',
      run: async () => {
        await putPasswordParameter(this.aws, ROTATED_PASSWORD, this.out);
        const started = Date.now();
        await eventually(
          'the rotated password in the file and in the Secret',
          async () => {
            const secret = await this.secret();
            const inSecret = Buffer.from(secret?.data?.password ?? '', 'base64').toString();
            return this.readMounted('_sample-app_db_password') === ROTATED_PASSWORD &&
              inSecret === ROTATED_PASSWORD
              ? true
              : undefined;
          },
          60_000,
        );
        this.out.note(
          `rotated in ${((Date.now() - started) / 1000).toFixed(1)} s (rotation poll interval 5s)`,
        );
        this.out.command('cat /mnt/secrets-store/_sample-app_db_password; echo');
        this.out.output(this.readMounted('_sample-app_db_password'));
        await this.kubectl([
          'get',
          'events',
          '--field-selector',
          'involvedObject.name=sample-app',
          '-o',
          'custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message',
        ]);
      },
    },
    {
      title: 'Deleting the pod takes its volume, its status and the synced Secret with it',
      run: async () => {
        const target = this.targetPath;
        await this.kubectl(['delete', 'pod', 'sample-app', '--wait=true']);
        await eventually(
          'the mount to go',
          () => (mounts().some((m) => m.mountPoint === target) ? undefined : true),
          30_000,
        );
        await eventually(
          'the garbage collector to delete the status and the Secret',
          async () => {
            const status = await this.getOrUndefined(
              resourcePath(
                Resources.secretProviderClassPodStatuses,
                this.ns,
                'sample-app-default-my-db-secret',
              ),
            );
            return !status && !(await this.secret()) ? true : undefined;
          },
          60_000,
        );
        const out = await kubectlAsync(this.sys.lab, ['get', 'secret', 'my-db-secret', '--ignore-not-found']);
        this.out.command('kubectl get secret my-db-secret');
        this.out.output(out.trim() || 'No resources found (the garbage collector deleted it with the pod)');
        expectThat(out.trim() === '', 'the Secret is still there');
      },
    },
    {
      title:
        'Beyond the article: an optional parameter (examples/manifests/optional-objects): the pod starts without it, and its file appears at a rotation once it exists',
      run: async () => {
        const { secretProviderClass: spcFile, parameter, file, value } = OPTIONAL_OBJECTS;
        await this.apply(classManifest(spcFile), spcFile);
        await this.recreatePod(MANIFESTS.parameterStore.pod);
        const files = () =>
          fs
            .readdirSync(this.targetPath)
            .filter((n) => !n.startsWith('..'))
            .sort();
        this.out.command('ls /mnt/secrets-store/');
        this.out.output(files().join('\n'));
        expectThat(!files().includes(file), `${file} is mounted before ${parameter} exists`);
        const status = 'sample-app-default-my-db-secret';
        const jsonpath = '{range .status.objects[*]}{.id}{"\\t"}{.version}{"\\n"}{end}';
        this.out.command(`kubectl get secretproviderclasspodstatus ${status} -o jsonpath='${jsonpath}'`);
        const objects = await kubectlAsync(this.sys.lab, [
          'get',
          'secretproviderclasspodstatus',
          status,
          '-o',
          `jsonpath=${jsonpath}`,
        ]);
        this.out.output(objects.trimEnd());
        expectThat(objects.includes(`${file}\tmissing`), `the pod status does not list ${file} as missing`);
        const selector = 'involvedObject.name=sample-app,reason=OptionalObjectMissing';
        const columns = 'custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message';
        await this.showEventsOnce('the OptionalObjectMissing event', selector, columns, parameter);
        this.out.command(`aws ssm put-parameter --name "${parameter}" --value "${value}" --type String`);
        await this.aws.ssm.send(new PutParameterCommand({ Name: parameter, Value: value, Type: 'String' }));
        await eventually(
          'the file at the next rotation',
          () => (files().includes(file) ? true : undefined),
          60_000,
        );
        this.out.command(`cat /mnt/secrets-store/${file}; echo`);
        this.out.output(this.readMounted(file));
        expectThat(this.readMounted(file) === value, `wrong value in ${file}`);
        await this.kubectl(['delete', 'pod', 'sample-app', '--wait=true']);
        const target = this.targetPath;
        await eventually(
          'the mount to go',
          () => (mounts().some((m) => m.mountPoint === target) ? undefined : true),
          30_000,
        );
      },
    },
    {
      title:
        'Beyond the article: MyDBSecret as the files an application reads, db.env, application.properties and config.json (templatedFiles)',
      run: async () => {
        const { secretProviderClass, pod } = MANIFESTS.templatedFiles;
        await this.apply(classManifest(secretProviderClass), secretProviderClass);
        await this.apply(podManifest(pod, this.sys.nodeName), pod);
        const status = await this.mountedStatus(TEMPLATED_FILES_POD, TEMPLATED_FILES_CLASS);
        const dir = status.status?.targetPath ?? '';
        this.out.note(
          `(the stand-in node runs no containers: the pod's volume is read on the node, at ${dir})`,
        );
        const read = (file: string) => {
          this.out.command(`cat /mnt/secrets-store/${file}`);
          const text = fs.readFileSync(path.join(dir, file), 'utf8');
          this.out.output(text.trimEnd());
          return text;
        };
        const { username: user, password } = JSON.parse(DB_SECRET_VALUE) as {
          username: string;
          password: string;
        };
        expectThat(
          read('db.env') === `DB_USER=${user}\nDB_PASSWORD=${password}\n`,
          'db.env does not hold the username and password',
        );
        expectThat(
          read('application.properties') ===
            `spring.datasource.username=${user}\nspring.datasource.password=${password}\n`,
          'application.properties does not hold the username and password',
        );
        const config = JSON.parse(read('config.json')) as unknown;
        expectThat(
          JSON.stringify(config) === JSON.stringify({ database: { user, password, port: 5432 } }),
          'config.json does not hold the username, password and port',
        );
        await this.kubectl(['delete', 'pod', TEMPLATED_FILES_POD, '--wait=true']);
        await eventually(
          'the mount to go',
          () => (mounts().some((m) => m.mountPoint === dir) ? undefined : true),
          30_000,
        );
        await this.kubectl(['delete', 'secretproviderclass', TEMPLATED_FILES_CLASS]);
      },
    },
    {
      title:
        'Beyond the article: the sync controller, with the AWS provider as its sidecar (its chart and examples/aws-provider-sidecar.yaml)',
      run: async () => {
        const example = path.relative(REPO_ROOT, SYNC_CONTROLLER_AWS_EXAMPLE);
        this.out.note(
          `no pod this time: SecretSync objects become Secrets through the sync controller, which calls the AWS provider in its own pod (AWS_REGION=${DEMO_REGION} in a copy of ${example})`,
        );
        this.out.command(
          `helm install ${SYNC_CONTROLLER_RELEASE} ${path.relative(REPO_ROOT, SYNC_CONTROLLER_CHART)} -n ${SYNC_CONTROLLER_NAMESPACE} --create-namespace -f ${example} --set rotationPollInterval=${SYNC_POLL_SECONDS}s --set restartOnRotation.enabled=true`,
        );
        this.syncSystem = await startSyncControllerSystem({
          namespace: SYNC_CONTROLLER_NAMESPACE,
          set: { rotationPollInterval: `${SYNC_POLL_SECONDS}s`, 'restartOnRotation.enabled': 'true' },
          region: DEMO_REGION,
        });
        const sync = this.syncSystem;
        this.out.note(
          `(the pod's two containers run here as processes, with the arguments the chart gives them)`,
        );
        this.out.note(`manager: secrets-store-sync-controller ${sync.controllerArgs.join(' ')}`);
        this.out.note(`provider-aws: secrets-store-csi-driver-provider-aws ${sync.sidecarArgs.join(' ')}`);
        await this.kubectl(['get', 'crd', 'secretsyncs.secret-sync.x-k8s.io']);
        expectThat(
          sync.controllerArgs.includes('--token-request-audience=sts.amazonaws.com') &&
            sync.controllerArgs.includes('--leader-elect') &&
            sync.controllerArgs.includes('--restart-on-rotation'),
          "the controller runs without the example's audience, leader election or restart on rotation",
        );
        expectThat(
          (await fetch(`${sync.controller.probesUrl}/readyz`)).status === 200,
          'the controller is not ready',
        );
      },
    },
    {
      title: 'SecretSyncs: MyDBSecret and the two parameters become Secrets, with no pod',
      run: async () => {
        this.out.note(
          "one class and one SecretSync per role: each SecretSync's ServiceAccount is the one whose role may read its objects; the parameters get an objectAlias, since a sourcePath may not start with _",
        );
        const manifests = [...secretSyncClasses(this.ns), ...articleSecretSyncs(this.ns)].join('---\n');
        this.out.note(manifests.trimEnd());
        this.out.command('kubectl apply -f -');
        this.out.output((await kubectlAsync(this.sys.lab, ['apply', '-f', '-'], manifests)).trimEnd());
        const { secretsManager, parameterStore } = SECRET_SYNC_NAMES;
        for (const name of [secretsManager, parameterStore]) {
          const ss = await waitForSync(this.sys.lab, this.ns, name);
          expectThat(
            conditionsOf(ss).SecretCreated?.status === 'True' &&
              conditionsOf(ss).SecretUpdated?.status === 'True',
            `SecretSync ${name} did not sync: ${JSON.stringify(conditionsOf(ss))}`,
          );
        }
        const yaml = await this.kubectl(['get', 'secretsync', parameterStore, '-o', 'yaml']);
        expectThat(/reason: CreateSuccessful/.test(yaml), 'the SecretSync does not say CreateSuccessful');
        const out = await this.kubectl(['describe', 'secret', secretsManager, parameterStore]);
        expectThat(
          /MyDBSecret:\s+\d+ bytes/.test(out) &&
            /username:\s+12 bytes/.test(out) &&
            /password:\s+\d+ bytes/.test(out),
          'the Secrets lack MyDBSecret, username or password',
        );
        expectThat(
          Buffer.from(
            (await this.secretNamed(secretsManager))?.data?.MyDBSecret ?? '',
            'base64',
          ).toString() === DB_SECRET_VALUE,
          'the Secret does not hold MyDBSecret',
        );
        for (const namespace of [this.ns, SYNC_CONTROLLER_NAMESPACE]) {
          this.out.command(`kubectl get pods -n ${namespace}`);
          const pods = await kubectlAsync(this.sys.lab, ['get', 'pods', '-n', namespace]);
          this.out.output(pods.trim() || `No resources found in ${namespace} namespace.`);
          expectThat(pods.trim() === '', `there are pods in ${namespace}`);
        }
      },
    },
    {
      title: "A SecretSync whose ServiceAccount's role may not read MyDBSecret: a False condition, no Secret",
      run: async () => {
        const manifest = deniedSecretSync(this.ns);
        this.out.note(manifest.trimEnd());
        this.out.command('kubectl apply -f -');
        this.out.output((await kubectlAsync(this.sys.lab, ['apply', '-f', '-'], manifest)).trimEnd());
        const { denied } = SECRET_SYNC_NAMES;
        const ss = await waitForSync(this.sys.lab, this.ns, denied);
        await this.showConditions(denied);
        const created = conditionsOf(ss).SecretCreated;
        expectThat(
          created?.status === 'False' &&
            created.reason === 'ProviderError' &&
            created.message.includes('MyDBSecret') &&
            created.message.includes('AccessDeniedException'),
          'the condition does not name MyDBSecret and AccessDeniedException',
        );
        this.out.command(`kubectl get secret ${denied}`);
        const secret = await kubectlAsync(this.sys.lab, ['get', 'secret', denied, '--ignore-not-found']);
        this.out.output(secret.trim() || `Error from server (NotFound): secrets "${denied}" not found`);
        expectThat(secret.trim() === '', 'a Secret was written');
      },
    },
    {
      title: 'Rotation: the password changes in Parameter Store, then in the Secret, within one poll',
      run: async () => {
        const { parameterStore } = SECRET_SYNC_NAMES;
        const rotated = `${ROTATED_PASSWORD}-again`;
        const before = await getSecretSync(this.sys.lab, this.ns, parameterStore);
        await putPasswordParameter(this.aws, rotated, this.out);
        const started = Date.now();
        await eventually(
          'the rotated password in the Secret',
          async () =>
            Buffer.from(
              (await this.secretNamed(parameterStore))?.data?.password ?? '',
              'base64',
            ).toString() === rotated
              ? true
              : undefined,
          4 * SYNC_POLL_SECONDS * 1000,
          100,
        );
        const seconds = (Date.now() - started) / 1000;
        this.out.note(
          `in the Secret after ${seconds.toFixed(1)} s (rotationPollInterval ${SYNC_POLL_SECONDS}s)`,
        );
        expectThat(seconds < SYNC_POLL_SECONDS + 2, 'the rotation took longer than one poll');
        const after = await waitForSync(
          this.sys.lab,
          this.ns,
          parameterStore,
          (ss) => ss.status?.syncHash !== before?.status?.syncHash,
        );
        await this.kubectl(['describe', 'secret', parameterStore]);
        await this.showConditions(parameterStore);
        this.out.note(
          `lastSuccessfulSyncTime: ${before?.status?.lastSuccessfulSyncTime ?? ''} -> ${after.status?.lastSuccessfulSyncTime ?? ''}`,
        );
      },
    },
    {
      title:
        'Beyond the article: restart on rotation (examples/manifests/restart-on-rotation): a Deployment opted in, reading the Secret through envFrom, restarts once when the password rotates',
      run: async () => {
        const manifest = restartedDeployment(this.sys.nodeName, this.ns);
        this.out.note(manifest.trimEnd());
        await this.kubectl(['apply', '-f', '-'], manifest);
        // kubectl's jsonpath wants the dots of an annotation's name escaped.
        const annotation = (at: string, name: string) =>
          kubectlAsync(this.sys.lab, [
            'get',
            'deployment',
            RESTARTED_DEPLOYMENT,
            '-o',
            `jsonpath={.${at}.annotations.${name.replace(/\./g, '\\.')}}`,
          ]);
        // First sight: the Secret's mark recorded, nothing restarted; only then is a change a rotation.
        await eventually(
          'the first record',
          async () =>
            (await annotation('metadata', 'secrets-store.csi.x-k8s.io/restarted-for')) ? true : undefined,
          60_000,
        );
        await putPasswordParameter(this.aws, `${ROTATED_PASSWORD}-restart`, this.out);
        const restartedAt = await eventually(
          'the rolling restart',
          async () =>
            (await annotation('spec.template.metadata', 'kubectl.kubernetes.io/restartedAt')) || undefined,
          60_000,
        );
        this.out.note(`the pod template's kubectl.kubernetes.io/restartedAt: ${restartedAt}`);
        const selector = `involvedObject.name=${RESTARTED_DEPLOYMENT},reason=RestartedOnRotation`;
        const columns = 'custom-columns=TYPE:.type,REASON:.reason,COUNT:.count,MESSAGE:.message';
        const changed = `synced Secrets changed: ${SECRET_SYNC_NAMES.parameterStore}`;
        await this.showEventsOnce(
          'the RestartedOnRotation Event naming the Secret',
          selector,
          columns,
          changed,
        );
        await this.kubectl(['delete', 'deployment', RESTARTED_DEPLOYMENT]);
      },
    },
    {
      title: 'Deleting the SecretSyncs deletes their Secrets; the sync controller stops',
      run: async () => {
        const { secretsManager, parameterStore, denied } = SECRET_SYNC_NAMES;
        await this.kubectl(['delete', 'secretsync', secretsManager, parameterStore, denied]);
        await eventually(
          'the garbage collector to delete the Secrets',
          async () =>
            (await this.secretNamed(secretsManager)) || (await this.secretNamed(parameterStore))
              ? undefined
              : true,
          60_000,
        );
        const out = await kubectlAsync(this.sys.lab, [
          'get',
          'secret',
          secretsManager,
          parameterStore,
          '--ignore-not-found',
        ]);
        this.out.command(`kubectl get secret ${secretsManager} ${parameterStore}`);
        this.out.output(
          out.trim() || 'No resources found (the garbage collector deleted them with their SecretSyncs)',
        );
        await this.kubectl(['delete', 'secretproviderclass', secretsManager, parameterStore]);
        this.out.command(`helm uninstall ${SYNC_CONTROLLER_RELEASE} -n ${SYNC_CONTROLLER_NAMESPACE}`);
        await this.syncController.close();
        this.syncSystem = undefined;
      },
    },
    {
      title: 'Clean up: nothing is left behind',
      run: async () => {
        await this.kubectl(['delete', 'secretproviderclass', 'my-db-secret']);
        await this.kubectl([
          'delete',
          'serviceaccount',
          SECRETS_MANAGER_SERVICE_ACCOUNT,
          PARAMETER_STORE_SERVICE_ACCOUNT,
        ]);
        this.out.command(
          'aws secretsmanager delete-secret --secret-id MyDBSecret; aws ssm delete-parameter ...; aws iam detach-role-policy ...; aws iam delete-role ...; aws iam delete-policy ...',
        );
        await deleteArticleAws(this.aws);
        const left = mounts().filter((m) => m.mountPoint.startsWith(this.sys.kubeletRoot));
        this.out.output(`mounts left under the node's kubelet folder: ${left.length}`);
        expectThat(left.length === 0, `mounts left: ${left.map((m) => m.mountPoint).join(', ')}`);
      },
    },
  ];
}
