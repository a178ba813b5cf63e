// Bad input to the sync controller (issue 23 item 7), against the real API server, the real AWS
// provider sidecar and real sockets, the controller and its sidecar run as the chart and its AWS
// example run them (sync-controller-system.ts) with the chart's admission policies. Each case gets
// the condition a user reads with `kubectl get secretsync -o yaml` (type, status, reason, message),
// and never a crash, a partial Secret, a Secret changed or deleted, or a Secret of someone else's
// taken over (also without the policies: the controller refuses on its own).
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteRoleCommand, DeleteRolePolicyCommand } from '@aws-sdk/client-iam';
import type { CoreEvent, KubeList, Secret } from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import type { SyncControllerSystem } from '../src';
import {
  awsAdmin,
  conditionsOf,
  createNamespace,
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  deleteNamespace,
  eventually,
  getSecretSync,
  irsaTrustPolicy,
  kubectlAsync,
  startSyncControllerSystem,
  uniqueSuffix,
  waitForSync,
} from '../src';

const sfx = uniqueSuffix();
const app = `ssc-app-${sfx}`;
const other = `ssc-other-${sfx}`;
const role = `ssc-bad-input-${sfx}`;
const dbSecret = `ssc-bad-input-${sfx}-db`;
const largeSecret = `ssc-bad-input-${sfx}-large`;
/** Smaller than the large secret's answer, far larger than the others'. */
const MAX_RECV_BYTES = 16_384;
const PROVIDER_TIMEOUT_SECONDS = 3;
/** Data from the class's one file and from a path its answer does not have. */
const WITH_A_MISSING_PATH: Array<[string, string]> = [
  ['db', 'password'],
  ['nothere', 'other'],
];
const UNKNOWN_UPDATE = { status: 'Unknown', reason: 'NoUpdatesAttemptedYet', message: '' };

let system: SyncControllerSystem;
let aws: ReturnType<typeof awsAdmin>;
/** Stops the stub providers. */
const stubs: Array<() => Promise<void>> = [];

const kube = () => system.kube;
const lab = () => system.lab;

async function secretOf(name: string, namespace = app): Promise<Secret | undefined> {
  try {
    return await kube().get<Secret>(resourcePath(Resources.secrets, namespace, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const decoded = (s: Secret | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

/** `kubectl apply` of a SecretSync in the app's namespace. */
async function applySecretSync(
  name: string,
  o: { className?: string; serviceAccount?: string; data?: Array<[string, string]> } = {},
): Promise<void> {
  const data = o.data ?? [['db', 'password']];
  await kubectlAsync(
    lab(),
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
      kind: 'SecretSync',
      metadata: { name, namespace: app },
      spec: {
        serviceAccountName: o.serviceAccount ?? 'app',
        secretProviderClassName: o.className ?? 'db',
        secretObject: {
          type: 'Opaque',
          data: data.map(([sourcePath, targetKey]) => ({ sourcePath, targetKey })),
        },
      },
    }),
  );
}

/**
 * A new SecretSync's first sync failed as `reason` says, with `message` (exact, or a pattern), and
 * left no Secret; SecretUpdated was never attempted.
 */
async function expectCreationRefused(name: string, reason: string, message: string | RegExp): Promise<void> {
  const ss = await waitForSync(lab(), app, name);
  const { SecretCreated, SecretUpdated } = conditionsOf(ss);
  expect(SecretCreated).toMatchObject({ status: 'False', reason });
  if (typeof message === 'string') expect(SecretCreated?.message).toBe(message);
  else expect(SecretCreated?.message).toMatch(message);
  expect(SecretUpdated).toEqual(UNKNOWN_UPDATE);
  expect(ss.status?.syncHash ?? '').toBe('');
  expect(await secretOf(name)).toBeUndefined();
}

/** A provider socket that accepts connections and never answers. */
async function hungProvider(name: string): Promise<void> {
  const held = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(path.join(system.providerDir, `${name}.sock`), resolve));
  stubs.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of held) socket.destroy();
    await closed;
  });
}

/** A provider socket left behind by a provider that died: the file is there, nobody listens. */
async function staleSocket(name: string): Promise<void> {
  const live = path.join(system.providerDir, `${name}-live.sock`);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(live, resolve));
  fs.linkSync(live, path.join(system.providerDir, `${name}.sock`));
  await new Promise((resolve) => server.close(resolve));
}

/** SecretSyncs whose first sync fails: what is wrong, and the condition it gets. */
const REFUSED: Array<{
  what: string;
  name: string;
  spec: Parameters<typeof applySecretSync>[1];
  reason: string;
  message: string | RegExp;
}> = [
  {
    what: 'a class that does not exist',
    name: 'no-class',
    spec: { className: 'nothere' },
    reason: 'SecretProviderClassMisconfigured',
    message:
      'failed to get SecretProviderClass "nothere": SecretProviderClass.secrets-store.csi.x-k8s.io "nothere" not found',
  },
  {
    what: 'a class of that name in another namespace only (never read there)',
    name: 'other-namespace',
    spec: { className: 'elsewhere' },
    reason: 'SecretProviderClassMisconfigured',
    message:
      'failed to get SecretProviderClass "elsewhere": SecretProviderClass.secrets-store.csi.x-k8s.io "elsewhere" not found',
  },
  {
    what: 'a provider with no socket',
    name: 'no-socket',
    spec: { className: 'nosuch' },
    reason: 'SecretProviderClassMisconfigured',
    message: 'fetching secrets from the provider failed: provider not found: provider "nosuch"',
  },
  {
    what: 'a provider name that is no name',
    name: 'bad-provider-name',
    spec: { className: 'not-a-name' },
    reason: 'SecretProviderClassMisconfigured',
    message: 'fetching secrets from the provider failed: invalid provider: provider "not.a.name"',
  },
  {
    what: "a socket nobody listens on (a provider that died): upstream's wait for the provider, to the deadline",
    name: 'stale',
    spec: { className: 'stale' },
    reason: 'ProviderError',
    message:
      /^fetching secrets from the provider failed: rpc error: code = DeadlineExceeded desc = .*--provider-timeout/,
  },
  {
    what: 'a ServiceAccount that does not exist',
    name: 'no-sa',
    spec: { serviceAccount: 'ghost' },
    reason: 'ControllerSyncError',
    message:
      'fetching secrets from the provider failed: failed to fetch token: serviceaccounts "ghost" not found',
  },
  {
    what: 'a sourcePath the answer lacks (no Secret with the keys that were there)',
    name: 'no-path',
    spec: { data: WITH_A_MISSING_PATH },
    reason: 'RemoteSecretStoreFetchFailed',
    message:
      'fetching secrets from the provider failed: file matching sourcePath nothere not found in the pod',
  },
  {
    what: 'an answer larger than --max-call-recv-msg-size',
    name: 'too-large',
    spec: { className: 'large' },
    reason: 'ProviderError',
    message: new RegExp(
      `^fetching secrets from the provider failed: rpc error: code = ResourceExhausted desc = .*larger than --max-call-recv-msg-size \\(${MAX_RECV_BYTES} bytes\\)`,
    ),
  },
];

beforeAll(async () => {
  system = await startSyncControllerSystem({
    set: { rotationPollInterval: '3s' },
    setJson: {
      extraArgs: [
        `--provider-timeout=${PROVIDER_TIMEOUT_SECONDS}s`,
        `--max-call-recv-msg-size=${MAX_RECV_BYTES}`,
      ],
    },
  });
  aws = awsAdmin(system.lab, system.region);
  await aws.secretsManager.send(new CreateSecretCommand({ Name: dbSecret, SecretString: 'allowed-value' }));
  await aws.secretsManager.send(
    new CreateSecretCommand({ Name: largeSecret, SecretString: 'x'.repeat(40_000) }),
  );
  const issuer = system.lab.serviceAccountIssuer;
  const roleArn = await createRole(
    aws.iam,
    role,
    [
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: `arn:aws:secretsmanager:*:*:secret:ssc-bad-input-${sfx}-*`,
      },
    ],
    irsaTrustPolicy(issuer, `system:serviceaccount:${app}:app`),
  );
  await createNamespace(kube(), app);
  await createNamespace(kube(), other);
  await createServiceAccount(kube(), app, 'app', roleArn);
  const awsClass = (objectName: string) => ({
    provider: 'aws',
    parameters: { objects: `- {objectName: "${objectName}", objectType: secretsmanager, objectAlias: db}` },
  });
  await createSecretProviderClass(kube(), app, 'db', awsClass(dbSecret));
  await createSecretProviderClass(kube(), app, 'large', awsClass(largeSecret));
  await createSecretProviderClass(kube(), other, 'elsewhere', awsClass(dbSecret));
  for (const provider of ['nosuch', 'not.a.name', 'hung', 'stale'])
    await createSecretProviderClass(kube(), app, provider.replace(/\./g, '-'), {
      provider,
      parameters: { objects: '- {objectName: x}' },
    });
  await hungProvider('hung');
  await staleSocket('stale');
});

afterAll(async () => {
  for (const stop of stubs) await stop();
  if (aws) {
    for (const name of [dbSecret, largeSecret])
      await aws.secretsManager
        .send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }))
        .catch(() => undefined);
    await aws.iam
      .send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: 'read' }))
      .catch(() => undefined);
    await aws.iam.send(new DeleteRoleCommand({ RoleName: role })).catch(() => undefined);
    aws.destroy();
  }
  if (system) {
    await deleteNamespace(kube(), app);
    await deleteNamespace(kube(), other);
    await system.close();
  }
});

afterEach(async () => {
  // Never a crash: the controller still runs and answers its probes.
  expect(system.controller.running).toBe(true);
  expect((await fetch(`${system.controller.probesUrl}/healthz`)).status).toBe(200);
  expect((await fetch(`${system.controller.probesUrl}/readyz`)).status).toBe(200);
});

describe('the sync controller, given bad input', () => {
  it('syncs a good SecretSync (the baseline the cases below depart from)', async () => {
    await applySecretSync('good');
    const ss = await waitForSync(lab(), app, 'good');
    expect(conditionsOf(ss).SecretCreated).toMatchObject({ status: 'True', reason: 'CreateSuccessful' });
    expect(decoded(await secretOf('good'))).toEqual({ password: 'allowed-value' });
  });

  it.each(REFUSED)('$what: $reason, no Secret', async ({ name, spec, reason, message }) => {
    await applySecretSync(name, spec);
    await expectCreationRefused(name, reason, message);
  });

  it('records each failed sync as a Warning Event on the SecretSync, as kubectl describe shows', async () => {
    const events = await eventually('an Event of the SecretSync no-class', async () => {
      const list = await kube().get<KubeList<CoreEvent>>(resourcePath(Resources.events, app), {
        query: { fieldSelector: 'involvedObject.name=no-class' },
      });
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(events.map((e) => [e.type, e.reason, e.involvedObject.kind])).toContainEqual([
      'Warning',
      'SecretProviderClassMisconfigured',
      'SecretSync',
    ]);
  });

  it('a provider that accepts and never answers: DeadlineExceeded after --provider-timeout, others go on', async () => {
    const started = Date.now();
    await applySecretSync('hung', { className: 'hung' });
    // A reconcile waiting on the hung provider does not hold up the others.
    await applySecretSync('beside-hung');
    const beside = await waitForSync(lab(), app, 'beside-hung');
    expect(conditionsOf(beside).SecretCreated?.status).toBe('True');
    expect(Date.now() - started).toBeLessThan(PROVIDER_TIMEOUT_SECONDS * 1000);
    await expectCreationRefused(
      'hung',
      'ProviderError',
      new RegExp(
        `^fetching secrets from the provider failed: rpc error: code = DeadlineExceeded desc = .*\\(--provider-timeout ${PROVIDER_TIMEOUT_SECONDS}s\\)$`,
      ),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(PROVIDER_TIMEOUT_SECONDS * 1000);
  });

  it('a synced Secret stays as it was when its SecretSync goes bad', async () => {
    await applySecretSync('kept');
    const synced = await waitForSync(lab(), app, 'kept');
    const before = await secretOf('kept');
    expect(decoded(before)).toEqual({ password: 'allowed-value' });
    await applySecretSync('kept', {
      data: WITH_A_MISSING_PATH,
    });
    const failed = await waitForSync(
      lab(),
      app,
      'kept',
      (ss) => conditionsOf(ss).SecretUpdated?.status === 'False',
    );
    expect(conditionsOf(failed)).toEqual({
      SecretCreated: { status: 'True', reason: 'CreateSuccessful', message: 'Secret created successfully.' },
      SecretUpdated: {
        status: 'False',
        reason: 'RemoteSecretStoreFetchFailed',
        message:
          'fetching secrets from the provider failed: file matching sourcePath nothere not found in the pod',
      },
    });
    // The last good sync's hash stays; the Secret is neither changed nor deleted.
    expect(failed.status?.syncHash).toBe(synced.status?.syncHash);
    const after = await secretOf('kept');
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(decoded(after)).toEqual({ password: 'allowed-value' });
  });

  describe('a Secret of the same name that is not ours', () => {
    /** A Secret made by hand before its SecretSync; returns it as it was made. */
    async function handMade(name: string): Promise<Secret> {
      return kube().create<Secret>(resourcePath(Resources.secrets, app), {
        metadata: { name, labels: { owner: 'someone' } },
        type: 'Opaque',
        data: { password: Buffer.from('hand-made').toString('base64') },
      });
    }

    async function expectUntouched(made: Secret): Promise<void> {
      const now = await secretOf(made.metadata.name ?? '');
      expect(now?.metadata.resourceVersion).toBe(made.metadata.resourceVersion);
      expect(now?.metadata.ownerReferences).toBeUndefined();
      expect(now?.metadata.labels).toEqual({ owner: 'someone' });
      expect(decoded(now)).toEqual({ password: 'hand-made' });
    }

    /** The condition says the Secret is not taken over; the Secret stays as it was, poll after poll. */
    async function expectNotTakenOver(name: string): Promise<void> {
      const made = await handMade(name);
      await applySecretSync(name);
      const ss = await waitForSync(lab(), app, name);
      expect(conditionsOf(ss)).toEqual({
        SecretCreated: {
          status: 'False',
          reason: 'ControllerPatchError',
          message: `failed to patch secret "${name}": a Secret of that name already exists in namespace "${app}" and is not owned by this SecretSync (uid ${ss.metadata.uid}); it is not taken over: delete or rename it, or rename the SecretSync`,
        },
        SecretUpdated: UNKNOWN_UPDATE,
      });
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await expectUntouched(made);
      expect(conditionsOf(await getSecretSync(lab(), app, name)).SecretCreated?.status).toBe('False');
    }

    it("with the chart's policies (which refuse even the controller's dry run): ControllerPatchError, untouched", async () => {
      await expectNotTakenOver('taken');
    });

    it('without them: the controller refuses on its own, the same condition, untouched', async () => {
      await system.admissionPolicies(false);
      try {
        await expectNotTakenOver('taken-too');
      } finally {
        await system.admissionPolicies(true);
      }
    });
  });

  // Last: it restarts the controller with an audience for every SecretSync, which fails them all.
  it("a token audience the chart's policy does not allow: ControllerSyncError with the policy's message, Secrets kept", async () => {
    const good = await secretOf('good');
    await system.restartController({ 'token-request-audience': 'sts.amazonaws.com,not-allowed.example.com' });
    try {
      await applySecretSync('audience');
      await expectCreationRefused(
        'audience',
        'ControllerSyncError',
        `fetching secrets from the provider failed: failed to fetch token: serviceaccounts "app" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-validate-token-policy' with binding 'secrets-store-sync-controller-validate-token-policy-binding' denied request: secrets-store-sync-controller has failed to CREATE app token in the ${app} namespace. Check the configuration.`,
      );
      // The synced SecretSyncs fail the same way at their next sync; their Secrets stay.
      const failed = await waitForSync(
        lab(),
        app,
        'good',
        (ss) => conditionsOf(ss).SecretUpdated?.reason === 'ControllerSyncError',
      );
      expect(conditionsOf(failed).SecretUpdated?.status).toBe('False');
      expect((await secretOf('good'))?.metadata.resourceVersion).toBe(good?.metadata.resourceVersion);
    } finally {
      await system.restartController();
    }
  });
});
