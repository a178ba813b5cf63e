// Moving a cluster from upstream's sync controller (SSC, built by e2e/peer/build.sh) to ours and
// back (issue 23 item 1): `status.syncHash` is computed as SSC computes it, so the move rewrites no
// Secret and flips no condition. 50 SecretSyncs over three namespaces, three ServiceAccounts (each
// with its IAM role) and seven classes (JSON secrets, SSM parameters, a binary secret, PEM pairs
// made `kubernetes.io/tls` with RSA and EC keys, labels and annotations, a forceSynchronization
// value), one whose object its ServiceAccount's role may not read, one whose class does not exist
// and one whose Secret someone else made, are synced by SSC; then ours takes over, syncs a changed
// value (that one Secret written once), and SSC takes over again. Each controller runs as the chart
// runs it, with its admission policies and our AWS provider as the sidecar
// (sync-controller-system.ts).
//
// The provider is our AWS provider against the lab's AWS gate rather than upstream's e2e mock
// provider: the mock answers fixed contents (`secret` for `foo`) and no binary, JSON or PEM data,
// which is where two hash implementations could part; the gate gives a real IAM refusal for the
// denied case, a role whose policy can be taken away and given back for SSC's never-cleared failure
// (B2 below), and a real value change; and the harness already runs this provider as the chart's
// sidecar. A pass over 50 SecretSyncs costs milliseconds of AWS calls each.
//
// Where ours deliberately differs from SSC (sync-controller/README.md, "Differences from SSC"), the
// difference is asserted as such: B2, the failure SSC keeps on a SecretSync whose data came back
// unchanged, is cleared by ours (one status write, no Secret written); the Secret that is not ours
// gets our message instead of the admission policy's, with the same reason, status and transition
// time, and SSC's SecretUpdated True next to it (its B1) stays as SSC left it.
//
// About a minute: SSC's single worker over 50 SecretSyncs (PBKDF2 each) and three-second polls.
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { DeleteRoleCommand, DeleteRolePolicyCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import type { KubeList, Secret } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { ObjectWrites, RunningController, SecretSyncView, SyncControllerSystem } from '../src';
import {
  awsAdmin,
  conditionsOf,
  createNamespace,
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  deleteNamespace,
  eventually,
  metricValue,
  SECRET_SYNCS,
  secretSyncPath,
  SYNCED_CONDITIONS,
  startSyncControllerSystem,
  uniqueSuffix,
  watchWrites,
} from '../src';

const POLL_SECONDS = 3;
const sfx = uniqueSuffix();
/** The AWS names' prefix, and the role names'. */
const prefix = `migration-${sfx}`;
const namespaces = [0, 1, 2].map((i) => `migration-${sfx}-${i}`);
const [home = ''] = namespaces;
/** SecretSyncs with something to show, in the first namespace. */
const DENIED = `${home}/denied`;
const NO_CLASS = `${home}/no-class`;
const TAKEN = `${home}/taken`;
const ROTATING = `${home}/rotating`;
const FLAKY = `${home}/flaky`;
const FAILING = [DENIED, NO_CLASS, TAKEN];

const NO_CLASS_MESSAGE =
  'failed to get SecretProviderClass "nothere": SecretProviderClass.secrets-store.csi.x-k8s.io "nothere" not found';

/** A self-signed certificate for a day and its new key (PKCS#8), in one PEM file as users store a pair. */
function certificateAndKey(newkey: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migration-tls-'));
  const [key, cert] = ['key.pem', 'cert.pem'].map((f) => path.join(dir, f)) as [string, string];
  try {
    const subject = ['-subj', '/CN=migration.example'];
    execFileSync(
      'openssl',
      ['req', '-x509', ...newkey, '-nodes', '-days', '1', ...subject, '-keyout', key, '-out', cert],
      {
        stdio: 'ignore',
      },
    );
    return fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SECRETS = {
  db: JSON.stringify({ username: 'app', password: 'migration-password-db' }),
  'tls-rsa': certificateAndKey(['-newkey', 'rsa:2048']),
  'tls-ec': certificateAndKey(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
  private: 'migration-password-private',
};
const BLOB = crypto.randomBytes(48);
const PARAMETERS = {
  host: 'db.migration.internal:5432',
  password: 'migration-password-ssm',
  rotating: 'migration-password-v1',
  flaky: 'migration-password-flaky',
};
const ROTATED = 'migration-password-v2';

const smObject = (name: string, alias: string) =>
  `- {objectName: "${prefix}/${name}", objectType: secretsmanager, objectAlias: ${alias}}`;
const ssmObject = (name: string) =>
  `- {objectName: "/${prefix}/${name}", objectType: ssmparameter, objectAlias: ${name}}`;
/** The classes of every namespace; `rotating` and `flaky` are the first namespace's only. */
const CLASSES: Record<string, string[]> = {
  db: [smObject('db', 'db'), ssmObject('host'), ssmObject('password')],
  'tls-rsa': [smObject('tls-rsa', 'pair')],
  'tls-ec': [smObject('tls-ec', 'pair')],
  blob: [smObject('blob', 'blob')],
  private: [smObject('private', 'private')],
};
const HOME_CLASSES: Record<string, string[]> = {
  rotating: [ssmObject('rotating')],
  flaky: [ssmObject('flaky')],
};

const secretsManagerArn = (name: string) => `arn:aws:secretsmanager:*:*:secret:${prefix}/${name}`;
const parameterArn = (name: string) => `arn:aws:ssm:*:*:parameter/${prefix}/${name}`;
const READ_SECRETS = ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'];
const READ_PARAMETERS = ['ssm:GetParameters', 'ssm:GetParameter'];
const readsAll = [
  { Effect: 'Allow', Action: READ_SECRETS, Resource: secretsManagerArn('*') },
  { Effect: 'Allow', Action: READ_PARAMETERS, Resource: parameterArn('*') },
];
/** The roles, by ServiceAccount: `app-b` may not read the private secret; `app-flaky` its one parameter. */
const ROLES: Record<string, object[]> = {
  'app-a': readsAll,
  'app-b': [...readsAll, { Effect: 'Deny', Action: READ_SECRETS, Resource: secretsManagerArn('private-*') }],
  'app-flaky': [{ Effect: 'Allow', Action: READ_PARAMETERS, Resource: parameterArn('flaky') }],
};
const roleName = (serviceAccount: string) => `${prefix}-${serviceAccount}`;

interface SyncSpec {
  serviceAccount: string;
  className: string;
  data: Array<[string, string]>;
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  forceSynchronization?: string;
}

const DB_DATA: Array<[string, string]> = [
  ['db', 'db.json'],
  ['host', 'host'],
  ['password', 'password'],
];
const TLS_DATA: Array<[string, string]> = [
  ['pair', 'tls.crt'],
  ['pair', 'tls.key'],
];

/** The SecretSyncs, by `namespace/name`. */
function secretSyncSpecs(): Map<string, SyncSpec> {
  const specs = new Map<string, SyncSpec>();
  for (const [i, ns] of namespaces.entries()) {
    for (const sa of ['app-a', 'app-b']) {
      const at = (name: string, spec: Omit<SyncSpec, 'serviceAccount'>) =>
        specs.set(`${ns}/${sa}-${name}`, { serviceAccount: sa, ...spec });
      at('db', { className: 'db', data: DB_DATA });
      at('db-labelled', {
        className: 'db',
        data: DB_DATA,
        labels: { team: `team-${i}`, tier: 'backend' },
        annotations: { 'example.com/owner': `${sa}@example.com`, 'example.com/note': 'a<b & c>d' },
      });
      at('db-forced', { className: 'db', data: DB_DATA, forceSynchronization: '2024-01-01' });
      at('db-password', { className: 'db', data: [['password', 'DB_PASSWORD']] });
      at('tls-rsa', { className: 'tls-rsa', data: TLS_DATA, type: 'kubernetes.io/tls' });
      at('tls-ec', { className: 'tls-ec', data: TLS_DATA, type: 'kubernetes.io/tls' });
      at('blob', { className: 'blob', data: [['blob', 'blob.bin']], type: 'Opaque' });
    }
    specs.set(`${ns}/private`, {
      serviceAccount: 'app-a',
      className: 'private',
      data: [['private', 'value']],
    });
  }
  specs.set(DENIED, { serviceAccount: 'app-b', className: 'private', data: [['private', 'value']] });
  specs.set(NO_CLASS, { serviceAccount: 'app-a', className: 'nothere', data: [['db', 'db.json']] });
  specs.set(TAKEN, { serviceAccount: 'app-a', className: 'db', data: DB_DATA });
  specs.set(ROTATING, {
    serviceAccount: 'app-a',
    className: 'rotating',
    data: [['rotating', 'value']],
  });
  specs.set(FLAKY, {
    serviceAccount: 'app-flaky',
    className: 'flaky',
    data: [['flaky', 'value']],
  });
  return specs;
}

const SPECS = secretSyncSpecs();
const KEYS = [...SPECS.keys()];

let system: SyncControllerSystem;
let aws: ReturnType<typeof awsAdmin>;
let secretWrites: ObjectWrites | undefined;
let syncWrites: ObjectWrites | undefined;

const kube = () => system.kube;
const split = (key: string) => key.split('/') as [string, string];

interface Snapshot {
  /** Every Secret of the namespaces as stored: the fields a rewrite would show. */
  secrets: Map<string, Pick<Secret, 'type' | 'data'> & { metadata: Secret['metadata'] }>;
  secretSyncs: Map<string, SecretSyncView>;
}

async function snapshot(): Promise<Snapshot> {
  const secrets: Snapshot['secrets'] = new Map();
  const secretSyncs: Snapshot['secretSyncs'] = new Map();
  for (const ns of namespaces) {
    const listed = await kube().get<KubeList<Secret>>(resourcePath(Resources.secrets, ns));
    for (const s of listed.items) {
      const { resourceVersion, labels, annotations, ownerReferences, managedFields } =
        s.metadata as Secret['metadata'] & {
          managedFields?: unknown;
        };
      secrets.set(`${ns}/${s.metadata.name ?? ''}`, {
        type: s.type,
        data: s.data,
        metadata: {
          resourceVersion,
          labels,
          annotations,
          ownerReferences,
          managedFields,
        } as Secret['metadata'],
      });
    }
    const syncs = await kube().get<KubeList<SecretSyncView>>(secretSyncPath(ns));
    for (const ss of syncs.items) secretSyncs.set(`${ns}/${ss.metadata.name}`, ss);
  }
  return { secrets, secretSyncs };
}

/** The SecretSyncs of a snapshot as compared: resourceVersion and the status's bytes. */
function stored(
  s: Snapshot,
  except: string[] = [],
): Record<string, { resourceVersion?: string; status: string }> {
  return Object.fromEntries(
    [...s.secretSyncs]
      .filter(([key]) => !except.includes(key))
      .map(([key, ss]) => [
        key,
        { resourceVersion: ss.metadata.resourceVersion, status: JSON.stringify(ss.status) },
      ]),
  );
}

const statusOf = (s: Snapshot, key: string) => s.secretSyncs.get(key)?.status ?? {};
const conditionOf = (s: Snapshot, key: string, type: string) =>
  statusOf(s, key).conditions?.find((c) => c.type === type);
const decoded = (s: Snapshot, key: string, field: string) =>
  Buffer.from(s.secrets.get(key)?.data?.[field] ?? '', 'base64');

/**
 * Waits until `controller` has begun `n` more reconciles of every SecretSync than `since` counts
 * (none: since it started); a SecretSync is never reconciled twice at once, so n - 1 have finished.
 */
async function passes(controller: RunningController, n: number, since = new Map<string, number>()) {
  await eventually(
    `${n} reconciles of each of the ${KEYS.length} SecretSyncs by ${controller.kind === 'ours' ? 'ours' : "SSC's"}`,
    () => {
      const begun = controller.reconcilesBegun();
      return KEYS.every((k) => (begun.get(k) ?? 0) >= (since.get(k) ?? 0) + n) ? true : undefined;
    },
    60_000,
    250,
  );
}

/** The SecretSyncs and Secrets once `kind`'s controller, now running, has begun `n` reconciles of each. */
async function settled(kind: RunningController['kind'], n: number): Promise<Snapshot> {
  expect(system.controller.kind).toBe(kind);
  await passes(system.controller, n);
  return snapshot();
}

/** Reconcile outcomes of ours by outcome (synced, unchanged, failed, ...), from its metrics. */
const outcomes = (outcome: string) =>
  metricValue(system.controller.metricsUrl, 'secretsync_reconcile_outcomes_total', { outcome });

const putRolePolicy = (serviceAccount: string, statements: object[]) =>
  aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: roleName(serviceAccount),
      PolicyName: 'read',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    }),
  );

beforeAll(async () => {
  system = await startSyncControllerSystem({
    set: { rotationPollInterval: `${POLL_SECONDS}s` },
    controller: 'upstream',
  });
  aws = awsAdmin(system.lab, system.region);
  for (const [name, value] of Object.entries(SECRETS))
    await aws.secretsManager.send(
      new CreateSecretCommand({ Name: `${prefix}/${name}`, SecretString: value }),
    );
  await aws.secretsManager.send(new CreateSecretCommand({ Name: `${prefix}/blob`, SecretBinary: BLOB }));
  for (const [name, value] of Object.entries(PARAMETERS))
    await aws.ssm.send(new PutParameterCommand({ Name: `/${prefix}/${name}`, Value: value, Type: 'String' }));
  const roles: Record<string, string> = {};
  for (const [sa, statements] of Object.entries(ROLES))
    roles[sa] = await createRole(aws.iam, roleName(sa), statements);
  for (const ns of namespaces) {
    await createNamespace(kube(), ns);
    for (const [sa, arn] of Object.entries(roles)) await createServiceAccount(kube(), ns, sa, arn);
    const classes = ns === home ? { ...CLASSES, ...HOME_CLASSES } : CLASSES;
    for (const [name, objects] of Object.entries(classes))
      await createSecretProviderClass(kube(), ns, name, {
        provider: 'aws',
        parameters: { objects: objects.join('\n') },
      });
  }
  // A Secret someone made before the SecretSync of the same name.
  await kube().create(resourcePath(Resources.secrets, home), {
    metadata: { name: split(TAKEN)[1], labels: { owner: 'someone' } },
    type: 'Opaque',
    data: { note: Buffer.from('hand-made').toString('base64') },
  });
}, 120_000);

afterAll(async () => {
  await secretWrites?.stop();
  await syncWrites?.stop();
  if (system) {
    for (const ns of namespaces) await deleteNamespace(kube(), ns);
    await system.close();
  }
  if (aws) {
    for (const name of [...Object.keys(SECRETS), 'blob'])
      await aws.secretsManager
        .send(new DeleteSecretCommand({ SecretId: `${prefix}/${name}`, ForceDeleteWithoutRecovery: true }))
        .catch(() => undefined);
    for (const name of Object.keys(PARAMETERS))
      await aws.ssm.send(new DeleteParameterCommand({ Name: `/${prefix}/${name}` })).catch(() => undefined);
    for (const sa of Object.keys(ROLES)) {
      await aws.iam
        .send(new DeleteRolePolicyCommand({ RoleName: roleName(sa), PolicyName: 'read' }))
        .catch(() => undefined);
      await aws.iam.send(new DeleteRoleCommand({ RoleName: roleName(sa) })).catch(() => undefined);
    }
    aws.destroy();
  }
});

describe('moving 50 SecretSyncs from SSC to our sync controller and back', () => {
  /** As SSC left them, when ours takes over. */
  let fromSsc: Snapshot;
  /** As ours left them, when SSC takes over again. */
  let fromOurs: Snapshot;

  it('SSC syncs them: Secrets of every shape, three failures, and a failure it never clears (its B2)', async () => {
    for (const [key, spec] of SPECS) {
      const [namespace, name] = split(key);
      await kube().create(secretSyncPath(namespace), {
        apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
        kind: 'SecretSync',
        metadata: { name, namespace },
        spec: {
          serviceAccountName: spec.serviceAccount,
          secretProviderClassName: spec.className,
          ...(spec.forceSynchronization ? { forceSynchronization: spec.forceSynchronization } : {}),
          secretObject: {
            type: spec.type ?? 'Opaque',
            data: spec.data.map(([sourcePath, targetKey]) => ({ sourcePath, targetKey })),
            ...(spec.labels ? { labels: spec.labels } : {}),
            ...(spec.annotations ? { annotations: spec.annotations } : {}),
          },
        },
      });
    }
    let synced = await eventually(
      'SSC to sync every SecretSync or fail it',
      async () => {
        const s = await snapshot();
        const done = KEYS.every((k) =>
          ['True', 'False'].includes(conditionOf(s, k, 'SecretCreated')?.status ?? ''),
        );
        return done ? s : undefined;
      },
      60_000,
      500,
    );
    for (const key of KEYS.filter((k) => !FAILING.includes(k)))
      expect([key, conditionsOf(synced.secretSyncs.get(key))]).toEqual([key, SYNCED_CONDITIONS]);
    expect(conditionsOf(synced.secretSyncs.get(DENIED)).SecretCreated).toMatchObject({
      status: 'False',
      reason: 'ProviderError',
    });
    expect(conditionsOf(synced.secretSyncs.get(DENIED)).SecretCreated?.message).toContain(
      'AccessDeniedException',
    );
    expect(conditionsOf(synced.secretSyncs.get(NO_CLASS)).SecretCreated).toEqual({
      status: 'False',
      reason: 'SecretProviderClassMisconfigured',
      message: NO_CLASS_MESSAGE,
    });
    // The chart's policies refuse SSC's apply to a Secret it did not make; SSC records SecretUpdated
    // True beside it (its B1).
    expect(conditionsOf(synced.secretSyncs.get(TAKEN))).toEqual({
      SecretCreated: {
        status: 'False',
        reason: 'ControllerPatchError',
        message: expect.stringMatching(
          /^failed to patch secret "taken": secrets "taken" is forbidden: ValidatingAdmissionPolicy /,
        ),
      },
      SecretUpdated: SYNCED_CONDITIONS.SecretUpdated,
    });
    // Every shape arrived as the provider gave it.
    const dbKey = `${namespaces[1]}/app-b-db-labelled`;
    expect(JSON.parse(decoded(synced, dbKey, 'db.json').toString())).toEqual(JSON.parse(SECRETS.db));
    expect(synced.secrets.get(dbKey)?.metadata.labels).toEqual({
      team: 'team-1',
      tier: 'backend',
      'secrets-store.sync.x-k8s.io': '',
    });
    expect(synced.secrets.get(dbKey)?.metadata.annotations).toMatchObject({
      'example.com/note': 'a<b & c>d',
    });
    expect(decoded(synced, `${home}/app-a-blob`, 'blob.bin')).toEqual(BLOB);
    expect(synced.secrets.get(`${home}/app-a-tls-rsa`)?.type).toBe('kubernetes.io/tls');
    expect(decoded(synced, `${home}/app-a-tls-rsa`, 'tls.key').toString()).toMatch(
      /^-----BEGIN RSA PRIVATE KEY-----\n/,
    );
    expect(decoded(synced, `${home}/app-b-tls-ec`, 'tls.key').toString()).toMatch(
      /^-----BEGIN EC PRIVATE KEY-----\n/,
    );
    expect(decoded(synced, ROTATING, 'value').toString()).toBe(PARAMETERS.rotating);

    // B2: the flaky SecretSync's role loses its policy: at the next poll SSC records the failure;
    // the policy comes back with the same data, and SSC applies the Secret again at every trigger
    // (a new lastSuccessfulSyncTime each time) and keeps the failure.
    await putRolePolicy('app-flaky', [
      { Effect: 'Allow', Action: READ_PARAMETERS, Resource: parameterArn('nothing') },
    ]);
    const failed = await eventually(
      'SSC to record the flaky SecretSync failing',
      async () => {
        const s = await snapshot();
        return conditionOf(s, FLAKY, 'SecretUpdated')?.status === 'False' ? s : undefined;
      },
      4 * POLL_SECONDS * 1000,
      250,
    );
    await putRolePolicy('app-flaky', ROLES['app-flaky'] ?? []);
    synced = await eventually(
      'SSC to sync the flaky SecretSync again',
      async () => {
        const s = await snapshot();
        return statusOf(s, FLAKY).lastSuccessfulSyncTime !== statusOf(failed, FLAKY).lastSuccessfulSyncTime
          ? s
          : undefined;
      },
      4 * POLL_SECONDS * 1000,
      250,
    );
    expect(conditionsOf(synced.secretSyncs.get(FLAKY)).SecretUpdated).toMatchObject({
      status: 'False',
      reason: 'ProviderError',
    });
    expect(statusOf(synced, FLAKY).syncHash).toBe(statusOf(failed, FLAKY).syncHash);

    // What SSC left, and the writes from then on.
    await system.switchController('ours', async () => {
      fromSsc = await snapshot();
      secretWrites = await watchWrites(kube(), Resources.secrets, { namespaces });
      syncWrites = await watchWrites(kube(), SECRET_SYNCS, { namespaces });
    });
  }, 120_000);

  it('ours takes over: no Secret written, no status changed but for its documented differences', async () => {
    // The start pass, then a poll.
    const after = await settled('ours', 3);

    expect(Object.fromEntries(after.secrets)).toEqual(Object.fromEntries(fromSsc.secrets));
    expect(stored(after, [FLAKY, TAKEN])).toEqual(stored(fromSsc, [FLAKY, TAKEN]));
    // B2: ours clears the failure SSC kept (one status write; the Secret, unchanged, is not written).
    expect(conditionsOf(after.secretSyncs.get(FLAKY))).toEqual(SYNCED_CONDITIONS);
    expect(conditionOf(after, FLAKY, 'SecretCreated')).toEqual(conditionOf(fromSsc, FLAKY, 'SecretCreated'));
    expect(statusOf(after, FLAKY).syncHash).toBe(statusOf(fromSsc, FLAKY).syncHash);
    // Not ours: the same reason, status and transition time; our message instead of the policy's.
    const taken = after.secretSyncs.get(TAKEN);
    expect(statusOf(after, TAKEN)).toEqual({
      ...statusOf(fromSsc, TAKEN),
      conditions: statusOf(fromSsc, TAKEN).conditions?.map((c) =>
        c.type === 'SecretCreated'
          ? {
              ...c,
              message: `failed to patch secret "taken": a Secret of that name already exists in namespace "${home}" and is not owned by this SecretSync (uid ${taken?.metadata.uid}); it is not taken over: delete or rename it, or rename the SecretSync`,
            }
          : c,
      ),
    });
    // The writes a watch saw: those two statuses, once each; no Secret.
    expect(Object.fromEntries(secretWrites?.written() ?? [])).toEqual({});
    expect(Object.fromEntries(syncWrites?.written() ?? [])).toEqual({ [FLAKY]: 1, [TAKEN]: 1 });
    // Ours applied one Secret (the flaky one's, unchanged: not stored); the rest were up to date.
    expect(await outcomes('synced')).toBe(1);
    expect(await outcomes('unchanged')).toBeGreaterThanOrEqual(2 * (KEYS.length - FAILING.length - 1));
  });

  it('a changed value: ours writes that one Secret once and its status, nothing else', async () => {
    const before = await snapshot();
    secretWrites?.reset();
    syncWrites?.reset();
    await aws.ssm.send(
      new PutParameterCommand({
        Name: `/${prefix}/rotating`,
        Value: ROTATED,
        Type: 'String',
        Overwrite: true,
      }),
    );
    await eventually(
      'the changed value in its Secret',
      async () => (decoded(await snapshot(), ROTATING, 'value').toString() === ROTATED ? true : undefined),
      4 * POLL_SECONDS * 1000,
      250,
    );
    // One more poll over all after that write.
    await passes(system.controller, 2, system.controller.reconcilesBegun());
    const after = await snapshot();

    expect(Object.fromEntries(secretWrites?.written() ?? [])).toEqual({ [ROTATING]: 1 });
    expect(Object.fromEntries(syncWrites?.written() ?? [])).toEqual({ [ROTATING]: 1 });
    const others = [...before.secrets.keys()].filter((k) => k !== ROTATING);
    expect(others.map((k) => after.secrets.get(k))).toEqual(others.map((k) => before.secrets.get(k)));
    expect(stored(after, [ROTATING])).toEqual(stored(before, [ROTATING]));
    // The new hash and time; the conditions as they were, transition times included.
    expect(statusOf(after, ROTATING).syncHash).not.toBe(statusOf(before, ROTATING).syncHash);
    expect(statusOf(after, ROTATING).conditions).toEqual(statusOf(before, ROTATING).conditions);
    expect(Date.parse(statusOf(after, ROTATING).lastSuccessfulSyncTime ?? '')).toBeGreaterThan(
      Date.parse(statusOf(before, ROTATING).lastSuccessfulSyncTime ?? ''),
    );
    expect(await outcomes('synced')).toBe(2);

    await system.switchController('upstream', async () => {
      fromOurs = await snapshot();
      secretWrites?.reset();
      syncWrites?.reset();
    });
  });

  it("back to SSC: SSC's hash of what ours wrote is ours; no Secret written, no status changed", async () => {
    // Its start pass over every SecretSync (the second reconcile of each begins once the first ended).
    const after = await settled('upstream', 2);

    expect(Object.fromEntries(after.secrets)).toEqual(Object.fromEntries(fromOurs.secrets));
    expect(Object.fromEntries(secretWrites?.written() ?? [])).toEqual({});
    expect(stored(after, [TAKEN])).toEqual(stored(fromOurs, [TAKEN]));
    expect([...(syncWrites?.written().keys() ?? [])]).toEqual([TAKEN]);
    // Not ours: SSC's message again, the policy's, as it first wrote it. (SSC also moves the
    // condition's lastTransitionTime at every retry: its success conditions are set in memory,
    // then the failure over them.)
    const created = conditionOf(after, TAKEN, 'SecretCreated');
    expect(created).toMatchObject({
      status: 'False',
      reason: 'ControllerPatchError',
      message: conditionOf(fromSsc, TAKEN, 'SecretCreated')?.message,
    });
    expect(conditionOf(after, TAKEN, 'SecretUpdated')).toEqual(conditionOf(fromOurs, TAKEN, 'SecretUpdated'));
  });
});
