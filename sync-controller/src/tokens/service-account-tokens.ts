// The ServiceAccount tokens sent to providers (`csi.storage.k8s.io/serviceAccount.tokens`), as
// upstream gets them: one TokenRequest per (namespace, ServiceAccount, audience), 600 s, bound to
// no object, kept the way the kubelet keeps its tokens: reused until 80 % of their lifetime (or
// 24 h) has passed, less a random 0-9 s, then requested again; a failed renewal of a token still
// valid keeps the old one. One request at a time per token, however many SecretSyncs ask.
// Tokens are never logged and no error carries one.
import type { KubeObject, Logger, TokenRequest } from '@sscsi/common';
import { KubeApiError, Resources, resourcePath, SingleFlight } from '@sscsi/common';

import { goQuote, SyncFailure } from '../sync/failure';
import { kubeTime } from '../sync/conditions';
import { goString, goSortedKeys } from '../sync/go-json';

export const TOKENS_ATTRIBUTE = 'csi.storage.k8s.io/serviceAccount.tokens';
export const TOKEN_EXPIRATION_SECONDS = 600;
const MAX_TTL_MS = 24 * 3600_000;
const MAX_JITTER_SECONDS = 10;
/** Upstream drops expired tokens every minute. */
const PRUNE_EVERY_MS = 60_000;

/** What the tokens need of the Kubernetes API. */
export interface TokenApi {
  create<T>(path: string, body: unknown, opts?: { signal?: AbortSignal }): Promise<T>;
}

interface Token {
  token: string;
  expiresAtMs: number;
  /** As the API answered it; without it the token is never renewed, as upstream. */
  expirationSeconds: number | undefined;
}

export interface ServiceAccountTokensOptions {
  kube: TokenApi;
  /** --token-request-audience, trimmed; empty: no TokenRequest, no attribute. */
  audiences: readonly string[];
  logger: Logger;
  now?: () => number;
  /** In [0, 1): the jitter of each refresh decision. */
  random?: () => number;
  /** Each TokenRequest sent, and its outcome. */
  requested?: (outcome: 'issued' | 'failed') => void;
}

/** Upstream's cache key (the kubelet's), which its "expired and refresh failed" message shows. */
function cacheKey(namespace: string, serviceAccount: string, audience: string): string {
  return `${goQuote(serviceAccount)}/${goQuote(namespace)}/[]string{${goQuote(audience)}}/${TOKEN_EXPIRATION_SECONDS}/v1.BoundObjectReference{Kind:"", APIVersion:"", Name:"", UID:""}`;
}

/** The API's own message, as client-go's error reads, never a response body. */
function describe(err: unknown): string {
  if (err instanceof KubeApiError) return err.detail;
  return err instanceof Error ? err.message : String(err);
}

export class ServiceAccountTokens {
  private readonly tokens = new Map<string, Token>();
  private readonly requests = new SingleFlight<string, Token>();
  private readonly now: () => number;
  private readonly random: () => number;
  private prunedAt: number;

  constructor(private readonly o: ServiceAccountTokensOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.prunedAt = this.now();
  }

  get audiences(): readonly string[] {
    return this.o.audiences;
  }

  /**
   * The tokens attribute's value for a ServiceAccount (audiences in order, one token each), or
   * undefined without audiences. A failure is a SyncFailure of kind `token`.
   */
  async attribute(
    namespace: string,
    serviceAccount: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (this.o.audiences.length === 0) return undefined;
    const byAudience = new Map<string, Token>();
    try {
      for (const audience of this.o.audiences)
        byAudience.set(audience, await this.token(namespace, serviceAccount, audience, signal));
    } finally {
      this.prune();
    }
    const entries = goSortedKeys(byAudience.keys()).map((audience) => {
      const t = byAudience.get(audience) as Token;
      return `${goString(audience)}:{"token":${goString(t.token)},"expirationTimestamp":${goString(kubeTime(t.expiresAtMs))}}`;
    });
    return `{${entries.join(',')}}`;
  }

  /** Tokens held. */
  get size(): number {
    return this.tokens.size;
  }

  private async token(
    namespace: string,
    serviceAccount: string,
    audience: string,
    signal: AbortSignal | undefined,
  ): Promise<Token> {
    const key = cacheKey(namespace, serviceAccount, audience);
    const cached = this.tokens.get(key);
    if (cached && !this.requiresRefresh(cached)) return cached;
    let fresh: Token;
    try {
      fresh = await this.requests.run(
        key,
        (s) => this.request(namespace, serviceAccount, audience, s),
        signal,
      );
    } catch (err) {
      if (signal?.aborted) throw err;
      if (!cached)
        throw new SyncFailure(
          { kind: 'token', detail: `failed to fetch token: ${describe(err)}` },
          { cause: err },
        );
      if (this.now() > cached.expiresAtMs)
        throw new SyncFailure(
          { kind: 'token', detail: `token ${key} expired and refresh failed: ${describe(err)}` },
          { cause: err },
        );
      this.o.logger.warn(
        { namespace, serviceAccount, audience, err: describe(err) },
        "Couldn't update token; the current one is still valid",
      );
      return cached;
    }
    this.tokens.set(key, fresh);
    return fresh;
  }

  private async request(
    namespace: string,
    serviceAccount: string,
    audience: string,
    signal: AbortSignal,
  ): Promise<Token> {
    const body: TokenRequest = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: [audience], expirationSeconds: TOKEN_EXPIRATION_SECONDS },
    };
    let answer: TokenRequest & Partial<KubeObject>;
    try {
      answer = await this.o.kube.create(
        `${resourcePath(Resources.serviceAccounts, namespace, serviceAccount)}/token`,
        body,
        { signal },
      );
    } catch (err) {
      this.o.requested?.('failed');
      throw err;
    }
    const token = answer.status?.token;
    const expiresAtMs = Date.parse(answer.status?.expirationTimestamp ?? '');
    if (!token || Number.isNaN(expiresAtMs)) {
      this.o.requested?.('failed');
      throw new Error('the TokenRequest answer holds no token or no expirationTimestamp');
    }
    this.o.requested?.('issued');
    return { token, expiresAtMs, expirationSeconds: answer.spec?.expirationSeconds };
  }

  /** The kubelet's rule: past 24 h since issue, or within 20 % of the lifetime of expiry, less jitter. */
  private requiresRefresh(t: Token): boolean {
    if (t.expirationSeconds === undefined) return false;
    const now = this.now();
    const jitterMs = Math.floor(this.random() * MAX_JITTER_SECONDS) * 1000;
    const issuedAtMs = t.expiresAtMs - t.expirationSeconds * 1000;
    if (now > issuedAtMs + MAX_TTL_MS - jitterMs) return true;
    const marginMs = Math.floor((t.expirationSeconds * 20) / 100) * 1000;
    return now > t.expiresAtMs - marginMs - jitterMs;
  }

  private prune(): void {
    const now = this.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    for (const [key, t] of this.tokens) if (now > t.expiresAtMs) this.tokens.delete(key);
  }
}
