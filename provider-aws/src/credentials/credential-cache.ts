// AWS credentials kept per identity until shortly before they expire, with one fetch in flight per
// identity: 110 pods of one ServiceAccount starting together make one STS call, not 110. Callers
// reach this only after their own token verified locally (identity.ts); the cache makes sure that
// no caller's cancellation or failure becomes another caller's:
// - the shared fetch runs with a signal of its own, aborted only when every caller waiting on it
//   has given up; each caller stops waiting when its own signal aborts;
// - a caller that joined a fetch started with another caller's proof (token) and saw it fail tries
//   once with its own proof.

import { unlessAborted } from '../abortable';

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

interface InFlight {
  promise: Promise<AwsCredentials>;
  proof: string;
  waiting: number;
  controller: AbortController;
}

export class CredentialCache {
  private readonly entries = new Map<string, { credentials: AwsCredentials; refreshAt: number }>();
  private readonly inFlight = new Map<string, InFlight>();

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
    if (request.signal?.aborted) throw request.signal.reason as Error;
    const running = this.inFlight.get(key);
    if (!running) return this.wait(key, this.start(key, request), request.signal);
    try {
      return await this.wait(key, running, request.signal);
    } catch (err) {
      if (request.signal?.aborted || running.proof === request.proof) throw err;
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

  private start(key: string, request: CredentialRequest): InFlight {
    const controller = new AbortController();
    const entry: InFlight = {
      proof: request.proof,
      waiting: 0,
      controller,
      promise: request.fetch(controller.signal).then((credentials) => {
        this.store(key, credentials);
        return credentials;
      }),
    };
    const forget = () => {
      if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
    };
    entry.promise.then(forget, forget);
    this.inFlight.set(key, entry);
    return entry;
  }

  private async wait(key: string, entry: InFlight, signal: AbortSignal | undefined): Promise<AwsCredentials> {
    entry.waiting++;
    try {
      return await unlessAborted(entry.promise, signal);
    } finally {
      entry.waiting--;
      if (entry.waiting === 0 && signal?.aborted) {
        // The last caller gave up: stop the fetch, and let the next caller start a new one.
        if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
        entry.controller.abort(signal.reason);
      }
    }
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
