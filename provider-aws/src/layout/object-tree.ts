// Objects written as many files (jsonKeysAsFiles, parametersUnderPath): the files, named inside the
// object's directory by the file-name rules, within the limits of one object (tree-limits.ts).
import type { ParameterTreeEntry } from '../fetch/fetched';
import { MountError } from '../errors';
import type { ObjectDescriptor } from '../parameters/descriptors';
import { objectLabel, TREE_FIELDS } from '../parameters/descriptors';
import { toFileName } from '../parameters/file-names';
import { MAX_TREE_BYTES, maxFilesOf, tooManyBytes, tooManyFiles } from '../parameters/tree-limits';
import type { MountFile } from './mount-file';

const objectOf = objectLabel;
const NOUNS = { jsonKeys: 'key', parametersUnderPath: 'parameter', secretsSelected: 'secret' } as const;

/** The files of a tree's entries: `<directory>/<entry name after path translation>`. */
export function treeFiles(
  d: ObjectDescriptor,
  entries: readonly ParameterTreeEntry[],
  defaultMode: number,
): MountFile[] {
  const tree = d.tree;
  if (!tree) throw new Error(`${objectOf(d)} is not written as many files`);
  if (entries.length > maxFilesOf(d)) throw tooManyFiles(d, entries.length);
  const noun = NOUNS[tree.kind];
  const mode = d.mode ?? defaultMode;
  const files: MountFile[] = [];
  const names = new Map<string, string>();
  let bytes = 0;
  for (const entry of entries) {
    const where = `${objectOf(d)}, ${noun} ${JSON.stringify(entry.source ?? entry.name)}`;
    let relative: string;
    try {
      relative = toFileName(entry.name, tree.pathTranslation, where);
    } catch (err) {
      throw new MountError('InvalidSecretContent', (err as Error).message, { cause: err });
    }
    const other = names.get(relative);
    if (other !== undefined) {
      throw new MountError(
        'InvalidSecretContent',
        `${objectOf(d)}: ${noun}s ${JSON.stringify(other)} and ${JSON.stringify(entry.source ?? entry.name)} both name file ${JSON.stringify(relative)} after path translation`,
      );
    }
    names.set(relative, entry.source ?? entry.name);
    bytes += entry.value.length;
    if (bytes > MAX_TREE_BYTES) throw tooManyBytes(d);
    files.push({ path: `${d.fileName}/${relative}`, mode, contents: entry.value, version: entry.version });
  }
  if (files.length === 0) {
    throw new MountError(
      'InvalidSecretContent',
      tree.kind === 'jsonKeys'
        ? `${objectOf(d)} (${TREE_FIELDS.jsonKeys}) is a JSON object without keys: there is no file to write`
        : tree.kind === 'secretsSelected'
          ? `${objectOf(d)} match no secret: check the prefix (case-sensitive), the tags and the region; secrets scheduled for deletion are not listed`
          : `${objectOf(d)} (${TREE_FIELDS.parametersUnderPath}) has no parameters under it: check the path and the region`,
    );
  }
  for (const name of names.keys()) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (names.has(parent)) {
        throw new MountError(
          'InvalidSecretContent',
          `${objectOf(d)}: ${noun} ${JSON.stringify(names.get(name))} would be a file inside ${JSON.stringify(names.get(parent))}, which is a file too (path translation is off)`,
        );
      }
    }
  }
  return files;
}

/** The top-level keys of a JSON object value: strings as they are, any other value as its JSON text. */
export function jsonKeyEntries(d: ObjectDescriptor, value: Buffer, version: string): ParameterTreeEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    json = undefined;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new MountError(
      'InvalidSecretContent',
      `${objectOf(d)} has ${TREE_FIELDS.jsonKeys}: true but its value is not a JSON object`,
    );
  }
  return Object.entries(json as Record<string, unknown>).map(([name, v]) => ({
    name,
    value: Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8'),
    version,
  }));
}
