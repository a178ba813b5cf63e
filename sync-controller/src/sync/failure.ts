// Why a sync failed, as a closed set, and the one place that turns a failure into the condition a
// user reads (reason and message, upstream's wording) and the reason metrics and logs carry.
// Messages name the object at fault and never hold a secret value or a token.
import type { ProviderCallError } from '@sscsi/common';
import { Status } from '@sscsi/common';

import type { FailureReason } from './conditions';

export type Failure =
  /** A `secrets-store.sync.x-k8s.io` label with a value (the CRD refuses it first). */
  | { kind: 'reserved-label' }
  /** A `secrets-store.sync.x-k8s.io` annotation (the CRD refuses it first). */
  | { kind: 'reserved-annotation' }
  /** No SecretProviderClass of that name in the SecretSync's namespace. */
  | { kind: 'class-not-found'; className: string }
  | { kind: 'invalid-provider'; provider: string }
  | { kind: 'provider-not-found'; provider: string }
  /** A ServiceAccount token could not be had (the API's message). */
  | { kind: 'token'; detail: string }
  /** The provider call failed or the provider reported an error. */
  | { kind: 'provider'; detail: string }
  /** The provider's answer does not make the Secret (a sourcePath missing, a TLS file unreadable). */
  | { kind: 'secret-data'; detail: string }
  | { kind: 'hash' }
  /** The API server refused the Secret (admission, validation, a field owned by someone else). */
  | { kind: 'secret-write'; secretName: string; detail: string }
  /** A Secret of that name exists and belongs to someone else: it is not taken over. */
  | { kind: 'secret-not-ours'; namespace: string; secretName: string; ssUid: string }
  /** A fault of this program (a bug): the details go to the log only. */
  | { kind: 'internal' };

export class SyncFailure extends Error {
  override name = 'SyncFailure';

  constructor(
    readonly failure: Failure,
    options?: { cause?: unknown },
  ) {
    super(conditionOf(failure).message, options);
  }

  get reason(): FailureReason {
    return conditionOf(this.failure).reason;
  }
}

const FROM_PROVIDER = 'fetching secrets from the provider failed: ';

/** The condition of a failure: its reason and upstream's message. */
export function conditionOf(failure: Failure): { reason: FailureReason; message: string } {
  switch (failure.kind) {
    case 'reserved-label':
      return {
        reason: 'InvalidClusterSecretLabelError',
        message: 'label secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller',
      };
    case 'reserved-annotation':
      return {
        reason: 'InvalidClusterSecretAnnotationError',
        message:
          'annotation secrets-store.sync.x-k8s.io is reserved for use by the Secrets Store Sync Controller',
      };
    case 'class-not-found':
      // controller-runtime's cache says Kind, not the plural the API server would (upstream's test 5).
      return {
        reason: 'SecretProviderClassMisconfigured',
        message: `failed to get SecretProviderClass ${goQuote(failure.className)}: SecretProviderClass.secrets-store.csi.x-k8s.io ${goQuote(failure.className)} not found`,
      };
    case 'invalid-provider':
      return {
        reason: 'SecretProviderClassMisconfigured',
        message: `${FROM_PROVIDER}invalid provider: provider ${goQuote(failure.provider)}`,
      };
    case 'provider-not-found':
      return {
        reason: 'SecretProviderClassMisconfigured',
        message: `${FROM_PROVIDER}provider not found: provider ${goQuote(failure.provider)}`,
      };
    case 'token':
      return { reason: 'ControllerSyncError', message: `${FROM_PROVIDER}${failure.detail}` };
    case 'provider':
      return { reason: 'ProviderError', message: `${FROM_PROVIDER}${failure.detail}` };
    case 'secret-data':
      return { reason: 'RemoteSecretStoreFetchFailed', message: `${FROM_PROVIDER}${failure.detail}` };
    case 'hash':
      return { reason: 'ControllerSyncError', message: 'failed to compute state hash' };
    case 'secret-write':
      return {
        reason: 'ControllerPatchError',
        message: `failed to patch secret ${goQuote(failure.secretName)}: ${failure.detail}`,
      };
    case 'secret-not-ours':
      return {
        reason: 'ControllerPatchError',
        message: `failed to patch secret ${goQuote(failure.secretName)}: a Secret of that name already exists in namespace ${goQuote(failure.namespace)} and is not owned by this SecretSync (uid ${failure.ssUid}); it is not taken over: delete or rename it, or rename the SecretSync`,
      };
    case 'internal':
      return {
        reason: 'ControllerSyncError',
        message: "internal error of the sync controller; see the controller's log",
      };
  }
}

/** Go's %q of a string: JSON's quoting is the same for the printable text names are made of. */
export function goQuote(value: string): string {
  return JSON.stringify(value);
}

/** grpc-go's code names, as its status errors print them. */
const GO_CODE_NAMES: Record<number, string> = {
  [Status.OK]: 'OK',
  [Status.CANCELLED]: 'Canceled',
  [Status.UNKNOWN]: 'Unknown',
  [Status.INVALID_ARGUMENT]: 'InvalidArgument',
  [Status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [Status.NOT_FOUND]: 'NotFound',
  [Status.ALREADY_EXISTS]: 'AlreadyExists',
  [Status.PERMISSION_DENIED]: 'PermissionDenied',
  [Status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [Status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [Status.ABORTED]: 'Aborted',
  [Status.OUT_OF_RANGE]: 'OutOfRange',
  [Status.UNIMPLEMENTED]: 'Unimplemented',
  [Status.INTERNAL]: 'Internal',
  [Status.UNAVAILABLE]: 'Unavailable',
  [Status.DATA_LOSS]: 'DataLoss',
  [Status.UNAUTHENTICATED]: 'Unauthenticated',
};

/** How a provider's gRPC status reads: `rpc error: code = <Code> desc = <details>`, as grpc-go writes it. */
function rpcError(code: number, details: string): string {
  return `rpc error: code = ${GO_CODE_NAMES[code] ?? `Code(${code})`} desc = ${details}`;
}

export interface ProviderFailureContext {
  /** --provider-timeout, for the message of a call that ran out of time. */
  timeoutMs: number;
  /** --max-call-recv-msg-size, for the message of an answer too large. */
  maxCallRecvMsgSize: number;
}

/** A failed provider call, in upstream's words where upstream has any. */
export function providerFailure(err: ProviderCallError, context: ProviderFailureContext): Failure {
  const provider = err.provider ?? '';
  switch (err.reason) {
    // Upstream allows the empty name (`/provider/.sock`) and reports it missing.
    case 'InvalidProviderName':
      return provider === ''
        ? { kind: 'provider-not-found', provider }
        : { kind: 'invalid-provider', provider };
    case 'ProviderNotFound':
      return { kind: 'provider-not-found', provider };
    case 'ProviderError':
      return {
        kind: 'provider',
        detail: `mount request failed with provider error code ${err.providerCode}`,
      };
    case 'NoObjectVersions':
      return { kind: 'provider', detail: 'missing object versions' };
    case 'CallFailed':
      break;
  }
  const grpcDetails = (err.cause as { details?: unknown } | undefined)?.details;
  const details = typeof grpcDetails === 'string' ? grpcDetails : err.message;
  switch (err.code) {
    case Status.DEADLINE_EXCEEDED:
      return {
        kind: 'provider',
        detail: rpcError(
          err.code,
          `${err.message} (--provider-timeout ${Math.round(context.timeoutMs / 1000)}s)`,
        ),
      };
    case Status.RESOURCE_EXHAUSTED:
      return {
        kind: 'provider',
        detail: rpcError(
          err.code,
          `${details}: the answer is larger than --max-call-recv-msg-size (${context.maxCallRecvMsgSize} bytes); raise it to accept larger answers`,
        ),
      };
    case Status.UNAVAILABLE:
      // grpc-go's words once its retry policy gave up.
      return {
        kind: 'provider',
        detail: `${(err.attempts ?? 1) >= 3 ? `max retries exhausted: failed after ${err.attempts} attempts: ` : ''}${rpcError(err.code, details)}`,
      };
    default:
      return { kind: 'provider', detail: rpcError(err.code, details) };
  }
}
