// What the fetch stage hands to the layout stage: values as AWS gave them, each with its version
// and the object it answers. Types only, imported by both stages.
import type { ObjectDescriptor } from '../parameters/descriptors';

/** One value read from AWS, with the version it is. */
export interface FetchedValue {
  value: Buffer;
  version: string;
}

/**
 * One file of an object written as many files: a key, a parameter under a path (its name relative
 * to the path) or a selected secret (its name after the prefix's last `/`), its value and version.
 */
export interface ParameterTreeEntry {
  name: string;
  /** The name in AWS, where it differs from `name` (a selected secret's): for messages. */
  source?: string;
  value: Buffer;
  version: string;
}

/**
 * A secret an optional selection listed that AWS then said is not there (deleted, or scheduled for
 * deletion, between ListSecrets and GetSecretValue): it has no file.
 */
export interface MissingMatch {
  /** The secret's name. */
  source: string;
  /** The file it would have, relative to the mount; undefined when its name makes no file name. */
  file: string | undefined;
  /** The AWS error code that says it is not there. */
  code: string;
}

/** One object of a mount, fetched. */
export interface FetchedObject {
  descriptor: ObjectDescriptor;
  value: Buffer;
  version: string;
  region: string;
  /** The parameters under the path (parametersUnderPath), or the secrets a selection selects. */
  entries?: ParameterTreeEntry[];
  /** An optional object AWS said is not there (the AWS error code): it has no files. */
  missing?: string;
  /** The matches of an optional selection that are not there; the others are in `entries`. */
  missingMatches?: MissingMatch[];
}
