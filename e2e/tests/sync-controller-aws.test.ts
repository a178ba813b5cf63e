// The sync controller for real (issue 23 item 5): the article's MyDBSecret and its two SSM parameters
// become Kubernetes Secrets with no pod anywhere, through the controller and an AWS provider sidecar
// as the chart and its AWS example run them (sync-controller-system.ts), against the lab's AWS gate,
// which enforces the article's IAM roles (examples/iam) per ServiceAccount. A SecretSync whose
// ServiceAccount's role may not read its object gets a False condition naming the object and AWS's
// error, and no Secret; a rotated value reaches the Secret within one poll. The same with upstream's
// AWS provider (3.1.1) as the sidecar, and with upstream's controller (SSC) in front of our provider
// (both built by e2e/peer/build.sh).
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { Pod, Secret } from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';
import type { KubeList } from '@sscsi/common';
import {
  ARTICLE_NAMESPACE,
  ARTICLE_REGION,
  ARTICLE_ROLES,
  articleSecretSyncs,
  createArticleOidcProvider,
  createArticleRole,
  DB_SECRET_VALUE,
  deleteArticleAws,
  deniedSecretSync,
  MANIFESTS,
  putPasswordParameter,
  PARAMETER_STORE_SERVICE_ACCOUNT,
  ROTATED_PASSWORD,
  SECRET_SYNC_NAMES,
  SECRETS_MANAGER_SERVICE_ACCOUNT,
  secretSyncClasses,
  serviceAccountManifest,
} from '@sscsi/demo';

import type { SyncControllerSystem } from '../src';
import {
  adminClient,
  awsAdmin,
  conditionsOf,
  ensureSyncControllerCrds,
  eventually,
  getSecretSync,
  kubectlAsync,
  requireLab,
  startSyncControllerSystem,
  SYNCED_CONDITIONS,
  waitForSync,
} from '../src';

const lab = requireLab();
const kube = adminClient(lab);
const aws = awsAdmin(lab, ARTICLE_REGION);
/** The chart's rotationPollInterval here: short, so that a rotation shows within seconds. */
const POLL_SECONDS = 3;
const ns = ARTICLE_NAMESPACE;
const { secretsManager, parameterStore, denied } = SECRET_SYNC_NAMES;

async function secretOf(name: string): Promise<Secret | undefined> {
  try {
    return await kube.get<Secret>(resourcePath(Resources.secrets, ns, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const decoded = (s: Secret | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

const putPassword = (value: string) => putPasswordParameter(aws, value);

const deleteSecretSyncs = () =>
  kubectlAsync(lab, [
    'delete',
    'secretsync',
    secretsManager,
    parameterStore,
    denied,
    '-n',
    ns,
    '--ignore-not-found',
  ]);

/** Removes the article's objects from the lab and its AWS, whatever of them exists. */
async function removeArticle(): Promise<void> {
  await deleteSecretSyncs();
  await kubectlAsync(lab, [
    'delete',
    'secretproviderclass',
    secretsManager,
    parameterStore,
    '-n',
    ns,
    '--ignore-not-found',
  ]);
  await kubectlAsync(lab, [
    'delete',
    'serviceaccount',
    SECRETS_MANAGER_SERVICE_ACCOUNT,
    PARAMETER_STORE_SERVICE_ACCOUNT,
    '-n',
    ns,
    '--ignore-not-found',
  ]);
  await deleteArticleAws(aws);
}

beforeAll(async () => {
  await ensureSyncControllerCrds(lab, kube);
  await removeArticle();
  // The article's AWS objects, roles and ServiceAccounts, as the walkthrough makes them.
  await aws.secretsManager.send(
    new CreateSecretCommand({ Name: 'MyDBSecret', SecretString: DB_SECRET_VALUE }),
  );
  await aws.ssm.send(
    new PutParameterCommand({ Name: '/sample-app/db/username', Value: 'mamezou-tech', Type: 'String' }),
  );
  await putPassword('my-super-secret-password');
  await createArticleOidcProvider(aws);
  for (const { role, serviceAccount, policy } of Object.values(ARTICLE_ROLES))
    await createArticleRole(aws, role, serviceAccount, policy);
  for (const file of [MANIFESTS.secretsManager.serviceAccount, MANIFESTS.parameterStore.serviceAccount])
    await kubectlAsync(lab, ['apply', '-f', '-'], serviceAccountManifest(file));
  await kubectlAsync(lab, ['apply', '-f', '-'], secretSyncClasses(ns).join('---\n'));
});

afterAll(async () => {
  await removeArticle();
  aws.destroy();
  kube.close();
});

describe.each([
  {
    controller: 'ours' as const,
    sidecar: 'ours' as const,
    title: 'our sync controller with our AWS provider as its sidecar',
  },
  {
    controller: 'ours' as const,
    sidecar: 'upstream' as const,
    title: "our sync controller with upstream's AWS provider (3.1.1) as its sidecar",
  },
  {
    controller: 'upstream' as const,
    sidecar: 'ours' as const,
    title: "upstream's sync controller (SSC) in front of our AWS provider",
  },
])('$title', ({ controller, sidecar }) => {
  let system: SyncControllerSystem;
  let password = 'my-super-secret-password';

  beforeAll(async () => {
    await putPassword(password);
    system = await startSyncControllerSystem({
      set: { rotationPollInterval: `${POLL_SECONDS}s` },
      // The article's region, set in a copy of the example as its README says.
      region: ARTICLE_REGION,
      sidecar,
      controller,
    });
  });

  afterAll(async () => {
    await deleteSecretSyncs();
    // The garbage collector removes the Secrets with their SecretSyncs.
    await eventually(
      'the Secrets to go with their SecretSyncs',
      async () => ((await secretOf(secretsManager)) || (await secretOf(parameterStore)) ? undefined : true),
      60_000,
    );
    await system?.close();
  });

  afterEach(async () => {
    // Whatever a test did, the controller and its sidecar still run and answer their probes.
    expect(system.controller.running).toBe(true);
    expect(system.sidecar?.running).toBe(true);
    if (controller === 'ours') {
      expect((await fetch(`${system.controller.probesUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${system.controller.probesUrl}/readyz`)).status).toBe(200);
    }
  });

  it('turns MyDBSecret and the two parameters into Secrets, with no pod anywhere', async () => {
    await kubectlAsync(lab, ['apply', '-f', '-'], articleSecretSyncs(ns).join('---\n'));
    for (const name of [secretsManager, parameterStore]) {
      const ss = await waitForSync(lab, ns, name);
      expect(conditionsOf(ss)).toEqual(SYNCED_CONDITIONS);
      expect(ss.status?.syncHash).toMatch(/^v1:[0-9a-f]{64}$/);
      const secret = await secretOf(name);
      expect(secret?.type).toBe('Opaque');
      expect(secret?.metadata.labels).toEqual({ 'secrets-store.sync.x-k8s.io': '' });
      expect(secret?.metadata.ownerReferences).toEqual([
        { apiVersion: 'secret-sync.x-k8s.io/v1alpha1', kind: 'SecretSync', name, uid: ss.metadata.uid },
      ]);
      // Written by the controller's server-side apply alone.
      const managed = (secret?.metadata as { managedFields?: Array<{ manager: string; operation: string }> })
        .managedFields;
      expect(managed?.map((f) => [f.manager, f.operation])).toEqual([
        ['secrets-store-sync-controller', 'Apply'],
      ]);
    }
    expect(decoded(await secretOf(secretsManager))).toEqual({ MyDBSecret: DB_SECRET_VALUE });
    expect(decoded(await secretOf(parameterStore))).toEqual({ username: 'mamezou-tech', password });

    // No pod: none in the SecretSyncs' namespace or the controller's, none with either ServiceAccount.
    const pods = await kube.get<KubeList<Pod>>('/api/v1/pods');
    const concerned = pods.items.filter(
      (p) =>
        p.metadata.namespace === ns ||
        p.metadata.namespace === system.namespace ||
        [SECRETS_MANAGER_SERVICE_ACCOUNT, PARAMETER_STORE_SERVICE_ACCOUNT].includes(
          p.spec?.serviceAccountName ?? '',
        ),
    );
    expect(concerned.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([]);
  });

  it("refuses MyDBSecret to a ServiceAccount whose role may not read it: False, naming the object and AWS's error, no Secret", async () => {
    await kubectlAsync(lab, ['apply', '-f', '-'], deniedSecretSync(ns));
    const ss = await waitForSync(lab, ns, denied);
    const { SecretCreated, SecretUpdated } = conditionsOf(ss);
    expect(SecretCreated).toMatchObject({ status: 'False', reason: 'ProviderError' });
    expect(SecretCreated?.message).toMatch(
      /^fetching secrets from the provider failed: rpc error: code = \w+ desc = /,
    );
    expect(SecretCreated?.message).toContain('MyDBSecret');
    if (sidecar === 'ours') {
      expect(SecretCreated?.message).toContain('AccessDeniedException');
    } else {
      // Upstream's provider takes AWS's refusal (not a modeled error of the SDK) for one worth trying
      // the next region with; it answers with its own words and logs AWS's.
      expect(SecretCreated?.message).toContain(
        'Failed to fetch secret from all regions. Verify secret exists and required permissions are granted for: MyDBSecret',
      );
      expect(system.sidecar?.logs()).toMatch(/Failed fetching secret MyDBSecret: .*AccessDeniedException/);
    }
    expect(SecretUpdated).toEqual({ status: 'Unknown', reason: 'NoUpdatesAttemptedYet', message: '' });
    expect(await secretOf(denied)).toBeUndefined();
    // What was allowed is still there.
    expect(decoded(await secretOf(secretsManager))).toEqual({ MyDBSecret: DB_SECRET_VALUE });
  });

  it('brings a rotated parameter into its Secret within one poll interval', async () => {
    const before = await getSecretSync(lab, ns, parameterStore);
    password = `${ROTATED_PASSWORD}-${controller}-${sidecar}`;
    await putPassword(password);
    const started = Date.now();
    await eventually(
      'the rotated password in the Secret',
      async () => (decoded(await secretOf(parameterStore)).password === password ? true : undefined),
      4 * POLL_SECONDS * 1000,
      100,
    );
    const elapsedMs = Date.now() - started;
    // The next poll comes at most one interval later; the sync itself takes well under a second.
    expect(elapsedMs).toBeLessThan(POLL_SECONDS * 1000 + 2000);
    const after = await waitForSync(
      lab,
      ns,
      parameterStore,
      (ss) => ss.status?.syncHash !== before?.status?.syncHash,
    );
    expect(conditionsOf(after)).toEqual(SYNCED_CONDITIONS);
    expect(Date.parse(after.status?.lastSuccessfulSyncTime ?? '')).toBeGreaterThan(
      Date.parse(before?.status?.lastSuccessfulSyncTime ?? ''),
    );
    expect(decoded(await secretOf(parameterStore)).username).toBe('mamezou-tech');
  });
});
