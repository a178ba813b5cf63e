// The closed set of reasons a driver operation fails for. The same reason answers the gRPC call
// (through its code), labels the error metrics (error_type) and appears in the log.
import { Status, StatusError } from '@sscsi/common';

export type FailureReason =
  | 'InvalidRequest'
  | 'SecretProviderClassNotFound'
  | 'InvalidSecretProviderClass'
  | 'FailedToLookupProviderGRPCClient'
  | 'GRPCProviderError'
  | 'ProviderError'
  | 'FailedToEnsureMountPoint'
  | 'FailedToMount'
  | 'FileWriteError'
  | 'FailedToUpdateStatus'
  | 'FailedToUnmount';

const CODES: Record<FailureReason, Status> = {
  InvalidRequest: Status.INVALID_ARGUMENT,
  SecretProviderClassNotFound: Status.NOT_FOUND,
  InvalidSecretProviderClass: Status.INVALID_ARGUMENT,
  FailedToLookupProviderGRPCClient: Status.UNAVAILABLE,
  GRPCProviderError: Status.UNAVAILABLE,
  ProviderError: Status.INTERNAL,
  FailedToEnsureMountPoint: Status.INTERNAL,
  FailedToMount: Status.INTERNAL,
  FileWriteError: Status.INTERNAL,
  FailedToUpdateStatus: Status.INTERNAL,
  FailedToUnmount: Status.INTERNAL,
};

export class DriverError extends StatusError {
  override name = 'DriverError';
  /** The metric label (error_type). */
  readonly errorType: string;

  /**
   * @param errorType the metric label; the reason itself unless the provider named its own code.
   */
  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: { cause?: unknown; code?: Status; errorType?: string },
  ) {
    super(options?.code ?? CODES[reason], message, options);
    this.errorType = options?.errorType ?? reason;
  }
}

/** The metric label for any failure: its reason, or FailedToMount (upstream's catch-all). */
export function errorTypeOf(err: unknown): string {
  return err instanceof DriverError ? err.errorType : 'FailedToMount';
}

export const invalidRequest = (message: string): DriverError => new DriverError('InvalidRequest', message);
