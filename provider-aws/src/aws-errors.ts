// What an AWS SDK error means for a mount: its AWS error code, whether trying again (or the
// failover region) can help, and the gRPC code to answer with.
import { Status } from '@sscsi/common';

export interface AwsErrorInfo {
  /** The AWS error code, e.g. AccessDeniedException, or a network error name. */
  code: string;
  /** Throttling, server-side (5xx) and network faults: worth a retry or the failover region. */
  retriable: boolean;
  status: Status;
  /** The AWS message, shortened; AWS messages name ARNs and actions, never secret values. */
  message: string;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);
const NOT_FOUND = new Set([
  'ResourceNotFoundException',
  'ParameterNotFound',
  'ParameterVersionNotFound',
  'ParameterVersionLabelNotFound',
  'InvalidParameters',
]);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'DecryptionFailure',
  'KMSAccessDeniedException',
]);
/** Faults of a dependency of AWS that AWS itself says to retry. */
const UPSTREAM_UNAVAILABLE = new Set([
  // STS could not reach the cluster's OIDC issuer to check a web identity token.
  'IDPCommunicationError',
]);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

export function classifyAwsError(err: unknown): AwsErrorInfo {
  const e = (err ?? {}) as SdkError;
  const code = (NETWORK.has(e.code ?? '') ? e.code : e.name) || e.code || 'UnknownError';
  const http = e.$metadata?.httpStatusCode ?? 0;
  const message = (e.message ?? '').replace(/\s+/g, ' ').slice(0, 600);
  if (THROTTLING.has(code) || e.$retryable?.throttling)
    return { code, retriable: true, status: Status.UNAVAILABLE, message };
  if (
    NETWORK.has(code) ||
    UPSTREAM_UNAVAILABLE.has(code) ||
    code === 'TimeoutError' ||
    code === 'RequestTimeout'
  ) {
    return { code, retriable: true, status: Status.UNAVAILABLE, message };
  }
  if (http >= 500 || e.$fault === 'server')
    return { code, retriable: true, status: Status.UNAVAILABLE, message };
  if (DENIED.has(code)) return { code, retriable: false, status: Status.PERMISSION_DENIED, message };
  if (NOT_FOUND.has(code)) return { code, retriable: false, status: Status.NOT_FOUND, message };
  if (code === 'AbortError') return { code, retriable: false, status: Status.DEADLINE_EXCEEDED, message };
  return { code, retriable: false, status: Status.INTERNAL, message };
}
