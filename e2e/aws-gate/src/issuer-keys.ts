// The signing keys of an OIDC issuer, fetched as AWS fetches them: the discovery document at
// <issuer>/.well-known/openid-configuration, then its jwks_uri. The lab's issuer,
// https://kubernetes.default.svc, is a name only pods resolve; the gate reads both documents from
// the lab's API server (the server named by its kubeconfig), which serves them for that issuer.
import type crypto from 'node:crypto';

import type { DecodedJwt } from './jwt';
import { keysFromJwks, signatureValid } from './jwt';

/** GET of a path on the server that serves an issuer's documents, parsed as JSON. */
export type JsonFetcher = (path: string) => Promise<unknown>;

export class IssuerUnreachable extends Error {
  override name = 'IssuerUnreachable';
}

export interface IssuerKeysOptions {
  /** How long fetched keys serve before they are fetched again. */
  ttlMs: number;
  /** A token signed with a key not in the set refetches the keys at most this often. */
  refetchMinMs: number;
  now?: () => number;
}

interface KeySet {
  keys: Map<string, crypto.KeyObject>;
  at: number;
}

export class IssuerKeys {
  private readonly sets = new Map<string, KeySet>();
  private readonly fetching = new Map<string, Promise<KeySet>>();
  private readonly failures = new Map<string, { at: number; error: Error }>();
  private readonly now: () => number;

  /** `issuers`: issuer URL -> how to read that issuer's documents. */
  constructor(
    private readonly issuers: ReadonlyMap<string, JsonFetcher>,
    private readonly o: IssuerKeysOptions,
  ) {
    this.now = o.now ?? Date.now;
  }

  knows(issuer: string): boolean {
    return this.issuers.has(issuer);
  }

  /** The key `kid` of `issuer`, or undefined when the issuer has no such key. */
  async key(issuer: string, kid: string): Promise<crypto.KeyObject | undefined> {
    let set = this.sets.get(issuer);
    const age = set ? this.now() - set.at : Infinity;
    const stale = !set || age >= this.o.ttlMs || (!set.keys.has(kid) && age >= this.o.refetchMinMs);
    const failure = this.failures.get(issuer);
    // After a failed fetch the issuer is asked again only once refetchMinMs has passed.
    const backingOff = failure !== undefined && this.now() - failure.at < this.o.refetchMinMs;
    if (stale && !backingOff) {
      try {
        set = await this.fetch(issuer);
        this.failures.delete(issuer);
      } catch (err) {
        this.failures.set(issuer, { at: this.now(), error: err as Error });
        // Keys fetched before still serve while the issuer is unreachable.
        if (!set) throw err;
      }
    }
    if (!set) throw failure?.error ?? new IssuerUnreachable(`no keys of ${issuer}`);
    return set.keys.get(kid) ?? (kid === '' && set.keys.size === 1 ? [...set.keys.values()][0] : undefined);
  }

  /**
   * Whether `jwt` verifies with the key it names of `issuer`. When the issuer's keys cannot be read,
   * throws what `unreachable` makes: each AWS service words that failure its own way.
   */
  async verifies(jwt: DecodedJwt, issuer: string, unreachable: () => Error): Promise<boolean> {
    let key;
    try {
      key = await this.key(issuer, jwt.kid);
    } catch (err) {
      if (err instanceof IssuerUnreachable) throw unreachable();
      throw err;
    }
    return key !== undefined && signatureValid(jwt, key);
  }

  private fetch(issuer: string): Promise<KeySet> {
    let pending = this.fetching.get(issuer);
    if (!pending) {
      pending = this.load(issuer).finally(() => this.fetching.delete(issuer));
      this.fetching.set(issuer, pending);
    }
    return pending;
  }

  private async load(issuer: string): Promise<KeySet> {
    const get = this.issuers.get(issuer);
    if (!get) throw new IssuerUnreachable(`the lab serves no documents for the issuer ${issuer}`);
    try {
      const discovery = (await get('/.well-known/openid-configuration')) as {
        issuer?: string;
        jwks_uri?: string;
      };
      if (discovery.issuer !== issuer)
        throw new Error(`its discovery document names the issuer ${String(discovery.issuer)}`);
      const jwksPath = discovery.jwks_uri ? new URL(discovery.jwks_uri).pathname : '/openid/v1/jwks';
      const set = { keys: keysFromJwks(await get(jwksPath)), at: this.now() };
      this.sets.set(issuer, set);
      return set;
    } catch (err) {
      throw new IssuerUnreachable(`cannot read the keys of ${issuer}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}
