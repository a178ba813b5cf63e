// The Secret's data from the provider's files, as upstream maps them: each `secretObject.data` item,
// in order, takes the file whose path is exactly its sourcePath; empty contents are nil (`null` in
// the hash and the applied Secret, as proto3 gives upstream no bytes); a kubernetes.io/tls Secret's
// `tls.crt` and `tls.key` are extracted from the certificate file. A key it cannot extract is an
// error (upstream writes an empty key block: its bug B13).
import { certificatesOf, privateKeyOf } from '@sscsi/common';

import type { SecretObjectData } from '../api/secret-sync';
import { SyncFailure } from '../sync/failure';

export const TLS_TYPE = 'kubernetes.io/tls';

export type SecretData = Map<string, Buffer | null>;

function fail(detail: string, cause?: unknown): never {
  throw new SyncFailure({ kind: 'secret-data', detail }, { cause });
}

/** upstream's GetCertPart: the certificates or the key of a PEM bundle or a password-less PFX. */
function certPart(content: Buffer, key: string): Buffer {
  let part: Buffer;
  try {
    if (key === 'tls.crt') part = certificatesOf(content, { pfxBagAttributes: true });
    else if (key === 'tls.key') part = privateKeyOf(content);
    else throw new Error(`key '${key}' is not supported. Only 'tls.key' and 'tls.crt' are supported`);
  } catch (err) {
    // TlsError messages say what is missing or unreadable, never key material.
    fail(`failed to get cert data for ${key}: ${(err as Error).message}`, err);
  }
  return part;
}

/** The data map; a failure is a SyncFailure of kind `secret-data` naming the item at fault. */
export function secretData(
  items: readonly SecretObjectData[],
  type: string | undefined,
  files: ReadonlyMap<string, Buffer>,
): SecretData {
  const data: SecretData = new Map();
  for (const item of items) {
    const sourcePath = (item.sourcePath ?? '').trim();
    const targetKey = (item.targetKey ?? '').trim();
    if (!sourcePath) fail('source path in secretObject.data is empty');
    if (!targetKey) fail('target key in secretObject.data is empty');
    const content = files.get(sourcePath);
    if (content === undefined) fail(`file matching sourcePath ${sourcePath} not found in the pod`);
    data.set(
      targetKey,
      type === TLS_TYPE ? certPart(content, targetKey) : content.length > 0 ? content : null,
    );
  }
  return data;
}
