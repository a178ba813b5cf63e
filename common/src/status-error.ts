// Errors that carry a gRPC status, and the one function that turns anything thrown into a status.
import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';

import { KubeApiError } from './kube/errors';
import type { Logger } from './logger';

export { Status };

/** A failure with the gRPC code to answer and a message safe to show to the caller. */
export class StatusError extends Error {
  override name = 'StatusError';

  constructor(
    readonly code: Status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Network failures on the way to the API server: it is down, restarting or unreachable. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

const errnoCode = (err: unknown): string | undefined =>
  err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string'
    ? (err as NodeJS.ErrnoException).code
    : undefined;

const isAbort = (err: unknown): boolean =>
  err instanceof Error && (err.name === 'AbortError' || errnoCode(err) === 'ABORT_ERR');

/**
 * The gRPC code for a failed Kubernetes API request: from the HTTP status of the API server's
 * answer, or from the network failure when there was no answer. What the caller can do about it
 * decides: retry (UNAVAILABLE, RESOURCE_EXHAUSTED), fix permissions (PERMISSION_DENIED), and so on.
 */
export function statusOfKubeFailure(err: unknown): Status {
  if (err instanceof KubeApiError) {
    switch (err.status) {
      case 400:
      case 422:
        return Status.INVALID_ARGUMENT;
      case 401:
        return Status.UNAUTHENTICATED;
      case 403:
        return Status.PERMISSION_DENIED;
      case 404:
      case 410:
        return Status.NOT_FOUND;
      case 409:
        return err.reason === 'AlreadyExists' ? Status.ALREADY_EXISTS : Status.ABORTED;
      case 429:
        return Status.RESOURCE_EXHAUSTED;
      case 504:
        return Status.DEADLINE_EXCEEDED;
      default:
        // 5xx: the API server or etcd in trouble, usually for a moment.
        return err.status >= 500 ? Status.UNAVAILABLE : Status.UNKNOWN;
    }
  }
  if (isAbort(err)) return Status.CANCELLED;
  const code = errnoCode(err);
  if (code === 'ETIMEDOUT') return Status.DEADLINE_EXCEEDED;
  if (code && UNREACHABLE.has(code)) return Status.UNAVAILABLE;
  return Status.INTERNAL;
}

/** A failed Kubernetes API request in words: the API server's answer, or why there was none. */
export function describeKubeFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof KubeApiError || isAbort(err)) return message;
  const code = errnoCode(err);
  if (code === 'ETIMEDOUT' || (code && UNREACHABLE.has(code)))
    return `the API server is unreachable: ${message}`;
  return message;
}

/**
 * Maps a thrown value to the error a gRPC handler returns. A StatusError keeps its code and message;
 * an API server answer gets the code of its HTTP status and keeps its message (the request and
 * the server's reason); anything else becomes INTERNAL with a generic message, its details going
 * to the log only.
 */
export function toServiceError(err: unknown, logger: Logger, method: string): Partial<grpc.ServiceError> {
  if (err instanceof StatusError) return { code: err.code, details: err.message };
  if (err instanceof KubeApiError) return { code: statusOfKubeFailure(err), details: err.message };
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'number' && 'details' in err) {
    // An error from a gRPC client call (for example to a provider) passes through with its code.
    return { code: err.code as Status, details: String(err.details) };
  }
  logger.error({ err, method }, 'unexpected error');
  return { code: Status.INTERNAL, details: `${method}: internal error (see the log)` };
}

/**
 * Wraps an async handler into grpc-js's callback style, routing every failure through toServiceError.
 */
export function unary<Req, Res>(
  logger: Logger,
  method: string,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handler(call.request, call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err, logger, method) as grpc.ServiceError),
    );
  };
}
