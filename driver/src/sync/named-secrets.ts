// The synced Secrets this node's statuses name, as this driver last read or wrote them. Upstream
// lists and watches every managed Secret of the cluster on every node, so each node's memory, its
// start-up list and the watch events it receives grow with the whole cluster's pods. Here a node
// reads a Secret by name, only while one of its own statuses names it, and keeps the copy its last
// read or write returned: its cost follows its own pods only.
//
// Without a watch, a copy can be out of date when someone else wrote the Secret (another node's pod,
// a user). A write made from such a copy is refused by the API server (its resourceVersion is old, or
// the Secret is gone) and the sync reads again; what no write of ours would catch (a Secret deleted
// or edited by someone while it already holds what we want) is caught at the resync: every copy is
// read again once per resync round, however many statuses share it.
//
// Callers serialise work on one Secret (SecretSync's per-Secret lock), so the copy of one Secret
// never sees two reads or writes at once; the bookkeeping of which status names what may change at
// any time.
import type { KubeApi, Secret } from '@sscsi/common';
import { isNotFound, Resources, resourcePath } from '@sscsi/common';

interface Copy {
  /** undefined: the API server said there is no such Secret. */
  secret: Secret | undefined;
  /** The resync round the copy was read in: older rounds read it again. */
  round: number;
}

export class NamedSecrets {
  private readonly copies = new Map<string, Copy>();
  /** Status key -> the Secret keys (`namespace/name`) its class syncs. */
  private readonly namedBy = new Map<string, readonly string[]>();
  private round = 0;

  constructor(private readonly kube: Pick<KubeApi, 'get'>) {}

  static keyOf(namespace: string, name: string): string {
    return `${namespace}/${name}`;
  }

  /** Records the Secrets a status syncs; copies no status names any more are dropped. */
  name(status: string, secrets: readonly string[]): void {
    this.namedBy.set(status, [...secrets]);
    this.dropUnnamed();
  }

  /** The status is gone or syncs nothing: its Secrets are kept only while another status names them. */
  forget(status: string): void {
    if (this.namedBy.delete(status)) this.dropUnnamed();
  }

  /** Every copy is read from the API server again, once, before it is used next. */
  startRound(): void {
    this.round++;
  }

  /**
   * The Secret as it is now: the copy when it was read or written in this round and `fresh` is not
   * asked, else from the API server (the answer becomes the copy).
   */
  async read(namespace: string, name: string, fresh: boolean): Promise<Secret | undefined> {
    const key = NamedSecrets.keyOf(namespace, name);
    const copy = this.copies.get(key);
    if (copy && !fresh && copy.round === this.round) return copy.secret;
    const round = this.round;
    let secret: Secret | undefined;
    try {
      // A round's read may come from the API server's cache (resourceVersion 0: no etcd read), as
      // the kubelet reads the Secrets of its pods; a write from a copy that cache had not caught up
      // with is refused, and the read after that refusal goes to etcd.
      secret = await this.kube.get<Secret>(resourcePath(Resources.secrets, namespace, name), {
        query: fresh ? undefined : { resourceVersion: '0' },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.keep(key, secret, round);
    return secret;
  }

  /** What a write of ours returned (undefined: we deleted it) is the newest copy. */
  written(namespace: string, name: string, secret: Secret | undefined): void {
    this.keep(NamedSecrets.keyOf(namespace, name), secret, this.round);
  }

  /** How many copies are held (tests: memory follows this node's statuses). */
  get size(): number {
    return this.copies.size;
  }

  private keep(key: string, secret: Secret | undefined, round: number): void {
    // A status that went while the request was out leaves nothing behind.
    if (!this.isNamed(key)) return;
    this.copies.set(key, { secret, round });
  }

  private isNamed(key: string): boolean {
    for (const secrets of this.namedBy.values()) if (secrets.includes(key)) return true;
    return false;
  }

  private dropUnnamed(): void {
    const named = new Set<string>();
    for (const secrets of this.namedBy.values()) for (const key of secrets) named.add(key);
    for (const key of this.copies.keys()) if (!named.has(key)) this.copies.delete(key);
  }
}
