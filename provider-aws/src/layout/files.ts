// The layout stage, fetched objects to files. The files of a mount: one per object (unless a later
// entry for the same object writes its file), or a directory of them (object-tree.ts), plus one per
// jmesPath entry (each result must be a string), each with its mode and the version of the object
// it came from. A missing optional object has no file.
import { MountError } from '../errors';
import type { FetchedObject } from '../fetch/fetched';
import { MISSING_VERSION } from '../fetch/missing-object';
import { search } from '../jmespath';
import type { MountFile } from './mount-file';
import { jsonKeyEntries, treeFiles } from './object-tree';

export function filesOf(fetched: readonly FetchedObject[], defaultMode: number): MountFile[] {
  const files: MountFile[] = [];
  for (const { descriptor: d, value, version, entries, missing } of fetched) {
    if (missing !== undefined) continue;
    const mode = d.mode ?? defaultMode;
    if (d.tree) files.push(...treeFiles(d, entries ?? jsonKeyEntries(d, value, version), defaultMode));
    if (d.writesFile) files.push({ path: d.fileName, mode, contents: value, version });
    if (d.jmesPath.length === 0) continue;
    let json: unknown;
    try {
      json = JSON.parse(value.toString('utf8'));
    } catch {
      throw new MountError(
        'InvalidSecretContent',
        `object ${JSON.stringify(d.objectName)} has jmesPath entries but its value is not JSON`,
      );
    }
    for (const entry of d.jmesPath) {
      const result = search(json, entry.path);
      if (result === null || result === undefined) {
        throw new MountError(
          'InvalidSecretContent',
          `jmesPath ${JSON.stringify(entry.path)} (objectAlias ${JSON.stringify(entry.fileName)}) finds nothing in object ${JSON.stringify(d.objectName)}`,
        );
      }
      if (typeof result !== 'string') {
        throw new MountError(
          'InvalidSecretContent',
          `jmesPath ${JSON.stringify(entry.path)} in object ${JSON.stringify(d.objectName)} finds a ${Array.isArray(result) ? 'list' : typeof result}; only strings can become files`,
        );
      }
      files.push({
        path: entry.fileName,
        mode: entry.mode ?? mode,
        contents: Buffer.from(result, 'utf8'),
        version,
      });
    }
  }
  return files;
}

/**
 * The versions a Mount answers, recorded by the driver in the SecretProviderClassPodStatus: one per
 * file, and one per missing optional object under the file name it would have, so that the status
 * shows the miss and the next rotation says what the volume holds.
 */
export function objectVersionsOf(
  files: readonly MountFile[],
  fetched: readonly FetchedObject[],
): Array<{ id: string; version: string }> {
  const versions = files.map((f) => ({ id: f.path, version: f.version }));
  const ids = new Set(versions.map((v) => v.id));
  for (const { descriptor: d, missing } of fetched) {
    if (missing === undefined || ids.has(d.fileName)) continue;
    ids.add(d.fileName);
    versions.push({ id: d.fileName, version: MISSING_VERSION });
  }
  return versions;
}
