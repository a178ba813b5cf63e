import type { ApiStatus } from './types';

/** An error answer of the API server, with its HTTP status and the `reason` of its Status body. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';

  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
    /** The Status message alone, as client-go's errors read (`secrets "x" is forbidden: ...`). */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${detail}`, options);
  }

  static fromStatus(
    method: string,
    path: string,
    httpStatus: number,
    body: ApiStatus | undefined,
  ): KubeApiError {
    return new KubeApiError(
      method,
      path,
      httpStatus,
      body?.reason || String(httpStatus),
      body?.message || 'no details',
    );
  }
}

function hasStatus(err: unknown, status: number): boolean {
  return err instanceof KubeApiError && err.status === status;
}

export const isNotFound = (err: unknown): boolean => hasStatus(err, 404);
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';
export const isConflict = (err: unknown): boolean =>
  err instanceof KubeApiError && err.status === 409 && err.reason !== 'AlreadyExists';
export const isForbidden = (err: unknown): boolean => hasStatus(err, 403);
export const isGone = (err: unknown): boolean => hasStatus(err, 410);
