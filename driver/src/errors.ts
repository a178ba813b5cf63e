// The closed set of reasons a driver operation fails for. The same reason answers the gRPC call
// (through its code), appears in the log and labels node_publish_error_reason_total; upstream's
// metrics get upstream's own error_type for it, so that dashboards and alerts written for upstream
// keep working.
import type { ProviderFailure } from '@sscsi/common';
import { ProviderCallError, Status, StatusError } from '@sscsi/common';

export type FailureReason =
  | 'InvalidRequest'
  | 'SecretProviderClassNotFound'
  | 'FailedToReadSecretProviderClass'
  | 'InvalidSecretProviderClass'
  | 'VolumeBusy'
  | 'FailedToLookupProviderGRPCClient'
  | 'GRPCProviderError'
  | 'ProviderError'
  | 'FailedToEnsureMountPoint'
  | 'FailedToMount'
  | 'FileWriteError'
  | 'FailedToUpdateStatus'
  | 'FailedToUnmount';

/** The code each reason answers unless the failure knows better (a provider's own status). */
const CODES: Record<FailureReason, Status> = {
  InvalidRequest: Status.INVALID_ARGUMENT,
  SecretProviderClassNotFound: Status.NOT_FOUND,
  FailedToReadSecretProviderClass: Status.UNAVAILABLE,
  InvalidSecretProviderClass: Status.INVALID_ARGUMENT,
  VolumeBusy: Status.DEADLINE_EXCEEDED,
  FailedToLookupProviderGRPCClient: Status.UNAVAILABLE,
  GRPCProviderError: Status.UNAVAILABLE,
  ProviderError: Status.INTERNAL,
  FailedToEnsureMountPoint: Status.INTERNAL,
  FailedToMount: Status.INTERNAL,
  FileWriteError: Status.INTERNAL,
  FailedToUpdateStatus: Status.INTERNAL,
  FailedToUnmount: Status.INTERNAL,
};

/**
 * The error_type upstream (v1.6) reports on node_publish_error_total and
 * rotation_reconcile_error_total for each reason. Upstream sets it in only a few places and falls
 * back to FailedToMount; any failure to read the class is SecretProviderClassNotFound there. Two
 * departures: upstream leaves error_type empty when the provider's socket is missing or the pod
 * status cannot be written; we say FailedToLookupProviderGRPCClient (upstream's own name for it,
 * used by its rotation reconciler up to v1.5) and FailedToMount (its catch-all).
 */
const UPSTREAM_ERROR_TYPES: Record<FailureReason, string> = {
  InvalidRequest: 'FailedToMount',
  SecretProviderClassNotFound: 'SecretProviderClassNotFound',
  FailedToReadSecretProviderClass: 'SecretProviderClassNotFound',
  InvalidSecretProviderClass: 'FailedToMount',
  VolumeBusy: 'FailedToMount',
  FailedToLookupProviderGRPCClient: 'FailedToLookupProviderGRPCClient',
  GRPCProviderError: 'GRPCProviderError',
  ProviderError: 'ProviderError',
  FailedToEnsureMountPoint: 'FailedToEnsureMountPoint',
  FailedToMount: 'FailedToMount',
  FileWriteError: 'FileWriteError',
  FailedToUpdateStatus: 'FailedToMount',
  FailedToUnmount: 'FailedToMount',
};

export class DriverError extends StatusError {
  override name = 'DriverError';
  /** The error_type label of upstream's metrics. */
  readonly errorType: string;

  /**
   * @param options.errorType the provider's own error code, which upstream reports as error_type.
   */
  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: { cause?: unknown; code?: Status; errorType?: string },
  ) {
    super(options?.code ?? CODES[reason], message, options);
    this.errorType = options?.errorType ?? UPSTREAM_ERROR_TYPES[reason];
  }
}

/** The error_type label for any failure: upstream's name for it, FailedToMount for the unforeseen. */
export function errorTypeOf(err: unknown): string {
  return err instanceof DriverError ? err.errorType : 'FailedToMount';
}

/** Our own finer label for any failure (node_publish_error_reason_total). */
export function failureReasonOf(err: unknown): FailureReason | 'Unexpected' {
  return err instanceof DriverError ? err.reason : 'Unexpected';
}

/** The driver's reason for each way a provider call fails (common's provider client). */
const PROVIDER_FAILURES: Record<ProviderFailure, FailureReason> = {
  InvalidProviderName: 'FailedToLookupProviderGRPCClient',
  ProviderNotFound: 'FailedToLookupProviderGRPCClient',
  CallFailed: 'GRPCProviderError',
  ProviderError: 'ProviderError',
  NoObjectVersions: 'GRPCProviderError',
};

/**
 * A failed provider call as the driver reports it: the same message and code, with the driver's
 * reason and upstream's error_type (the provider's own error code for a ProviderError).
 */
export function driverErrorOfProviderCall(err: unknown): unknown {
  if (!(err instanceof ProviderCallError)) return err;
  return new DriverError(PROVIDER_FAILURES[err.reason], err.message, {
    cause: err,
    code: err.code,
    errorType: err.providerCode,
  });
}

export const invalidRequest = (message: string): DriverError => new DriverError('InvalidRequest', message);
