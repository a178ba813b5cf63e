// The rules for the names of the files an object writes: path translation, cleaning, and the
// limits of the driver's own payload check (common's payload.ts), so that a name accepted here is
// one the driver writes too. Used when the class is parsed (objectName, objectAlias) and when an
// object written as many files is laid out (its keys or parameter names).
import { isWriterName, MAX_PATH_ELEMENT_LENGTH, MAX_PATH_LENGTH } from '@sscsi/common';

import { invalidParameters } from '../errors';

/** `pathTranslation`: default `_`; `False` in any case turns it off; otherwise one character. */
export function parsePathTranslation(raw: string | undefined): string {
  if (raw === undefined || raw === '') return '_';
  if (raw.toLowerCase() === 'false') return '';
  if ([...raw].length !== 1) {
    throw invalidParameters(
      `pathTranslation must be "False" or a single character, got ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}

export interface FileNameOptions {
  /** The name is an objectAlias: a leading `/` there is worth a warning. */
  alias?: boolean;
  warnings?: string[];
}

/**
 * Applies path translation and cleans the result the way upstream's provider ends up writing it
 * (leading `/` stripped with translation off, `a//./b` read as `a/b`), then checks that it can only
 * name a file inside the mount and none of the volume's own entries.
 */
export function toFileName(
  name: string,
  translation: string,
  where: string,
  options: FileNameOptions = {},
): string {
  const translated = translation ? name.split('/').join(translation) : name;
  const quoted = JSON.stringify(translated);
  if (translated.includes('\0')) throw invalidParameters(`${where}: file name ${quoted} contains a NUL byte`);
  const elements = translated.split('/');
  if (elements.includes('..'))
    throw invalidParameters(`${where}: file name ${quoted} contains "..": it would leave the mount`);
  const fileName = elements.filter((e) => e !== '' && e !== '.').join('/');
  if (fileName === '') throw invalidParameters(`${where}: file name ${quoted} names no file`);
  if (fileName.length > MAX_PATH_LENGTH)
    throw invalidParameters(`${where}: file name is longer than ${MAX_PATH_LENGTH} characters`);
  for (const element of fileName.split('/')) {
    if (element.length > MAX_PATH_ELEMENT_LENGTH)
      throw invalidParameters(
        `${where}: file name ${quoted} has an element longer than ${MAX_PATH_ELEMENT_LENGTH}`,
      );
  }
  const top = fileName.split('/')[0] as string;
  if (isWriterName(top)) {
    throw invalidParameters(
      `${where}: file name ${JSON.stringify(fileName)} is a name the volume keeps for its own entries (..data, ..data_tmp, ..<time>.<random>)`,
    );
  }
  const warn = (message: string) => options.warnings?.push(`${where}: ${message}`);
  // With translation off, an object name's leading `/` is how SSM names look: stripping it is the
  // documented behaviour. An alias names a file, so an absolute one is probably a mistake.
  const onlyStripped = !translation && translated.replace(/^\/+/, '') === fileName;
  if (onlyStripped && options.alias && translated !== fileName) {
    warn(`${quoted} is an absolute path; it names ${JSON.stringify(fileName)} inside the mount`);
  } else if (!onlyStripped && fileName !== translated) {
    warn(`file name ${quoted} is written as ${JSON.stringify(fileName)}`);
  }
  if (top.startsWith('..')) {
    warn(
      `file name ${JSON.stringify(fileName)} starts with "..": upstream's driver refuses such names when it writes the files, so the class works only where the provider writes them; an objectAlias without the dots works everywhere`,
    );
  }
  return fileName;
}
