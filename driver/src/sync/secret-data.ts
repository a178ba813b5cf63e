// The contents of a synced Secret, built from one `secretObjects` entry and the files of the mount:
// each data key from the file its objectName names (which must be inside the mount), tls keys
// extracted from a certificate, and the keys each well-known type requires checked.
import type { PayloadError, SecretObject, TlsError } from '@sscsi/common';
import { certificatesOf, privateKeyOf, validatePayloadPath } from '@sscsi/common';

export class SyncError extends Error {
  override name = 'SyncError';
}

export interface SecretContent {
  type: string;
  data: Record<string, Buffer>;
}

/** Keys the API server and the workloads of each well-known type expect. */
const REQUIRED_KEYS: Record<string, { all?: string[]; oneOf?: string[] }> = {
  'kubernetes.io/tls': { all: ['tls.crt', 'tls.key'] },
  'kubernetes.io/basic-auth': { oneOf: ['username', 'password'] },
  'kubernetes.io/ssh-auth': { all: ['ssh-privatekey'] },
  'kubernetes.io/dockerconfigjson': { all: ['.dockerconfigjson'] },
  'kubernetes.io/dockercfg': { all: ['.dockercfg'] },
};

/** A type: Opaque by default, otherwise a DNS-subdomain-like name with an optional path. */
const SECRET_TYPE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(\/[-A-Za-z0-9_.]+)*$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * @param readFile reads a file of the mount by its (validated) relative path; throws when missing.
 */
export function buildSecretContent(
  secretObject: SecretObject,
  readFile: (relativePath: string) => Buffer,
): SecretContent {
  const name = secretObject.secretName;
  if (!name) throw new SyncError('a secretObjects entry has no secretName');
  // Upstream refuses an empty type, and reads one of blanks as Opaque.
  if (!secretObject.type) throw new SyncError(`secret ${name}: type is empty (Opaque for generic data)`);
  const type = secretObject.type.trim() || 'Opaque';
  if (type !== 'Opaque' && !SECRET_TYPE.test(type))
    throw new SyncError(`secret ${name}: type ${JSON.stringify(type)} is not a valid Secret type`);
  if (!secretObject.data || secretObject.data.length === 0)
    throw new SyncError(`secret ${name}: data is empty`);
  const data: Record<string, Buffer> = {};
  for (const item of secretObject.data) {
    const objectName = (item.objectName ?? '').trim();
    const key = (item.key ?? '').trim();
    if (!objectName) throw new SyncError(`secret ${name}: a data entry has no objectName`);
    if (!key)
      throw new SyncError(`secret ${name}: the data entry for ${JSON.stringify(objectName)} has no key`);
    if (!DATA_KEY.test(key))
      throw new SyncError(`secret ${name}: key ${JSON.stringify(key)} is not a valid Secret data key`);
    try {
      validatePayloadPath(objectName);
    } catch (err) {
      throw new SyncError(
        `secret ${name}: objectName ${JSON.stringify(objectName)} must name a file inside the mount (${(err as PayloadError).message})`,
      );
    }
    let content: Buffer;
    try {
      content = readFile(objectName);
    } catch (err) {
      throw new SyncError(
        `secret ${name}: no file ${JSON.stringify(objectName)} in the mounted volume (${(err as Error).message})`,
        { cause: err },
      );
    }
    if (type === 'kubernetes.io/tls' && (key === 'tls.crt' || key === 'tls.key')) {
      try {
        content = key === 'tls.crt' ? certificatesOf(content) : privateKeyOf(content);
      } catch (err) {
        throw new SyncError(
          `secret ${name}: cannot build ${key} from ${JSON.stringify(objectName)}: ${(err as TlsError).message}`,
          { cause: err },
        );
      }
    }
    data[key] = content;
  }
  const required = REQUIRED_KEYS[type];
  const missing = required?.all?.filter((k) => !(k in data)) ?? [];
  if (missing.length > 0)
    throw new SyncError(`secret ${name} of type ${type} is missing the key ${missing.join(' and ')}`);
  if (required?.oneOf && !required.oneOf.some((k) => k in data)) {
    throw new SyncError(`secret ${name} of type ${type} is missing the key ${required.oneOf.join(' or ')}`);
  }
  return { type, data };
}
