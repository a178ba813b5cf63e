// What programs ask of the Kubernetes API server. Code that takes a client depends on this (or on a
// Pick of it), never on KubeClient itself, so tests hand it the in-memory FakeKube of
// common/src/testing without a cast.
import type { WatchEvent } from './types';

/**
 * `apply` is server-side apply: the body is the whole object as the caller wants it (JSON, which is
 * YAML), and `fieldManager` in the query names who applies it.
 */
export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Default application/json; some endpoints (the service-account JWKS) answer another type. */
  accept?: string;
  signal?: AbortSignal;
  /** Default 30 s. */
  timeoutMs?: number;
}

/**
 * The verbs on API paths (`resourcePath` builds them). Non-2xx answers reject with KubeApiError,
 * whose status `isNotFound`, `isConflict`, `isGone`, ... classify.
 */
export interface KubeApi {
  /** One object (a path with a name) or a list (`KubeList`, a collection's path). */
  get<T>(path: string, opts?: RequestOptions): Promise<T>;
  /** POST to a collection; 409 AlreadyExists when the name is taken. */
  create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T>;
  /** PUT of a whole object; 409 Conflict when its resourceVersion is not the stored one. */
  replace<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T>;
  patch<T>(path: string, body: unknown, type: PatchType, opts?: RequestOptions): Promise<T>;
  /** `opts.body` may carry DeleteOptions (preconditions, propagationPolicy). */
  delete<T>(path: string, opts?: RequestOptions): Promise<T>;
  /**
   * Streams a watch of a collection, calling `onEvent` for each event, until the server ends it
   * (resolves) or it fails (rejects; an exception thrown by `onEvent` ends it too). Aborting
   * `signal` ends it quietly. `query.resourceVersion` is where it starts; one the server no longer
   * holds is answered 410 Gone (an ERROR event with that Status, or the HTTP status).
   */
  watch<T>(
    path: string,
    query: RequestOptions['query'],
    onEvent: (event: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void>;
}
