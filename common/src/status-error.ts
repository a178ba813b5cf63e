// Errors that carry a gRPC status, and the one function that turns anything thrown into a status.
import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';

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

/**
 * Maps a thrown value to the error a gRPC handler returns. A StatusError keeps its code and message;
 * anything else becomes INTERNAL with a generic message, its details going to the log only.
 */
export function toServiceError(err: unknown, logger: Logger, method: string): Partial<grpc.ServiceError> {
  if (err instanceof StatusError) return { code: err.code, details: err.message };
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
