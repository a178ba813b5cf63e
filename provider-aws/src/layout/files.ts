// The layout stage, fetched objects to files. The files of a mount: one per object (unless a later
// entry for the same object writes its file), or a directory of them (object-tree.ts), plus one per
// jmesPath entry (each result must be a string), each with its mode and the version of the object
// it came from. A missing optional object has no file.
import { MountError } from '../errors';
import type { FetchedObject, MissingMatch } from '../fetch/fetched';
import { MISSING_VERSION } from '../fetch/missing-object';
import { objectLabel } from '../parameters/descriptors';
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
 * file, and one per missing optional object (or missing match of an optional selection) under the
 * file name it would have, so that the status shows the miss and the next rotation says what the
 * volume holds.
 */
export function objectVersionsOf(
  files: readonly MountFile[],
  fetched: readonly FetchedObject[],
): Array<{ id: string; version: string }> {
  const versions = files.map((f) => ({ id: f.path, version: f.version }));
  const ids = new Set(versions.map((v) => v.id));
  const add = (id: string) => {
    if (ids.has(id)) return;
    ids.add(id);
    versions.push({ id, version: MISSING_VERSION });
  };
  for (const { descriptor: d, missing, missingMatches } of fetched) {
    if (missing !== undefined) add(d.fileName);
    for (const m of missingMatches ?? []) add(missingMatchId(d.fileName, m));
  }
  return versions;
}

/**
 * The id a missing match is recorded under: its file, or, when its name makes no file name, its
 * name in AWS after its directory and `//`, which no file name holds (file names are cleaned).
 */
function missingMatchId(directory: string, m: MissingMatch): string {
  return m.file ?? `${directory}//${m.source}`;
}

/**
 * What AWS said is not there in a mount: a missing optional object, or a match of an optional
 * selection deleted since it was listed. Said once here for the log, the pod Event and a templated
 * file that needs one of its files.
 */
export interface Miss {
  /** The object in words, such as `optional object "db" (secretsmanager)`. */
  what: string;
  /** Its name in AWS (a selection's prefix, or a match's name). */
  object: string;
  type: string;
  region: string;
  /** The AWS error code (or NoParametersUnderPath, NoSecretSelected) that says it is not there. */
  code: string;
  /**
   * What it is recorded under in the versions answered: its file or directory, or for a match
   * whose name makes no file name, an id of its own (missingMatchId).
   */
  file: string;
  /** For a match whose name makes no file name: the directory it would be in. */
  unnamedIn?: string;
  /** The files, or directories, it would write. */
  files: string[];
}

export function missesOf(fetched: readonly FetchedObject[]): Miss[] {
  const misses: Miss[] = [];
  for (const { descriptor: d, region, missing, missingMatches } of fetched) {
    const type = d.objectType;
    if (missing !== undefined) {
      const what =
        d.tree?.kind === 'secretsSelected'
          ? `optional objects entry (${objectLabel(d)})`
          : `optional object ${JSON.stringify(d.objectName)} (${type})`;
      const files = [...(d.writesFile || d.tree ? [d.fileName] : []), ...d.jmesPath.map((j) => j.fileName)];
      misses.push({ what, object: d.objectName, type, region, code: missing, file: d.fileName, files });
    }
    for (const m of missingMatches ?? []) {
      const what = `secret ${JSON.stringify(m.source)} (one of ${objectLabel(d)}, an optional entry)`;
      misses.push({
        what,
        object: m.source,
        type,
        region,
        code: m.code,
        file: missingMatchId(d.fileName, m),
        files: m.file ? [m.file] : [],
        ...(m.file === undefined ? { unnamedIn: d.fileName } : {}),
      });
    }
  }
  return misses;
}
