// How much one object written as many files (jsonKeysAsFiles, parametersUnderPath, a selection) may write: limits
// that keep one object from filling the volume or the driver's answer (4 MiB by default). The fetch
// stops reading a tree once past them; the layout checks the files against them.
import { MountError } from '../errors';
import type { ObjectDescriptor } from './descriptors';
import { objectLabel, TREE_FIELDS } from './descriptors';

/** Files one object may write. */
export const MAX_TREE_FILES = 1000;
/** Bytes one object's files may hold together: half of what the driver takes in one answer by default. */
export const MAX_TREE_BYTES = 2 * 1024 * 1024;

/**
 * Secrets one selection (objectNamePrefix, objectTags) may match: each is one GetSecretValue on a
 * first mount, so fewer than a tree's files.
 */
export const MAX_SELECTED_SECRETS = 100;

/**
 * Secrets one selection's listing may go through, matches or not: ListSecrets pages (100 each) at
 * every mount that does not share a recent listing.
 */
export const MAX_LISTED_SECRETS = 1000;

/** The error of a selection whose listing would go through more than MAX_LISTED_SECRETS secrets. */
export function tooManyListed(d: ObjectDescriptor): MountError {
  return new MountError(
    'InvalidSecretContent',
    `${objectLabel(d)}: ListSecrets would list more than ${MAX_LISTED_SECRETS} secrets for it, matches or not (AWS narrows the listing by the prefix and by one tag only, each as a prefix): give a longer ${TREE_FIELDS.namePrefix}, or list first in ${TREE_FIELDS.tags} a tag few secrets carry (the first whose key a filter can carry is sent)`,
  );
}

/** The most files `d` may write. */
export const maxFilesOf = (d: ObjectDescriptor): number =>
  d.tree?.kind === 'secretsSelected' ? MAX_SELECTED_SECRETS : MAX_TREE_FILES;

/** The error of an object that would write more files than it may (`count`, if known). */
export function tooManyFiles(d: ObjectDescriptor, count?: number): MountError {
  const found = count === undefined ? 'more' : String(count);
  if (d.tree?.kind === 'secretsSelected') {
    return new MountError(
      'InvalidSecretContent',
      `${objectLabel(d)} match ${found} secrets, more than the ${MAX_SELECTED_SECRETS} one entry may select: narrow the prefix or the tags, or split it into several entries`,
    );
  }
  const field = d.tree?.kind === 'jsonKeys' ? TREE_FIELDS.jsonKeys : TREE_FIELDS.parametersUnderPath;
  return new MountError(
    'InvalidSecretContent',
    `${objectLabel(d)} (${field}) would write ${found} files, more than the ${MAX_TREE_FILES} one object may write: list parts of it as separate objects`,
  );
}

/** The error of an object whose files would hold more than MAX_TREE_BYTES. */
export function tooManyBytes(d: ObjectDescriptor): MountError {
  return new MountError(
    'InvalidSecretContent',
    `${objectLabel(d)}: its files would hold more than ${MAX_TREE_BYTES} bytes, the most one object may write: list parts of it as separate objects`,
  );
}
