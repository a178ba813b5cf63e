// The closed set of reasons a mount fails for. Each answers the driver with a gRPC code and a
// message that names what is wrong (object, region, AWS error code) and what to fix; never a value
// or a token. The same reason labels the mount metrics.
import { Status, StatusError } from '@sscsi/common';

export type MountFailure =
  | 'InvalidMountRequest'
  | 'InvalidParameters'
  | 'MissingToken'
  | 'MissingRoleAnnotation'
  | 'RegionNotFound'
  | 'KubernetesError'
  | 'CredentialsError'
  | 'FetchError'
  | 'InvalidSecretContent'
  | 'WriteError';

const CODES: Record<MountFailure, Status> = {
  InvalidMountRequest: Status.INVALID_ARGUMENT,
  InvalidParameters: Status.INVALID_ARGUMENT,
  MissingToken: Status.FAILED_PRECONDITION,
  MissingRoleAnnotation: Status.FAILED_PRECONDITION,
  RegionNotFound: Status.FAILED_PRECONDITION,
  KubernetesError: Status.UNAVAILABLE,
  CredentialsError: Status.UNAUTHENTICATED,
  FetchError: Status.INTERNAL,
  InvalidSecretContent: Status.FAILED_PRECONDITION,
  WriteError: Status.INTERNAL,
};

export class MountError extends StatusError {
  override name = 'MountError';

  constructor(
    readonly reason: MountFailure,
    message: string,
    options?: { cause?: unknown; code?: Status },
  ) {
    super(options?.code ?? CODES[reason], message, options);
  }
}

export const invalidParameters = (message: string): MountError =>
  new MountError('InvalidParameters', message);

export function failureOf(err: unknown): MountFailure | 'Internal' {
  return err instanceof MountError ? err.reason : 'Internal';
}
