import { ProviderCallError, Status } from '@sscsi/common';

import type { Failure } from './failure';
import { conditionOf, providerFailure, SyncFailure } from './failure';

const context = { timeoutMs: 120_000, maxCallRecvMsgSize: 4194304 };
const grpc = (code: Status, details: string) => Object.assign(new Error(details), { code, details });

describe('conditionOf', () => {
  it.each<[Failure, string, string]>([
    [
      { kind: 'reserved-label' },
      'InvalidClusterSecretLabelError',
      'label secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller',
    ],
    [
      { kind: 'reserved-annotation' },
      'InvalidClusterSecretAnnotationError',
      'annotation secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller',
    ],
    [
      { kind: 'class-not-found', className: 'e2e-providerspc' },
      'SecretProviderClassMisconfigured',
      'failed to get SecretProviderClass "e2e-providerspc": SecretProviderClass.secrets-store.csi.x-k8s.io "e2e-providerspc" not found',
    ],
    [
      { kind: 'invalid-provider', provider: '../x' },
      'SecretProviderClassMisconfigured',
      'fetching secrets from the provider failed: invalid provider: provider "../x"',
    ],
    [
      { kind: 'provider-not-found', provider: 'e2e-provider' },
      'SecretProviderClassMisconfigured',
      'fetching secrets from the provider failed: provider not found: provider "e2e-provider"',
    ],
    [
      { kind: 'token', detail: 'failed to fetch token: serviceaccounts "x" not found' },
      'ControllerSyncError',
      'fetching secrets from the provider failed: failed to fetch token: serviceaccounts "x" not found',
    ],
    [
      { kind: 'provider', detail: 'rpc error: code = Unknown desc = provider down' },
      'ProviderError',
      'fetching secrets from the provider failed: rpc error: code = Unknown desc = provider down',
    ],
    [
      { kind: 'secret-data', detail: 'file matching sourcePath foo not found in the pod' },
      'RemoteSecretStoreFetchFailed',
      'fetching secrets from the provider failed: file matching sourcePath foo not found in the pod',
    ],
    [{ kind: 'hash' }, 'ControllerSyncError', 'failed to compute state hash'],
    [
      { kind: 'secret-write', secretName: 'my-secret', detail: 'secrets "my-secret" is forbidden: denied' },
      'ControllerPatchError',
      'failed to patch secret "my-secret": secrets "my-secret" is forbidden: denied',
    ],
    [
      { kind: 'secret-not-ours', namespace: 'ns', secretName: 'db', ssUid: 'u-1' },
      'ControllerPatchError',
      'failed to patch secret "db": a Secret of that name already exists in namespace "ns" and is not owned by this SecretSync (uid u-1); it is not taken over: delete or rename it, or rename the SecretSync',
    ],
    [
      { kind: 'internal' },
      'ControllerSyncError',
      "internal error of the sync controller; see the controller's log",
    ],
  ])('%j is %s: %s', (failure, reason, message) => {
    expect(conditionOf(failure)).toEqual({ reason, message });
    const err = new SyncFailure(failure);
    expect([err.reason, err.message]).toEqual([reason, message]);
  });
});

describe('providerFailure', () => {
  const message = (err: ProviderCallError) => conditionOf(providerFailure(err, context)).message;
  const prefix = 'fetching secrets from the provider failed: ';

  it("says what upstream says for a provider's own errors and a missing socket", () => {
    expect(message(new ProviderCallError('ProviderNotFound', 'x', { provider: 'aws' }))).toBe(
      `${prefix}provider not found: provider "aws"`,
    );
    expect(message(new ProviderCallError('InvalidProviderName', 'x', { provider: 'a/b' }))).toBe(
      `${prefix}invalid provider: provider "a/b"`,
    );
    // Upstream's name rule allows "", whose socket (/provider/.sock) is missing.
    expect(message(new ProviderCallError('InvalidProviderName', 'x', { provider: '' }))).toBe(
      `${prefix}provider not found: provider ""`,
    );
    expect(message(new ProviderCallError('ProviderError', 'x', { providerCode: 'AuthFailed' }))).toBe(
      `${prefix}mount request failed with provider error code AuthFailed`,
    );
    expect(message(new ProviderCallError('NoObjectVersions', 'x'))).toBe(`${prefix}missing object versions`);
  });

  it('writes a gRPC status as grpc-go does, with its words for retries given up', () => {
    const failed = (code: Status, details: string, attempts?: number) =>
      new ProviderCallError('CallFailed', 'ours', { cause: grpc(code, details), code, attempts });
    expect(message(failed(Status.UNKNOWN, 'provider down'))).toBe(
      `${prefix}rpc error: code = Unknown desc = provider down`,
    );
    expect(message(failed(Status.PERMISSION_DENIED, 'AccessDenied'))).toBe(
      `${prefix}rpc error: code = PermissionDenied desc = AccessDenied`,
    );
    expect(message(failed(Status.UNAVAILABLE, 'throttled', 3))).toBe(
      `${prefix}max retries exhausted: failed after 3 attempts: rpc error: code = Unavailable desc = throttled`,
    );
    expect(message(failed(Status.UNAVAILABLE, 'throttled', 1))).toBe(
      `${prefix}rpc error: code = Unavailable desc = throttled`,
    );
  });

  it('names the flags at fault for a deadline and for an answer too large', () => {
    expect(
      message(
        new ProviderCallError(
          'CallFailed',
          'provider "aws" did not answer before the deadline (2030-01-01T00:00:00.000Z)',
          {
            cause: grpc(Status.DEADLINE_EXCEEDED, 'Deadline exceeded'),
            code: Status.DEADLINE_EXCEEDED,
          },
        ),
      ),
    ).toBe(
      `${prefix}rpc error: code = DeadlineExceeded desc = provider "aws" did not answer before the deadline (2030-01-01T00:00:00.000Z) (--provider-timeout 120s)`,
    );
    expect(
      message(
        new ProviderCallError('CallFailed', 'x', {
          cause: grpc(Status.RESOURCE_EXHAUSTED, 'Received message larger than max (5000000 vs 4194304)'),
          code: Status.RESOURCE_EXHAUSTED,
        }),
      ),
    ).toBe(
      `${prefix}rpc error: code = ResourceExhausted desc = Received message larger than max (5000000 vs 4194304): the answer is larger than --max-call-recv-msg-size (4194304 bytes); raise it to accept larger answers`,
    );
  });
});
