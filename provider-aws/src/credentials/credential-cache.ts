// AWS credentials kept per identity until shortly before they expire, with one fetch in flight per
// identity (a single flight): 110 pods of one ServiceAccount starting together make one STS call,
// not 110. Callers reach this only after their own token verified locally (identity.ts); the cache
// makes sure that no caller's cancellation or failure becomes another caller's:
// - the shared fetch runs with a signal of its own, aborted only when every caller waiting on it
//   has given up; each caller stops waiting when its own signal aborts;
// - a caller that joined a fetch started with another caller's proof (token) and saw it fail tries
//   once with its own proof.
import type { SharedCall } from '@sscsi/common';
import { SingleFlight } from '@sscsi/common';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export interface CredentialRequest {
  /** What this caller proves its identity with (its token): it tells callers apart. */
  proof: string;
  /** Gets credentials with this caller's proof; `signal` aborts it. */
  fetch(signal: AbortSignal): Promise<AwsCredentials>;
  /** This caller's cancellation: it stops waiting, and the fetch stops once no one waits. */
  signal?: AbortSignal;
}

/** Credentials are not used in their last five minutes (or last fifth, for short-lived ones). */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** Pod Identity keeps credentials per pod: pods that come and go must not grow the cache for ever. */
const MAX_ENTRIES = 4096;

export class CredentialCache {
  private readonly entries = new Map<string, { credentials: AwsCredentials; refreshAt: number }>();
  private readonly inFlight = new SingleFlight<string, AwsCredentials>();
  /** The proof each fetch in flight was started with. */
  private readonly proofs = new WeakMap<SharedCall<AwsCredentials>, string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Usable credentials for `key`, or undefined. */
  get(key: string): AwsCredentials | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() >= entry.refreshAt) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.credentials;
  }

  /** Joins the fetch for `key` under way, or starts one with `request`; stores what it gets. */
  async fetch(key: string, request: CredentialRequest): Promise<AwsCredentials> {
    request.signal?.throwIfAborted();
    const running = this.inFlight.get(key);
    if (!running) return this.start(key, request).wait(request.signal);
    try {
      return await running.wait(request.signal);
    } catch (err) {
      if (request.signal?.aborted || this.proofs.get(running) === request.proof) throw err;
      // Someone else's attempt failed; this caller's own proof may not.
      const controller = new AbortController();
      const stop = () => controller.abort(request.signal?.reason);
      request.signal?.addEventListener('abort', stop, { once: true });
      try {
        const credentials = await request.fetch(controller.signal);
        this.store(key, credentials);
        return credentials;
      } finally {
        request.signal?.removeEventListener('abort', stop);
      }
    }
  }

  private start(key: string, request: CredentialRequest): SharedCall<AwsCredentials> {
    const started = this.inFlight.start(key, (signal) =>
      request.fetch(signal).then((credentials) => {
        this.store(key, credentials);
        return credentials;
      }),
    );
    this.proofs.set(started, request.proof);
    return started;
  }

  private store(key: string, credentials: AwsCredentials): void {
    const expires = credentials.expiration?.getTime();
    if (expires === undefined) return;
    const now = this.now();
    const margin = Math.min(REFRESH_MARGIN_MS, (expires - now) / 5);
    if (expires - margin <= now) return;
    this.entries.delete(key);
    this.entries.set(key, { credentials, refreshAt: expires - margin });
    if (this.entries.size <= MAX_ENTRIES) return;
    for (const [k, entry] of this.entries) if (now >= entry.refreshAt) this.entries.delete(k);
    // Still full of live credentials: the ones stored longest ago go (their owner fetches again).
    for (const k of this.entries.keys()) {
      if (this.entries.size <= MAX_ENTRIES) break;
      this.entries.delete(k);
    }
  }

  /** Credentials kept. */
  get size(): number {
    return this.entries.size;
  }

  /** Fetches under way. */
  get fetching(): number {
    return this.inFlight.size;
  }
}
