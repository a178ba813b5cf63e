// status.syncHash, byte for byte as upstream computes it, so that a cluster moving between upstream's
// controller and this one rewrites no Secret: PBKDF2-HMAC-SHA512 (100,000 rounds, 32 bytes, salted
// with the SecretSync's uid) of the Secret's data as Go JSON, length-prefixed, followed by both
// objects' uids and generations and forceSynchronization.
//
// Upstream pays those 100,000 rounds for every SecretSync at every poll. Here a SecretSync's last
// PBKDF2 input is remembered as a SHA-256 digest beside the hash it gave: when the next pass has the
// same input and the status still holds that hash, the hash is reused without PBKDF2. The memory is
// per process (a restart pays PBKDF2 once per SecretSync), one entry per SecretSync, dropped with it.
import crypto from 'node:crypto';

import { goBytesMap } from './go-json';

export const HASH_ITERATIONS = 100_000;
export const HASH_KEY_LENGTH = 32;
export const HASH_PREFIX = 'v1:';

/** What the hash covers besides the data. */
export interface HashSubject {
  spcUid: string;
  spcGeneration: number;
  ssUid: string;
  ssGeneration: number;
  forceSynchronization: string;
}

/** The key derivation; tests count its calls. */
export type Kdf = (password: Buffer, salt: Buffer) => Promise<Buffer>;

/** Node's PBKDF2 on libuv's thread pool: the event loop keeps serving while it runs. */
export const pbkdf2Sha512: Kdf = (password, salt) =>
  new Promise((resolve, reject) =>
    crypto.pbkdf2(password, salt, HASH_ITERATIONS, HASH_KEY_LENGTH, 'sha512', (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );

/** `<byte length>:<json><spc uid>|<spc gen>|<ss uid>|<ss gen>|<force>`, and the salt. */
export function hashInput(
  data: ReadonlyMap<string, Buffer | null>,
  subject: HashSubject,
): { password: Buffer; salt: Buffer } {
  const json = Buffer.from(goBytesMap(data), 'utf8');
  const tail = [
    subject.spcUid,
    String(subject.spcGeneration),
    subject.ssUid,
    String(subject.ssGeneration),
    subject.forceSynchronization,
  ].join('|');
  return {
    password: Buffer.concat([Buffer.from(`${json.length}:`), json, Buffer.from(tail, 'utf8')]),
    salt: Buffer.from(subject.ssUid, 'utf8'),
  };
}

export async function computeSyncHash(
  data: ReadonlyMap<string, Buffer | null>,
  subject: HashSubject,
  kdf: Kdf = pbkdf2Sha512,
): Promise<string> {
  const { password, salt } = hashInput(data, subject);
  return `${HASH_PREFIX}${(await kdf(password, salt)).toString('hex')}`;
}

interface Remembered {
  /** SHA-256 of the PBKDF2 input (password and salt). */
  digest: Buffer;
  hash: string;
}

export interface SyncHashesOptions {
  kdf?: Kdf;
  /** Called for each hash: computed with PBKDF2, or reused. */
  counted?: (outcome: 'computed' | 'reused') => void;
}

/** The hashes of the SecretSyncs, computed or reused; keyed by the SecretSync's uid. */
export class SyncHashes {
  private readonly remembered = new Map<string, Remembered>();
  private readonly kdf: Kdf;

  constructor(private readonly options: SyncHashesOptions = {}) {
    this.kdf = options.kdf ?? pbkdf2Sha512;
  }

  /**
   * The hash of this pass. `storedHash` is the SecretSync's status.syncHash: a remembered hash is
   * reused only while the status still holds it.
   */
  async hashOf(
    data: ReadonlyMap<string, Buffer | null>,
    subject: HashSubject,
    storedHash: string | undefined,
  ): Promise<string> {
    const { password, salt } = hashInput(data, subject);
    const digest = crypto
      .createHash('sha256')
      .update(`${password.length}:`)
      .update(password)
      .update(salt)
      .digest();
    const known = this.remembered.get(subject.ssUid);
    if (known && storedHash === known.hash && known.digest.equals(digest)) {
      this.options.counted?.('reused');
      return known.hash;
    }
    const hash = `${HASH_PREFIX}${(await this.kdf(password, salt)).toString('hex')}`;
    this.remembered.set(subject.ssUid, { digest, hash });
    this.options.counted?.('computed');
    return hash;
  }

  /** Forgets a deleted SecretSync. */
  forget(ssUid: string): void {
    this.remembered.delete(ssUid);
  }

  get size(): number {
    return this.remembered.size;
  }
}
