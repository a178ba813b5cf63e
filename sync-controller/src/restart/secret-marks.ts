// Synced Secrets as a restart on rotation sees them: only whether their data changed. The informer
// keeps no data: each Secret's data is reduced, as it arrives, to a SHA-256 digest held in memory.
// What is written to a workload's record is a mark of that digest that cannot be used to guess a
// value: PBKDF2-HMAC-SHA512, 100,000 rounds, salted with the Secret's uid, as SecretSync's own
// status.syncHash. Computed once per Secret and data, off the event loop's thread.
import type { Secret } from '@sscsi/common';
import crypto from 'node:crypto';
import { promisify } from 'node:util';

/** The driver's label on the Secrets its secretObjects sync writes. */
export const DRIVER_SYNC_LABEL = 'secrets-store.csi.k8s.io/managed=true';
/** The sync controller's label on the Secrets of SecretSyncs (SYNC_LABEL, any value). */
export const SECRET_SYNC_SELECTOR = 'secrets-store.sync.x-k8s.io';

export const MARK_ROUNDS = 100_000;
const MARK_BYTES = 16;

/** A synced Secret without its data. */
export interface SyncedSecret extends Secret {
  /** SHA-256 of its type and data (keys sorted); in memory only. */
  dataDigest: string;
}

/** The informer's transform: name, namespace, uid, labels and a digest of the data. */
export function withoutData(secret: Secret): SyncedSecret {
  const hash = crypto.createHash('sha256');
  hash.update(`${secret.type ?? ''}\0`);
  const data = secret.data ?? {};
  for (const key of Object.keys(data).sort()) hash.update(`${key}\0${data[key] ?? ''}\0`);
  const { name, namespace, uid, resourceVersion, labels } = secret.metadata;
  return { metadata: { name, namespace, uid, resourceVersion, labels }, dataDigest: hash.digest('hex') };
}

/** PBKDF2 as node:crypto's, promised (tests count its calls). */
export type Pbkdf2 = (
  password: string,
  salt: string,
  rounds: number,
  bytes: number,
  digest: string,
) => Promise<Buffer>;

export class SecretMarks {
  /** One entry per Secret uid: the digest last marked and its mark. */
  private readonly marks = new Map<string, { digest: string; mark: Promise<string> }>();

  constructor(
    private readonly rounds = MARK_ROUNDS,
    private readonly pbkdf2: Pbkdf2 = promisify(crypto.pbkdf2),
  ) {}

  mark(secret: SyncedSecret): Promise<string> {
    const uid = secret.metadata.uid ?? '';
    const known = this.marks.get(uid);
    if (known?.digest === secret.dataDigest) return known.mark;
    const mark = this.pbkdf2(secret.dataDigest, uid, this.rounds, MARK_BYTES, 'sha512').then((b) =>
      b.toString('hex'),
    );
    this.marks.set(uid, { digest: secret.dataDigest, mark });
    mark.catch(() => this.marks.delete(uid));
    return mark;
  }

  forget(secret: Secret): void {
    this.marks.delete(secret.metadata.uid ?? '');
  }
}
