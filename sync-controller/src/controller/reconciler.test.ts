// The reconcile against spec §2.3's table: what each situation writes, and the conditions a user
// reads afterwards (upstream's suite compares them verbatim).
import { KubeApiError, ProviderCallError, Status } from '@sscsi/common';
import { execFileSync } from 'node:child_process';

import type { Condition } from '../api/secret-sync';
import { SyncFailure } from '../sync/failure';
import { Reconciler } from './reconciler';
import { answer } from '../testing/fake-provider-gateway';
import { secretProviderClass, secretSync, SPC_UID, SS_UID } from '../testing/objects';
import { ReconcileHarness, T0 } from '../testing/reconcile-harness';

const NS = 'test-v1alpha1';
const SS_PATH = `/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/${NS}/secretsyncs/sse2esecret`;
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
/** Spec §3 vector 1: upstream's hash of the e2e SecretSync (`bar` ← `secret`). */
const E2E_HASH = 'v1:854a3903e2811c404f5930359f25b521dda567f62cfcf5a0b4d9e142eaaffde2';
const PREFIX = 'fetching secrets from the provider failed: ';
const APPLY_CONFLICT = 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.bar';
const applyConflict = () => new KubeApiError('PATCH', 'x', 409, 'Conflict', APPLY_CONFLICT);

const created = {
  type: 'SecretCreated',
  status: 'True',
  reason: 'CreateSuccessful',
  message: 'Secret created successfully.',
};
const upToDate = {
  type: 'SecretUpdated',
  status: 'True',
  reason: 'SecretUpToDate',
  message: 'Secret contains last observed values.',
};
const starting = { type: 'SecretCreated', status: 'Unknown', reason: 'SyncStarting', message: '' };
const noUpdates = { type: 'SecretUpdated', status: 'Unknown', reason: 'NoUpdatesAttemptedYet', message: '' };

/** A harness whose SecretSync was synced once. */
async function synced(h = new ReconcileHarness()): Promise<ReconcileHarness> {
  expect(await h.run()).toBe('synced');
  h.kube.calls.length = 0;
  h.events.events.length = 0;
  h.kdfCalls = 0;
  return h;
}

describe('a new SecretSync', () => {
  it('gets its Secret: the conditions started, the Secret applied, the status written once', async () => {
    const h = new ReconcileHarness();
    expect(await h.run()).toBe('synced');
    expect(h.writes()).toEqual([
      `PUT ${SS_PATH}/status`,
      `POST (dry run) ${SECRETS}`,
      `PATCH ${SECRETS}/sse2esecret`,
      `PUT ${SS_PATH}/status`,
    ]);
    expect(h.conditions()).toEqual([created, upToDate]);
    expect(h.secretSync().status).toMatchObject({
      syncHash: E2E_HASH,
      lastSuccessfulSyncTime: '2030-01-02T03:04:05Z',
    });
    expect(h.secret()).toMatchObject({
      metadata: {
        labels: { 'secrets-store.sync.x-k8s.io': '' },
        ownerReferences: [
          {
            apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
            kind: 'SecretSync',
            name: 'sse2esecret',
            uid: SS_UID,
          },
        ],
      },
      data: { bar: 'c2VjcmV0' },
      type: 'Opaque',
    });
    // The first write started both conditions Unknown, as upstream's.
    expect(h.kdfCalls).toBe(1);
    expect(h.events.events).toEqual([]);
    expect(h.outcomes).toEqual([['synced', undefined]]);
  });

  it("sends the provider upstream's request", async () => {
    const h = new ReconcileHarness({ audiences: ['sts.amazonaws.com'] });
    await h.run();
    const [call] = h.providers.calls;
    expect(call?.provider).toBe('e2e-provider');
    expect(Object.keys(call?.attributes ?? {})).toEqual([
      'csi.storage.k8s.io/pod.name',
      'csi.storage.k8s.io/pod.namespace',
      'csi.storage.k8s.io/pod.uid',
      'csi.storage.k8s.io/serviceAccount.name',
      'csi.storage.k8s.io/serviceAccount.tokens',
      'objects',
    ]);
    expect(JSON.parse(call?.attributes['csi.storage.k8s.io/serviceAccount.tokens'] ?? '')).toEqual({
      'sts.amazonaws.com': {
        token: expect.stringMatching(/^fake-token-/),
        expirationTimestamp: expect.any(String),
      },
    });
  });

  // Spec §2.3: a failure at steps 5 to 8 writes the initial conditions, then SecretCreated False.
  it.each<[string, (h: ReconcileHarness) => void, string, string]>([
    [
      'a class missing',
      (h) => h.kube.remove('secretproviderclasses', NS, 'e2e-providerspc'),
      'SecretProviderClassMisconfigured',
      'failed to get SecretProviderClass "e2e-providerspc": SecretProviderClass.secrets-store.csi.x-k8s.io "e2e-providerspc" not found',
    ],
    [
      'a class in another namespace',
      (h) => {
        h.kube.remove('secretproviderclasses', NS, 'e2e-providerspc');
        h.kube.put('secretproviderclasses', secretProviderClass({ namespace: 'spc-namespace' }));
      },
      'SecretProviderClassMisconfigured',
      'failed to get SecretProviderClass "e2e-providerspc": SecretProviderClass.secrets-store.csi.x-k8s.io "e2e-providerspc" not found',
    ],
    [
      'an unknown provider (no socket)',
      (h) => h.kube.put('secretproviderclasses', secretProviderClass({ provider: 'vault' })),
      'SecretProviderClassMisconfigured',
      `${PREFIX}provider not found: provider "vault"`,
    ],
    [
      'a provider name that cannot be one',
      (h) =>
        h.providers.behaviours.set('e2e-provider', () => {
          throw new ProviderCallError('InvalidProviderName', 'x', { provider: '../x' });
        }),
      'SecretProviderClassMisconfigured',
      `${PREFIX}invalid provider: provider "../x"`,
    ],
    [
      'a provider timeout',
      (h) =>
        h.providers.behaviours.set('e2e-provider', () => {
          throw new ProviderCallError(
            'CallFailed',
            'provider "e2e-provider" did not answer before the deadline (2030-01-02T03:06:05.000Z)',
            {
              code: Status.DEADLINE_EXCEEDED,
              provider: 'e2e-provider',
            },
          );
        }),
      'ProviderError',
      `${PREFIX}rpc error: code = DeadlineExceeded desc = provider "e2e-provider" did not answer before the deadline (2030-01-02T03:06:05.000Z) (--provider-timeout 120s)`,
    ],
    [
      'an oversized answer',
      (h) =>
        h.providers.behaviours.set('e2e-provider', () => {
          throw new ProviderCallError('CallFailed', 'x', {
            code: Status.RESOURCE_EXHAUSTED,
            cause: {
              code: Status.RESOURCE_EXHAUSTED,
              details: 'Received message larger than max (5242880 vs 4194304)',
            },
          });
        }),
      'ProviderError',
      `${PREFIX}rpc error: code = ResourceExhausted desc = Received message larger than max (5242880 vs 4194304): the answer is larger than --max-call-recv-msg-size (4194304 bytes); raise it to accept larger answers`,
    ],
    [
      "the provider's own error",
      (h) =>
        h.providers.behaviours.set('e2e-provider', () => {
          throw new ProviderCallError('ProviderError', 'x', { providerCode: 'AuthFailed' });
        }),
      'ProviderError',
      `${PREFIX}mount request failed with provider error code AuthFailed`,
    ],
    [
      'a sourcePath the answer lacks',
      (h) => h.providers.behaviours.set('e2e-provider', () => answer({ other: 'x' })),
      'RemoteSecretStoreFetchFailed',
      `${PREFIX}file matching sourcePath foo not found in the pod`,
    ],
    [
      'a missing ServiceAccount',
      (h) => h.kube.put('secretsyncs', secretSync({ serviceAccountName: 'gone' })),
      'ControllerSyncError',
      `${PREFIX}failed to fetch token: serviceaccounts "gone" not found`,
    ],
    [
      'an audience the API refuses',
      (h) =>
        h.kube.failNext(
          'POST',
          'serviceaccounts/token',
          () =>
            new KubeApiError(
              'POST',
              'x',
              403,
              'Forbidden',
              "serviceaccounts \"default\" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-validate-token-policy' with binding 'secrets-store-sync-controller-validate-token-policy-binding' denied request: secrets-store-sync-controller has failed to CREATE default token in the test-v1alpha1 namespace. Check the configuration.",
            ),
        ),
      'ControllerSyncError',
      `${PREFIX}failed to fetch token: serviceaccounts "default" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-validate-token-policy' with binding 'secrets-store-sync-controller-validate-token-policy-binding' denied request: secrets-store-sync-controller has failed to CREATE default token in the test-v1alpha1 namespace. Check the configuration.`,
    ],
    [
      'a reserved label with a value',
      (h) =>
        h.kube.put(
          'secretsyncs',
          secretSync({ secretObject: { labels: { 'secrets-store.sync.x-k8s.io': 'x' } } }),
        ),
      'InvalidClusterSecretLabelError',
      'label secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller',
    ],
    [
      'a reserved annotation',
      (h) =>
        h.kube.put(
          'secretsyncs',
          secretSync({ secretObject: { annotations: { 'secrets-store.sync.x-k8s.io': '' } } }),
        ),
      'InvalidClusterSecretAnnotationError',
      'annotation secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller',
    ],
  ])('with %s: SecretCreated False, no Secret, a Warning Event', async (_case, arrange, reason, message) => {
    const h = new ReconcileHarness({ audiences: ['sts.amazonaws.com'] });
    arrange(h);
    const err = await h.run();
    expect(err).toBeInstanceOf(SyncFailure);
    expect(h.conditions()).toEqual([{ type: 'SecretCreated', status: 'False', reason, message }, noUpdates]);
    expect(h.writes().filter((w) => w.includes(SECRETS))).toEqual([]);
    expect(h.secret()).toBeUndefined();
    expect(h.secretSync().status?.syncHash).toBeUndefined();
    expect(h.events.events).toEqual([
      {
        object: {
          apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
          kind: 'SecretSync',
          namespace: NS,
          name: 'sse2esecret',
          uid: SS_UID,
        },
        type: 'Warning',
        reason,
        message,
      },
    ]);
    expect(h.outcomes.at(-1)).toEqual(['failed', reason]);
  });

  it('takes a class without parameters as one with none (upstream panics: B5)', async () => {
    const h = new ReconcileHarness({ secretProviderClass: secretProviderClass({ parameters: null }) });
    expect(await h.run()).toBe('synced');
  });

  it('leaves SecretUpdated as it was when the first apply is refused (upstream sets it True: B1)', async () => {
    const h = new ReconcileHarness();
    const denied =
      'Secret "sse2esecret" is invalid: metadata.annotations: Invalid value: "a!": name part must consist of alphanumeric characters';
    h.kube.failNext('POST', 'secrets', () => new KubeApiError('POST', SECRETS, 422, 'Invalid', denied));
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.conditions()).toEqual([
      {
        type: 'SecretCreated',
        status: 'False',
        reason: 'ControllerPatchError',
        message: `failed to patch secret "sse2esecret": ${denied}`,
      },
      noUpdates,
    ]);
    expect(h.secretSync().status).not.toHaveProperty('syncHash');
    expect(h.secretSync().status).not.toHaveProperty('lastSuccessfulSyncTime');
  });

  it('never takes over a Secret of the same name that is not ours', async () => {
    const h = new ReconcileHarness();
    h.kube.put('secrets', { metadata: { name: 'sse2esecret', namespace: NS }, data: { mine: 'eA==' } });
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.condition('SecretCreated')).toEqual({
      type: 'SecretCreated',
      status: 'False',
      reason: 'ControllerPatchError',
      message: `failed to patch secret "sse2esecret": a Secret of that name already exists in namespace "test-v1alpha1" and is not owned by this SecretSync (uid ${SS_UID}); it is not taken over: delete or rename it, or rename the SecretSync`,
    });
    expect(h.secret()).toMatchObject({ metadata: { name: 'sse2esecret' }, data: { mine: 'eA==' } });
    expect(h.secret()?.metadata.ownerReferences).toBeUndefined();
  });

  it("keeps a refused apply's condition as it was when it is refused again: no transition (upstream moves lastTransitionTime each time)", async () => {
    const h = new ReconcileHarness();
    h.kube.put('secrets', { metadata: { name: 'sse2esecret', namespace: NS }, data: { mine: 'eA==' } });
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    const first = h.secretSync().status;
    h.clock.now += 10_000;
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.secretSync().status).toEqual(first);
  });

  it("takes over upstream's record of a refused first apply as it is, its B1 SecretUpdated True included; only the message is ours", async () => {
    const since = '2030-01-01T00:00:00Z';
    const policy = `secrets "sse2esecret" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied request: not ours`;
    const fromUpstream: Condition[] = [
      {
        type: 'SecretCreated',
        status: 'False',
        reason: 'ControllerPatchError',
        message: `failed to patch secret "sse2esecret": ${policy}`,
        lastTransitionTime: since,
      },
      { ...upToDate, status: 'True', lastTransitionTime: since },
    ];
    const h = new ReconcileHarness({ secretSync: secretSync({ status: { conditions: fromUpstream } }) });
    h.kube.put('secrets', { metadata: { name: 'sse2esecret', namespace: NS }, data: { mine: 'eA==' } });
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.secretSync().status).toEqual({
      conditions: [
        {
          ...fromUpstream[0],
          message: `failed to patch secret "sse2esecret": a Secret of that name already exists in namespace "test-v1alpha1" and is not owned by this SecretSync (uid ${SS_UID}); it is not taken over: delete or rename it, or rename the SecretSync`,
        },
        fromUpstream[1],
      ],
    });
  });

  it('does not start again what the first write started: two conditions are there', async () => {
    const h = new ReconcileHarness();
    h.kube.remove('secretproviderclasses', NS, 'e2e-providerspc');
    await h.run();
    const from = h.kube.calls.length;
    await h.run();
    expect(h.writes(from)).toEqual([`PUT ${SS_PATH}/status`]);
  });
});

describe('a synced SecretSync', () => {
  it('writes nothing and runs no PBKDF2 when nothing changed', async () => {
    const h = await synced();
    for (let i = 0; i < 3; i++) expect(await h.run()).toBe('unchanged');
    expect(h.writes()).toEqual([]);
    expect(h.kdfCalls).toBe(0);
    expect(h.providers.calls).toHaveLength(4);
  });

  it('pays PBKDF2 once after a restart (a new process), and still writes nothing', async () => {
    const first = await synced();
    const restarted = new ReconcileHarness({
      secretSync: first.secretSync(),
      secretProviderClass: secretProviderClass(),
    });
    expect(await restarted.run()).toBe('unchanged');
    expect(await restarted.run()).toBe('unchanged');
    expect(restarted.kdfCalls).toBe(1);
    expect(restarted.writes()).toEqual([]);
  });

  it('applies a rotated value with SecretUpdated True, a new hash and a new time', async () => {
    const h = await synced();
    h.providers.behaviours.set('e2e-provider', () => answer({ foo: 'rotated' }));
    h.clock.now = T0 + 3600_000;
    expect(await h.run()).toBe('synced');
    expect(h.writes()).toEqual([`PATCH ${SECRETS}/sse2esecret`, `PUT ${SS_PATH}/status`]);
    expect(h.secret()?.data).toEqual({ bar: 'cm90YXRlZA==' });
    const status = h.secretSync().status;
    expect(status?.syncHash).not.toBe(E2E_HASH);
    expect(status?.lastSuccessfulSyncTime).toBe('2030-01-02T04:04:05Z');
    expect(h.conditions()).toEqual([created, upToDate]);
    // No status change: the transition times stay.
    expect(status?.conditions?.map((c) => c.lastTransitionTime)).toEqual([
      '2030-01-02T03:04:05Z',
      '2030-01-02T03:04:05Z',
    ]);
  });

  it('applies again for a spec change, a class change and forceSynchronization', async () => {
    const h = await synced();
    h.editSecretSync((ss) => (ss.spec.forceSynchronization = '2024-01-01'));
    expect(await h.run()).toBe('synced');
    h.kube.put('secretproviderclasses', secretProviderClass({ generation: 2 }));
    expect(await h.run()).toBe('synced');
    expect(await h.run()).toBe('unchanged');
  });

  it('keeps the hash and time of the last apply on a failure, with SecretUpdated False', async () => {
    const h = await synced();
    const before = h.secretSync().status;
    h.providers.behaviours.set('e2e-provider', () => {
      throw new ProviderCallError('CallFailed', 'x', {
        code: Status.UNKNOWN,
        cause: { details: 'provider down' },
      });
    });
    h.clock.now = T0 + 60_000;
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.writes()).toEqual([`PUT ${SS_PATH}/status`]);
    const status = h.secretSync().status;
    expect(status?.syncHash).toBe(before?.syncHash);
    expect(status?.lastSuccessfulSyncTime).toBe(before?.lastSuccessfulSyncTime);
    expect(h.conditions()).toEqual([
      created,
      {
        type: 'SecretUpdated',
        status: 'False',
        reason: 'ProviderError',
        message: `${PREFIX}rpc error: code = Unknown desc = provider down`,
      },
    ]);
    expect(status?.conditions?.[1]?.lastTransitionTime).toBe('2030-01-02T03:05:05Z');
  });

  it('clears the failure when the provider recovers with the same data (upstream keeps it: B2)', async () => {
    const h = await synced();
    let down = true;
    h.providers.behaviours.set('e2e-provider', () => {
      if (down)
        throw new ProviderCallError('CallFailed', 'x', {
          code: Status.UNAVAILABLE,
          attempts: 3,
          cause: { details: 'connection refused' },
        });
      return answer({ foo: 'secret' });
    });
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.condition('SecretUpdated')?.message).toBe(
      `${PREFIX}max retries exhausted: failed after 3 attempts: rpc error: code = Unavailable desc = connection refused`,
    );
    down = false;
    const from = h.kube.calls.length;
    expect(await h.run()).toBe('synced');
    expect(h.writes(from)).toEqual([`PATCH ${SECRETS}/sse2esecret`, `PUT ${SS_PATH}/status`]);
    expect(h.conditions()).toEqual([created, upToDate]);
    expect(h.secretSync().status?.syncHash).toBe(E2E_HASH);
    expect(h.events.events.map((e) => [e.type, e.reason])).toEqual([
      ['Warning', 'ProviderError'],
      ['Normal', 'SecretUpToDate'],
    ]);
    // And then nothing more is written.
    expect(await h.run()).toBe('unchanged');
  });

  it('reports a refused update with SecretUpdated False and keeps the last hash', async () => {
    const h = await synced();
    h.providers.behaviours.set('e2e-provider', () => answer({ foo: 'rotated' }));
    h.kube.failNext('PATCH', 'secrets', applyConflict);
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.conditions()).toEqual([
      created,
      {
        type: 'SecretUpdated',
        status: 'False',
        reason: 'ControllerPatchError',
        message: `failed to patch secret "sse2esecret": ${APPLY_CONFLICT}`,
      },
    ]);
    expect(h.secretSync().status?.syncHash).toBe(E2E_HASH);
    expect(h.secret()?.data).toEqual({ bar: 'c2VjcmV0' });
  });

  it("keeps a refused update's condition as it was when it is refused again: no transition", async () => {
    const h = await synced();
    h.providers.behaviours.set('e2e-provider', () => answer({ foo: 'rotated' }));
    h.kube.failNext('PATCH', 'secrets', applyConflict);
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    const first = h.secretSync().status;
    h.clock.now += 10_000;
    h.kube.failNext('PATCH', 'secrets', applyConflict);
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.secretSync().status).toEqual(first);
  });
});

describe('status writes', () => {
  it("uses its own last status write while the informer's copy lags behind it: no second apply", async () => {
    const h = new ReconcileHarness();
    const before = h.secretSync();
    // The cache still holds the object as it was before this process's writes.
    const stale = new Reconciler({
      ...h.reconcilerOptions,
      secretSyncs: { get: () => structuredClone(before) },
    });
    expect(await stale.reconcile(NS, 'sse2esecret')).toBe('synced');
    const from = h.kube.calls.length;
    expect(await stale.reconcile(NS, 'sse2esecret')).toBe('unchanged');
    expect(h.writes(from)).toEqual([]);
    expect(h.kube.count('PATCH', 'secrets')).toBe(1);
  });

  it('retries after a conflict on the final write; the Secret was applied and is applied again', async () => {
    const h = new ReconcileHarness();
    h.conflictOnPut(2);
    const err = await h.run();
    expect((err as Error).name).toBe('StatusWriteError');
    expect(h.secret()).toBeDefined();
    expect(h.secretSync().status?.syncHash).toBeUndefined();
    expect(h.outcomes.at(-1)).toEqual(['status-unwritten', undefined]);
    // The next pass finds its own Secret (an owner reference with its uid) and records it.
    expect(await h.run()).toBe('synced');
    expect(h.conditions()).toEqual([created, upToDate]);
  });

  it('calls no provider when the first status write fails (an API error)', async () => {
    const h = new ReconcileHarness();
    h.kube.failNext(
      'PUT',
      'secretsyncs/status',
      () => new KubeApiError('PUT', 'x', 500, 'InternalError', 'etcd is away'),
    );
    expect(await h.run()).toBeInstanceOf(Error);
    expect(h.providers.calls).toHaveLength(0);
    expect(h.conditions()).toEqual([]);
  });

  it('still returns the failure when the status of a failure cannot be written', async () => {
    const h = new ReconcileHarness();
    h.kube.remove('secretproviderclasses', NS, 'e2e-providerspc');
    h.conflictOnPut(2);
    const err = await h.run();
    expect(err).toBeInstanceOf(SyncFailure);
    expect(h.conditions()).toEqual([starting, noUpdates]);
  });
});

describe('the reconcile', () => {
  it('writes no failure and records no Event when cancelled (a shutdown) while the provider answers', async () => {
    for (const first of [true, false]) {
      const h = first ? new ReconcileHarness() : await synced();
      const before = h.conditions();
      const abort = new AbortController();
      const release = h.providers.hold();
      const from = h.kube.calls.length;
      const running = h.reconciler.reconcile(NS, 'sse2esecret', abort.signal).catch((err: unknown) => err);
      while (h.providers.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const written = h.writes(from);
      abort.abort();
      release();
      expect(await running).toMatchObject({ name: 'AbortError' });
      // Only what came before the provider call: a first sync's starting conditions.
      expect({ first, writes: h.writes(from) }).toEqual({ first, writes: written });
      expect(h.events.events).toEqual([]);
      expect(h.conditions()).toEqual(first ? [starting, noUpdates] : before);
    }
  });

  it('is done with a SecretSync that no longer exists (upstream retries it forever: B4)', async () => {
    const h = new ReconcileHarness({ secretSync: null });
    expect(await h.run()).toBe('gone');
    expect(h.writes()).toEqual([]);
  });

  it('reports a fault of its own as ControllerSyncError and keeps the details in its log', async () => {
    const h = new ReconcileHarness();
    h.providers.behaviours.set('e2e-provider', () => {
      throw new TypeError("Cannot read properties of undefined (reading 'files')");
    });
    expect(await h.run()).toBeInstanceOf(SyncFailure);
    expect(h.condition('SecretCreated')).toEqual({
      type: 'SecretCreated',
      status: 'False',
      reason: 'ControllerSyncError',
      message: "internal error of the sync controller; see the controller's log",
    });
    expect(h.lines.join('\n')).toContain("reading 'files'");
    expect(h.secret()).toBeUndefined();
  });

  it('writes kubernetes.io/tls Secrets from a PEM file', async () => {
    const pem = execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=x',
        '-days',
        '1',
        '-keyout',
        '-',
        '-out',
        '-',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const h = new ReconcileHarness({
      secretSync: secretSync({
        secretObject: {
          type: 'kubernetes.io/tls',
          data: [
            { sourcePath: 'foo', targetKey: 'tls.crt' },
            { sourcePath: 'foo', targetKey: 'tls.key' },
          ],
        },
      }),
    });
    h.providers.behaviours.set('e2e-provider', () => answer({ foo: pem }));
    expect(await h.run()).toBe('synced');
    const data = h.secret()?.data ?? {};
    expect(Buffer.from(data['tls.crt'] ?? '', 'base64').toString()).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(Buffer.from(data['tls.key'] ?? '', 'base64').toString()).toMatch(
      /^-----BEGIN EC PRIVATE KEY-----\n/,
    );
    expect(h.secret()?.type).toBe('kubernetes.io/tls');
  });

  it('puts no secret value or token in logs, Events, conditions or errors', async () => {
    const h = new ReconcileHarness({ audiences: ['aud'] });
    h.providers.behaviours.set('e2e-provider', () => answer({ foo: 'hunter2-value' }));
    await h.run();
    h.providers.behaviours.set('e2e-provider', () => answer({ other: 'hunter2-value' }));
    const err = await h.run();
    const seen = [
      ...h.lines,
      JSON.stringify(h.events.events),
      JSON.stringify(h.secretSync().status),
      String(err),
    ].join('\n');
    expect(seen).toContain('file matching sourcePath foo not found');
    for (const secret of ['hunter2-value', Buffer.from('hunter2-value').toString('base64'), 'fake-token-'])
      expect(seen).not.toContain(secret);
  });

  it('uses the uids and generations of the objects it reads for the hash', async () => {
    const h = new ReconcileHarness({
      secretProviderClass: secretProviderClass({ uid: SPC_UID, generation: 3 }),
    });
    await h.run();
    expect(h.secretSync().status?.syncHash).not.toBe(E2E_HASH);
  });
});
