import { KubeApiError } from '@sscsi/common';
import { FakeKube } from '@sscsi/common/testing';
import type { Secret } from '@sscsi/common';

import { SyncFailure } from '../sync/failure';
import { secretSync, SS_UID } from '../testing/objects';
import { FIELD_MANAGER, secretApplyBody, SecretWriter } from './secret-writer';

const data = (entries: Record<string, string | null>) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, v === null ? null : Buffer.from(v)] as const));

const NS = 'test-v1alpha1';
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;

async function failure(promise: Promise<unknown>): Promise<SyncFailure> {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SyncFailure);
  return err as SyncFailure;
}

describe('the applied Secret', () => {
  it("is upstream's body byte for byte for the e2e SecretSync", () => {
    expect(JSON.stringify(secretApplyBody(secretSync(), data({ bar: 'secret' })))).toBe(
      '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"sse2esecret","namespace":"test-v1alpha1","labels":{"secrets-store.sync.x-k8s.io":""},"ownerReferences":[{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","name":"sse2esecret","uid":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}]},"data":{"bar":"c2VjcmV0"},"type":"Opaque"}',
    );
  });

  it("sorts the user's labels and annotations with ours, keeps null for empty contents, leaves out an empty type", () => {
    const ss = secretSync({
      secretObject: { type: '', labels: { zone: 'a', app: 'web' }, annotations: { 'b/y': '2', 'a/x': '1' } },
    });
    expect(JSON.stringify(secretApplyBody(ss, data({ z: 'v', a: null })))).toBe(
      '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"sse2esecret","namespace":"test-v1alpha1","labels":{"app":"web","secrets-store.sync.x-k8s.io":"","zone":"a"},"annotations":{"a/x":"1","b/y":"2"},"ownerReferences":[{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","name":"sse2esecret","uid":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}]},"data":{"a":null,"z":"dg=="}}',
    );
  });
});

describe('SecretWriter', () => {
  it('applies with the field manager and without force; first checks with a dry-run create', async () => {
    const kube = new FakeKube();
    await new SecretWriter(kube).write(secretSync(), data({ bar: 'secret' }), true);
    expect(kube.calls.map((c) => [c.verb, c.path, c.query])).toEqual([
      ['POST', SECRETS, { dryRun: 'All', fieldManager: FIELD_MANAGER }],
      ['PATCH', `${SECRETS}/sse2esecret`, { fieldManager: FIELD_MANAGER }],
    ]);
    expect(kube.object<Secret>('secrets', NS, 'sse2esecret')).toMatchObject({
      metadata: { labels: { 'secrets-store.sync.x-k8s.io': '' }, ownerReferences: [{ uid: SS_UID }] },
      data: { bar: 'c2VjcmV0' },
      type: 'Opaque',
    });
  });

  it('applies at once once synced (the Secret was ours)', async () => {
    const kube = new FakeKube();
    await new SecretWriter(kube).write(secretSync(), data({ bar: 'secret' }), false);
    expect(kube.calls.map((c) => c.verb)).toEqual(['PATCH']);
  });

  it('never takes over a Secret that is not ours: nothing is written, the condition names it', async () => {
    const kube = new FakeKube();
    kube.put('secrets', { metadata: { name: 'sse2esecret', namespace: NS }, data: { bar: 'b3RoZXI=' } });
    const err = await failure(new SecretWriter(kube).write(secretSync(), data({ bar: 'secret' }), true));
    expect(err.reason).toBe('ControllerPatchError');
    expect(err.message).toBe(
      `failed to patch secret "sse2esecret": a Secret of that name already exists in namespace "test-v1alpha1" and is not owned by this SecretSync (uid ${SS_UID}); it is not taken over: delete or rename it, or rename the SecretSync`,
    );
    expect(err.message).not.toContain('b3RoZXI');
    expect(kube.object<Secret>('secrets', NS, 'sse2esecret')?.data).toEqual({ bar: 'b3RoZXI=' });
    expect(kube.calls.map((c) => [c.verb, c.query?.dryRun])).toEqual([
      ['POST', 'All'],
      ['PATCH', 'All'],
    ]);
  });

  // What the API server answers for the empty update of a Secret without owner references or label:
  // the first policy it names, with a CEL error (403) or the label policy's message (422).
  it.each([
    [
      403,
      'Forbidden',
      "secrets \"sse2esecret\" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-create-update-policy' with binding 'secrets-store-sync-controller-create-update-policy-binding' denied request: expression 'variables.allowedSecretTypes == true && variables.hasOneSecretSyncOwner == true' resulted in error: composited variable \"hasOneSecretSyncOwner\" fails to evaluate: no such key: ownerReferences",
    ],
    [
      422,
      'Invalid',
      "secrets \"sse2esecret\" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-update-label-policy' with binding 'secrets-store-sync-controller-update-label-policy-binding' denied request: secrets-store-sync-controller has failed to UPDATE secret with Opaque type in the test-v1alpha1 namespace because it does not have the correct label. Delete the secret and force the controller to recreate it with the correct label.",
    ],
  ])(
    "says the same when the chart's policies refuse even the dry-run read of someone else's Secret (%i)",
    async (status, reason, denied) => {
      const kube = new FakeKube();
      kube.put('secrets', { metadata: { name: 'sse2esecret', namespace: NS }, data: { bar: 'b3RoZXI=' } });
      kube.failNext('PATCH', 'secrets', () => new KubeApiError('PATCH', SECRETS, status, reason, denied));
      const err = await failure(new SecretWriter(kube).write(secretSync(), data({ bar: 'secret' }), true));
      expect([err.reason, err.message]).toEqual([
        'ControllerPatchError',
        `failed to patch secret "sse2esecret": a Secret of that name already exists in namespace "test-v1alpha1" and is not owned by this SecretSync (uid ${SS_UID}); it is not taken over: delete or rename it, or rename the SecretSync`,
      ]);
      expect(kube.object<Secret>('secrets', NS, 'sse2esecret')?.data).toEqual({ bar: 'b3RoZXI=' });
    },
  );

  it('reports any other refusal of the dry-run read with its message', async () => {
    const kube = new FakeKube();
    kube.put('secrets', { metadata: { name: 'sse2esecret', namespace: NS }, data: { bar: 'b3RoZXI=' } });
    const denied =
      'secrets "sse2esecret" is forbidden: User "system:serviceaccount:x:y" cannot patch resource "secrets" in API group "" in the namespace "test-v1alpha1"';
    kube.failNext('PATCH', 'secrets', () => new KubeApiError('PATCH', SECRETS, 403, 'Forbidden', denied));
    const err = await failure(new SecretWriter(kube).write(secretSync(), data({ bar: 'secret' }), true));
    expect(err.message).toBe(`failed to patch secret "sse2esecret": ${denied}`);
  });

  it('applies to a Secret it wrote before its status could say so', async () => {
    const kube = new FakeKube();
    kube.put('secrets', {
      metadata: {
        name: 'sse2esecret',
        namespace: NS,
        ownerReferences: [
          {
            apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
            kind: 'SecretSync',
            name: 'sse2esecret',
            uid: SS_UID,
          },
        ],
      },
      data: { bar: 'b2xk' },
    });
    await new SecretWriter(kube).write(secretSync(), data({ bar: 'secret' }), true);
    expect(kube.object<Secret>('secrets', NS, 'sse2esecret')?.data).toEqual({ bar: 'c2VjcmV0' });
  });

  it("reports admission's refusal of the first create with the API's message, as upstream's first apply", async () => {
    const kube = new FakeKube();
    const denied =
      "secrets \"my-custom-api-secret\" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-create-update-policy' with binding 'secrets-store-sync-controller-create-update-policy-binding' denied request: secrets-store-sync-controller has failed to CREATE secret with example.com/api-credentials type in the default namespace. The controller can only create or update secrets in the allowed types list with a single secretsync owner.";
    kube.failNext('POST', 'secrets', () => new KubeApiError('POST', SECRETS, 403, 'Forbidden', denied));
    const err = await failure(
      new SecretWriter(kube).write(
        secretSync({ name: 'my-custom-api-secret' }),
        data({ bar: 'secret' }),
        true,
      ),
    );
    expect([err.reason, err.message]).toEqual([
      'ControllerPatchError',
      `failed to patch secret "my-custom-api-secret": ${denied}`,
    ]);
    expect(kube.objects('secrets')).toEqual([]);
  });

  it('reports a refused apply (a conflict with another manager, an immutable type) with its message', async () => {
    const kube = new FakeKube();
    kube.failNext(
      'PATCH',
      'secrets',
      () =>
        new KubeApiError(
          'PATCH',
          `${SECRETS}/sse2esecret`,
          409,
          'Conflict',
          'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.bar',
        ),
    );
    const err = await failure(new SecretWriter(kube).write(secretSync(), data({ bar: 'secret' }), false));
    expect(err.message).toBe(
      'failed to patch secret "sse2esecret": Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.bar',
    );
  });
});
