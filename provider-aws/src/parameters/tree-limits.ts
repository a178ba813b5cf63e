// How much one object written as many files (jsonKeysAsFiles, parametersUnderPath) may write: limits
// that keep one object from filling the volume or the driver's answer (4 MiB by default). The fetch
// stops reading a tree once past them; the layout checks the files against them.
import { MountError } from '../errors';
import type { ObjectDescriptor } from './descriptors';
import { TREE_FIELDS } from './descriptors';

/** Files one object may write. */
export const MAX_TREE_FILES = 1000;
/** Bytes one object's files may hold together: half of what the driver takes in one answer by default. */
export const MAX_TREE_BYTES = 2 * 1024 * 1024;

const objectOf = (d: ObjectDescriptor) => `object ${JSON.stringify(d.objectName)}`;

/** The error of an object that would write more than MAX_TREE_FILES files (`count`, if known). */
export function tooManyFiles(d: ObjectDescriptor, count?: number): MountError {
  const field = d.tree?.kind === 'jsonKeys' ? TREE_FIELDS.jsonKeys : TREE_FIELDS.parametersUnderPath;
  const found = count === undefined ? 'more' : String(count);
  return new MountError(
    'InvalidSecretContent',
    `${objectOf(d)} (${field}) would write ${found} files, more than the ${MAX_TREE_FILES} one object may write: list parts of it as separate objects`,
  );
}

/** The error of an object whose files would hold more than MAX_TREE_BYTES. */
export function tooManyBytes(d: ObjectDescriptor): MountError {
  return new MountError(
    'InvalidSecretContent',
    `${objectOf(d)}: its files would hold more than ${MAX_TREE_BYTES} bytes, the most one object may write: list parts of it as separate objects`,
  );
}
