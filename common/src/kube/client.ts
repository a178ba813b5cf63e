// A small Kubernetes API client over node:https: JSON requests, watches and a client-side rate limit.
// Deliberately narrow: the driver and the provider need a handful of verbs on a handful of resources.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

import type { KubeApi, PatchType, RequestOptions } from './api';
import type { KubeConnection } from './connection';
import { KubeApiError } from './errors';
import { RateLimiter } from './rate-limiter';
import type { ApiStatus, WatchEvent } from './types';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface KubeClientOptions {
  /** Requests per second; 0 disables the limit. */
  qps?: number;
  burst?: number;
  userAgent?: string;
  /** Called for every request sent (GET, POST, ..., WATCH): feeds a metric. */
  onRequest?: (verb: string) => void;
}

const TOKEN_FILE_REREAD_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * Connections for requests (watches have their own). Each TLS connection costs a handshake and
 * about 100 KiB; without a bound, 110 publishes at once opened 105 of them and kept them.
 */
const REQUEST_CONNECTIONS = 8;

function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const text = params.toString();
  return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

export class KubeClient implements KubeApi {
  private readonly agent: http.Agent;
  /** Watches hold their connection for minutes: apart, so they never wait for a request's slot. */
  private readonly watchAgent: http.Agent;
  private readonly base: URL;
  private readonly limiter: RateLimiter;
  private readonly userAgent: string;
  private readonly onRequest?: (verb: string) => void;
  private cachedToken?: { value: string; readAt: number };

  constructor(
    readonly connection: KubeConnection,
    options: KubeClientOptions = {},
  ) {
    this.base = new URL(connection.server);
    const secureContext =
      this.base.protocol === 'https:'
        ? tls.createSecureContext({ ca: connection.ca, cert: connection.cert, key: connection.key })
        : undefined;
    const makeAgent = (maxSockets?: number): http.Agent => {
      if (this.base.protocol !== 'https:') return new http.Agent({ keepAlive: true, maxSockets });
      return new https.Agent({
        keepAlive: true,
        maxSockets,
        // One context for every connection: otherwise each one parses the CA and the key again.
        secureContext,
        rejectUnauthorized: !connection.insecureSkipTlsVerify,
      });
    };
    this.agent = makeAgent(REQUEST_CONNECTIONS);
    this.watchAgent = makeAgent();
    this.limiter = new RateLimiter(options.qps ?? 50, options.burst ?? 100);
    this.userAgent = options.userAgent ?? 'secrets-store-csi';
    this.onRequest = options.onRequest;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  private bearerToken(): string | undefined {
    if (this.connection.token) return this.connection.token;
    const file = this.connection.tokenFile;
    if (!file) return undefined;
    // The monotonic clock: a wall clock stepped back must not put the next read off.
    const now = performance.now();
    if (!this.cachedToken || now - this.cachedToken.readAt > TOKEN_FILE_REREAD_MS) {
      this.cachedToken = { value: fs.readFileSync(file, 'utf8').trim(), readAt: now };
    }
    return this.cachedToken.value;
  }

  private count(verb: string): void {
    this.onRequest?.(verb);
  }

  private open(
    method: string,
    path: string,
    opts: RequestOptions,
    accept: string,
    agent = this.agent,
  ): Promise<http.IncomingMessage> {
    const url = new URL(withQuery(path, opts.query), this.base);
    const headers: Record<string, string> = { Accept: accept, 'User-Agent': this.userAgent };
    const token = this.bearerToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      // A request waiting for one of the agent's connections has no socket yet, so neither the
      // socket's timeout nor (until a connection frees) its signal would end it: the deadline runs
      // from now and an abort rejects at once; the request, destroyed, is dropped from the queue.
      let deadline: NodeJS.Timeout | undefined;
      const settle = (): void => {
        clearTimeout(deadline);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: Error): void => {
        settle();
        req.destroy(err);
        reject(err);
      };
      const onAbort = (): void =>
        fail(
          Object.assign(new Error(`${method} ${path}: aborted`), { name: 'AbortError', code: 'ABORT_ERR' }),
        );
      const req = transport.request(url, { method, headers, agent, signal: opts.signal }, (res) => {
        settle();
        resolve(res);
      });
      req.on('error', (err) => {
        settle();
        reject(err);
      });
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== 0) {
        const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        const timedOut = (): NodeJS.ErrnoException => {
          // ETIMEDOUT, as the network's own timeouts: callers answer DEADLINE_EXCEEDED, not INTERNAL.
          const err: NodeJS.ErrnoException = new Error(
            `${method} ${path}: no answer from the API server within ${timeoutMs} ms`,
          );
          err.code = 'ETIMEDOUT';
          return err;
        };
        deadline = setTimeout(() => fail(timedOut()), timeoutMs);
        // Once answered, a body that stops arriving for as long fails the same way.
        req.setTimeout(timeoutMs, () => req.destroy(timedOut()));
      }
      req.end(payload);
    });
  }

  /** Sends one request and returns the decoded JSON body; non-2xx answers throw KubeApiError. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    await this.limiter.take(opts.signal);
    this.count(method);
    const res = await this.open(method, path, opts, opts.accept ?? 'application/json');
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      let body: ApiStatus | undefined;
      try {
        body = JSON.parse(text) as ApiStatus;
      } catch {
        body = { message: text.slice(0, 200) };
      }
      throw KubeApiError.fromStatus(method, path, status, body);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  replace<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body });
  }

  patch<T>(path: string, body: unknown, type: PatchType, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body, contentType: PATCH_CONTENT_TYPES[type] });
  }

  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, opts);
  }

  /**
   * Streams a watch, calling `onEvent` for each event, until the server ends it (resolves) or it
   * fails (rejects). Abort `signal` to stop it.
   */
  async watch<T>(
    path: string,
    query: RequestOptions['query'],
    onEvent: (event: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.limiter.take(signal);
    this.count('WATCH');
    const res = await this.open(
      'GET',
      path,
      { query: { ...query, watch: true }, signal, timeoutMs: 0 },
      'application/json',
      this.watchAgent,
    );
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      let body: ApiStatus | undefined;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiStatus;
      } catch {
        body = undefined;
      }
      throw KubeApiError.fromStatus('WATCH', path, status, body);
    }
    let pending = '';
    try {
      for await (const chunk of res) {
        pending += (chunk as Buffer).toString('utf8');
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
          newline = pending.indexOf('\n');
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
  }
}
