// AWS credentials kept per identity until shortly before they expire, with one fetch in flight per
// identity: 110 pods of one ServiceAccount starting together make one STS call, not 110.

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Credentials are not used in their last five minutes (or last fifth, for short-lived ones). */
const REFRESH_MARGIN_MS = 5 * 60_000;

export class CredentialCache {
  private readonly entries = new Map<string, { credentials: AwsCredentials; refreshAt: number }>();
  private readonly inFlight = new Map<string, Promise<AwsCredentials>>();

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

  /** A fetch for `key` already under way, if any. */
  pending(key: string): Promise<AwsCredentials> | undefined {
    return this.inFlight.get(key);
  }

  /** Runs `fetch` for `key` unless one is running; stores its result. */
  fetch(key: string, fetch: () => Promise<AwsCredentials>): Promise<AwsCredentials> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = fetch()
      .then((credentials) => {
        this.store(key, credentials);
        return credentials;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  private store(key: string, credentials: AwsCredentials): void {
    const expires = credentials.expiration?.getTime();
    if (expires === undefined) return;
    const now = this.now();
    const margin = Math.min(REFRESH_MARGIN_MS, (expires - now) / 5);
    if (expires - margin > now) this.entries.set(key, { credentials, refreshAt: expires - margin });
  }

  get size(): number {
    return this.entries.size;
  }
}
