// Why a call to a provider failed, as a closed set of reasons with the gRPC code to answer. Each
// program maps the reason to its own failure reasons and metric labels; the message names the
// provider and stays as it is, since users and upstream's tests grep it.
import { Status, StatusError } from '../status-error';

export type ProviderFailure =
  /** The name cannot be a socket file name. */
  | 'InvalidProviderName'
  /** No `<provider>.sock` in the socket folders. */
  | 'ProviderNotFound'
  /** The call failed: no connection, a deadline, a cancellation or the provider's gRPC status. */
  | 'CallFailed'
  /** The provider answered with an error code in its MountResponse. */
  | 'ProviderError'
  /** The provider answered without any object version. */
  | 'NoObjectVersions';

/** The code each reason answers unless the failure knows better (the provider's gRPC status). */
const CODES: Record<ProviderFailure, Status> = {
  InvalidProviderName: Status.INVALID_ARGUMENT,
  ProviderNotFound: Status.UNAVAILABLE,
  CallFailed: Status.UNAVAILABLE,
  ProviderError: Status.INTERNAL,
  NoObjectVersions: Status.INTERNAL,
};

export class ProviderCallError extends StatusError {
  override name = 'ProviderCallError';
  /** The provider's own error code (MountResponse.error.code), for a ProviderError. */
  readonly providerCode: string | undefined;
  /** The provider called (or the name that could not name one). */
  readonly provider: string | undefined;
  /** Attempts made at the call, for a CallFailed. */
  readonly attempts: number | undefined;

  constructor(
    readonly reason: ProviderFailure,
    message: string,
    options?: { cause?: unknown; code?: Status; providerCode?: string; provider?: string; attempts?: number },
  ) {
    super(options?.code ?? CODES[reason], message, options);
    this.providerCode = options?.providerCode;
    this.provider = options?.provider;
    this.attempts = options?.attempts;
  }
}
