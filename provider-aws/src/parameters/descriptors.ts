// The `objects` parameter of a SecretProviderClass, parsed into typed descriptors and checked before
// any Kubernetes or AWS call. Accepts everything upstream's provider accepts (field names in any
// case, unknown fields ignored), with a warning for the pod's events where the class probably does
// not do what its author meant. Refuses only what is unsafe, including what upstream lets through:
// a file outside the mount (traversal, also in jmesPath aliases), two objects writing one file, a
// name the volume keeps for its own entries.
import { parse as parseYaml } from 'yaml';

import { invalidParameters } from '../errors';
import { checkExpression } from '../jmespath';
import { parseArn } from './arn';
import { toFileName } from './file-names';

export type ObjectType = 'secretsmanager' | 'ssmparameter';

export interface JmesPathFile {
  path: string;
  /** File name inside the mount (the entry's objectAlias after path translation). */
  fileName: string;
  /** Mode bits, or undefined for the mount's default. */
  mode: number | undefined;
}

export interface FailoverObject {
  objectName: string;
  objectVersion: string | undefined;
  objectVersionLabel: string | undefined;
}

/**
 * An object written as many files, in a directory named as its own file would be: the top-level
 * keys of its JSON value, or every SSM parameter under its path. Fields of ours: upstream has none.
 */
export type ObjectTree =
  | { kind: 'jsonKeys'; pathTranslation: string }
  | { kind: 'parametersUnderPath'; recursive: boolean; pathTranslation: string }
  | SecretSelection;

/**
 * An entry without objectName that selects Secrets Manager secrets by name prefix and/or tags
 * (ListSecrets): each match is one file, named by its name after the prefix's last `/`.
 */
export interface SecretSelection {
  kind: 'secretsSelected';
  /** Names start with it (case-sensitive), or undefined: any name. */
  namePrefix: string | undefined;
  /** Tags every match carries, key and value exactly. */
  tags: Readonly<Record<string, string>>;
  pathTranslation: string;
}

export const TREE_FIELDS = {
  jsonKeys: 'jsonKeysAsFiles',
  parametersUnderPath: 'parametersUnderPath',
  namePrefix: 'objectNamePrefix',
  tags: 'objectTags',
} as const;

/** How messages name an object: by its objectName, or by what a selection selects. */
export function objectLabel(d: Pick<ObjectDescriptor, 'objectName' | 'tree'>): string {
  const tree = d.tree;
  if (tree?.kind !== 'secretsSelected') return `object ${JSON.stringify(d.objectName)}`;
  const parts: string[] = [];
  if (tree.namePrefix !== undefined)
    parts.push(`${TREE_FIELDS.namePrefix} ${JSON.stringify(tree.namePrefix)}`);
  if (Object.keys(tree.tags).length > 0) parts.push(`${TREE_FIELDS.tags} ${JSON.stringify(tree.tags)}`);
  return `the secrets selected by ${parts.join(' and ')}`;
}

export interface ObjectDescriptor {
  objectName: string;
  objectType: ObjectType;
  objectAlias: string | undefined;
  objectVersion: string | undefined;
  objectVersionLabel: string | undefined;
  /** File name inside the mount (objectAlias or objectName, after path translation). */
  fileName: string;
  /**
   * False when a later entry for the same object writes the same file (upstream accepts the same
   * objectName twice without alias when the labels differ; the later value is the file). The
   * object is still fetched, and its jmesPath files written.
   */
  writesFile: boolean;
  mode: number | undefined;
  jmesPath: JmesPathFile[];
  failover: FailoverObject | undefined;
  /** Set: `fileName` is a directory of many files, and the object writes no file of its own. */
  tree: ObjectTree | undefined;
  /**
   * `optional: true`: AWS saying the object does not exist (or a secret is scheduled for deletion)
   * is a result, not a failure: the mount goes on without its files. Denied access still fails.
   */
  optional: boolean;
}

export interface DescriptorContext {
  /** Replacement for `/` in file names; '' turns translation off. */
  pathTranslation: string;
  /** Undefined while the region is still to be looked up: ARN regions are checked later. */
  region: string | undefined;
  failoverRegion: string | undefined;
  /** Where warnings go: what upstream accepts but probably is not what the author meant. */
  warnings?: string[];
}

const FIELDS = [
  'objectName',
  'objectType',
  'objectAlias',
  'objectVersion',
  'objectVersionLabel',
  'filePermission',
  'jmesPath',
  'failoverObject',
  'path',
  TREE_FIELDS.jsonKeys,
  TREE_FIELDS.parametersUnderPath,
  'optional',
  TREE_FIELDS.namePrefix,
  TREE_FIELDS.tags,
] as const;
type Field = (typeof FIELDS)[number];
const FIELD_BY_LOWER = new Map<string, Field>(FIELDS.map((f) => [f.toLowerCase(), f]));

type Raw = Partial<Record<Field, unknown>>;

/** Keys matched case-insensitively, as upstream's JSON decoding does; unknown keys dropped. */
function normalise(value: unknown, where: string): Raw {
  if (value === null || value === '' || value === undefined) throw invalidParameters(`${where} is empty`);
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidParameters(`${where} must be a mapping of fields`);
  const out: Raw = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = FIELD_BY_LOWER.get(key.toLowerCase());
    if (field) out[field] = v;
  }
  return out;
}

function text(raw: Raw, field: Field, where: string): string | undefined {
  const v = raw[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalidParameters(`${where}: ${field} must be a string`);
  return v;
}

/** `filePermission`: exactly four octal digits such as "0600". */
export function parseMode(value: string | undefined, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-7]{4}$/.test(value)) {
    throw invalidParameters(
      `${where}: filePermission must be four octal digits such as "0600", got ${JSON.stringify(value)}`,
    );
  }
  return parseInt(value, 8) & 0o777;
}

function objectTypeOf(
  name: string,
  declared: string | undefined,
  region: string | undefined,
  where: string,
): ObjectType {
  let fromArn: ObjectType | undefined;
  if (name.startsWith('arn:')) {
    const arn = parseArn(name);
    if (!arn) throw invalidParameters(`${where}: ${JSON.stringify(name)} is not a valid ARN`);
    if (arn.service === 'secretsmanager') fromArn = 'secretsmanager';
    else if (arn.service === 'ssm') fromArn = 'ssmparameter';
    else throw invalidParameters(`${where}: ARN service "${arn.service}" is neither secretsmanager nor ssm`);
    if (region !== undefined && arn.region !== region) {
      throw invalidParameters(
        `${where}: the ARN's region "${arn.region}" does not match the region in use, "${region}"`,
      );
    }
  }
  if (declared !== undefined) {
    const lower = declared.toLowerCase();
    if (lower !== 'secretsmanager' && lower !== 'ssmparameter') {
      throw invalidParameters(
        `${where}: objectType must be "secretsmanager" or "ssmparameter", got ${JSON.stringify(declared)}`,
      );
    }
    if (fromArn && fromArn !== lower)
      throw invalidParameters(`${where}: objectType "${declared}" does not match the ARN's service`);
    return lower;
  }
  if (!fromArn) throw invalidParameters(`${where}: objectType is required unless objectName is a full ARN`);
  return fromArn;
}

function checkVersions(
  type: ObjectType,
  version: string | undefined,
  label: string | undefined,
  where: string,
  warnings: string[] | undefined,
): void {
  if (type !== 'ssmparameter') return;
  if (version !== undefined && label !== undefined) {
    throw invalidParameters(`${where}: an SSM parameter takes objectVersion or objectVersionLabel, not both`);
  }
  if (version !== undefined && !/^[1-9]\d*$/.test(version)) {
    warnings?.push(
      `${where}: SSM objectVersion ${JSON.stringify(version)} is not a version number; it is sent as it is (SSM reads it as a label, objectVersionLabel is the field for labels)`,
    );
  }
}

function parseJmesPath(
  value: unknown,
  translation: string,
  where: string,
  warnings: string[] | undefined,
): JmesPathFile[] {
  if (value === undefined || value === null || value === '') return [];
  if (!Array.isArray(value))
    throw invalidParameters(`${where}: jmesPath must be a list of {path, objectAlias}`);
  return value.map((item, i) => {
    const at = `${where}, jmesPath entry ${i + 1}`;
    const raw = normalise(item, at);
    const path = text(raw, 'path', at);
    const alias = text(raw, 'objectAlias', at);
    if (!path) throw invalidParameters(`${at}: path is required`);
    if (!alias) throw invalidParameters(`${at}: objectAlias is required`);
    try {
      checkExpression(path);
    } catch {
      throw invalidParameters(`${at}: ${JSON.stringify(path)} is not a valid JMESPath expression`);
    }
    return {
      path,
      fileName: toFileName(alias, translation, at, { alias: true, warnings }),
      mode: parseMode(text(raw, 'filePermission', at), at),
    };
  });
}

interface PrimaryObject {
  objectName: string;
  objectAlias: string | undefined;
  objectVersion: string | undefined;
  objectVersionLabel: string | undefined;
}

/**
 * The object read in the failover region. As upstream: each field the failoverObject leaves out
 * is the primary's; one without objectName reads the primary object; one that names nothing, or
 * that has no failoverRegion to be used in, is ignored.
 */
function parseFailover(
  value: unknown,
  primary: PrimaryObject,
  type: ObjectType,
  ctx: DescriptorContext,
  where: string,
): FailoverObject | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const at = `${where}, failoverObject`;
  const raw = normalise(value, at);
  const objectName = text(raw, 'objectName', at);
  const objectVersion = text(raw, 'objectVersion', at);
  const objectVersionLabel = text(raw, 'objectVersionLabel', at);
  const inherited = (name: string) => ({
    objectName: name,
    objectVersion: objectVersion ?? primary.objectVersion,
    objectVersionLabel: objectVersionLabel ?? primary.objectVersionLabel,
  });
  if (!objectName) {
    if (objectVersion === undefined && objectVersionLabel === undefined) {
      ctx.warnings?.push(`${at} names no object and is ignored`);
      return undefined;
    }
    if (!ctx.failoverRegion) {
      ctx.warnings?.push(`${at} is ignored: there is no failoverRegion parameter`);
      return undefined;
    }
    ctx.warnings?.push(
      `${at} has no objectName: the failover region reads ${JSON.stringify(primary.objectName)} with the failoverObject's version fields`,
    );
    return inherited(primary.objectName);
  }
  if (!ctx.failoverRegion)
    throw invalidParameters(`${at}: a failoverObject needs the failoverRegion parameter`);
  const failoverType = objectTypeOf(objectName, type, ctx.failoverRegion, at);
  checkVersions(failoverType, objectVersion, objectVersionLabel, at, ctx.warnings);
  if (!primary.objectAlias)
    throw invalidParameters(`${where}: an object with a failoverObject needs an objectAlias`);
  if (objectVersion !== primary.objectVersion) {
    throw invalidParameters(`${where}: objectVersion must be the same for the object and its failoverObject`);
  }
  return inherited(objectName);
}

/** SSM's GetParametersByPath takes a hierarchy: it starts with `/`. */
function checkParameterPath(name: string, field: string, where: string): void {
  if (!name.startsWith('/')) {
    throw invalidParameters(
      `${where}: ${field} must be a parameter path starting with "/" (such as /app/prod) when ${TREE_FIELDS.parametersUnderPath} is set, got ${JSON.stringify(name)}`,
    );
  }
}

function parseTree(
  raw: Raw,
  primary: PrimaryObject,
  type: ObjectType,
  jmesPath: readonly JmesPathFile[],
  failover: FailoverObject | undefined,
  ctx: DescriptorContext,
  where: string,
): ObjectTree | undefined {
  const jsonKeysText = text(raw, TREE_FIELDS.jsonKeys, where);
  const underPathText = text(raw, TREE_FIELDS.parametersUnderPath, where);
  let jsonKeys = false;
  if (jsonKeysText !== undefined) {
    if (!/^(true|false)$/i.test(jsonKeysText)) {
      throw invalidParameters(
        `${where}: ${TREE_FIELDS.jsonKeys} must be true or false, got ${JSON.stringify(jsonKeysText)}`,
      );
    }
    jsonKeys = jsonKeysText.toLowerCase() === 'true';
  }
  if (underPathText === undefined) {
    return jsonKeys ? { kind: 'jsonKeys', pathTranslation: ctx.pathTranslation } : undefined;
  }
  const mode = underPathText.toLowerCase();
  if (mode !== 'direct' && mode !== 'recursive') {
    throw invalidParameters(
      `${where}: ${TREE_FIELDS.parametersUnderPath} must be "direct" (the parameters one level under the path) or "recursive" (all of them), got ${JSON.stringify(underPathText)}`,
    );
  }
  const refuse = (what: string) => {
    throw invalidParameters(`${where}: ${TREE_FIELDS.parametersUnderPath} cannot be used with ${what}`);
  };
  if (type !== 'ssmparameter') refuse('a Secrets Manager object (it reads SSM parameters)');
  if (jsonKeys) refuse(`${TREE_FIELDS.jsonKeys} (each parameter under the path is one file)`);
  if (jmesPath.length > 0) refuse('jmesPath (it reads many values, not one JSON value)');
  if (primary.objectVersion !== undefined || primary.objectVersionLabel !== undefined)
    refuse(
      'objectVersion or objectVersionLabel (SSM reads the current version of each parameter under a path)',
    );
  checkParameterPath(primary.objectName, 'objectName', where);
  if (failover) {
    if (failover.objectVersion !== undefined || failover.objectVersionLabel !== undefined)
      refuse('a failoverObject with objectVersion or objectVersionLabel');
    checkParameterPath(failover.objectName, 'failoverObject objectName', where);
  }
  return {
    kind: 'parametersUnderPath',
    recursive: mode === 'recursive',
    pathTranslation: ctx.pathTranslation,
  };
}

/** `optional`: true or false, as YAML writes booleans (any case); anything else is refused. */
function parseOptional(raw: Raw, where: string): boolean {
  const value = raw.optional;
  if (value === undefined || value === null || value === '') return false;
  if (typeof value !== 'string' || !/^(true|false)$/i.test(value))
    throw invalidParameters(`${where}: optional must be true or false, got ${JSON.stringify(value)}`);
  return value.toLowerCase() === 'true';
}

/** What ListSecrets' `name` filter and a secret's name both allow; `!` would negate the filter. */
const NAME_PREFIX = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** What a ListSecrets filter value may hold; a leading `!` would negate it. */
export const LIST_FILTER_VALUE = /^[A-Za-z0-9 :_@/+=.-]{1,512}$/;
/** Tags a selection may require: as many as a ListSecrets request takes values of one filter. */
export const MAX_SELECTION_TAGS = 10;

function parseSelectionTags(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null || value === '') return {};
  const field = TREE_FIELDS.tags;
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidParameters(
      `${where}: ${field} must be a mapping of tag keys to values, such as {team: payments}`,
    );
  const tags: Record<string, string> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const tagValue = v === null || v === undefined ? '' : v;
    if (typeof tagValue !== 'string')
      throw invalidParameters(`${where}: ${field} ${JSON.stringify(key)} must have a string value`);
    if (key === '' || key.length > 128)
      throw invalidParameters(`${where}: ${field} has a tag key of ${key.length} characters: 1 to 128`);
    if (tagValue.length > 256)
      throw invalidParameters(
        `${where}: ${field} ${JSON.stringify(key)}: a tag value has at most 256 characters`,
      );
    tags[key] = tagValue;
  }
  if (Object.keys(tags).length > MAX_SELECTION_TAGS)
    throw invalidParameters(`${where}: ${field} lists more than ${MAX_SELECTION_TAGS} tags`);
  return tags;
}

/**
 * An entry without objectName that selects secrets by name prefix and/or tags: a directory (its
 * objectAlias, or the prefix without its last `/`) with one file per match.
 */
function parseSelection(raw: Raw, index: number, ctx: DescriptorContext): ObjectDescriptor {
  let where = `objects entry ${index + 1}`;
  const namePrefix = text(raw, TREE_FIELDS.namePrefix, where);
  const tags = parseSelectionTags(raw[TREE_FIELDS.tags], where);
  const tree: SecretSelection = {
    kind: 'secretsSelected',
    namePrefix,
    tags,
    pathTranslation: ctx.pathTranslation,
  };
  where = `${where} (${objectLabel({ objectName: '', tree })})`;
  if (namePrefix === undefined && Object.keys(tags).length === 0)
    throw invalidParameters(
      `${where}: give ${TREE_FIELDS.namePrefix}, ${TREE_FIELDS.tags}, or both (or an objectName)`,
    );
  // Without a filter, ListSecrets would page through every secret of the account at every mount.
  if (namePrefix === undefined && !Object.keys(tags).some((key) => LIST_FILTER_VALUE.test(key)))
    throw invalidParameters(
      `${where}: no tag key of ${TREE_FIELDS.tags} can be sent to ListSecrets as a filter (a filter value is 1 to 512 of letters, digits, spaces and :_@/+=.-, not starting with !), so the provider would list every secret of the account at every mount: add ${TREE_FIELDS.namePrefix}, or a tag whose key a filter can carry`,
    );
  if (namePrefix !== undefined && !NAME_PREFIX.test(namePrefix)) {
    throw invalidParameters(
      `${where}: ${TREE_FIELDS.namePrefix} must be the start of a secret name: 1 to 512 of letters, digits and /_+=.@- (ListSecrets matches names by prefix, case-sensitive)`,
    );
  }
  const declared = text(raw, 'objectType', where);
  if (declared !== undefined && declared.toLowerCase() !== 'secretsmanager')
    throw invalidParameters(
      `${where}: ${TREE_FIELDS.namePrefix} and ${TREE_FIELDS.tags} select Secrets Manager secrets: objectType must be secretsmanager`,
    );
  const refused: Array<[Field, string]> = [
    ['objectVersion', 'each match is read at its current version'],
    ['objectVersionLabel', 'each match is read at its current version'],
    ['jmesPath', 'each match is one file'],
    [TREE_FIELDS.jsonKeys, 'each match is one file'],
    [TREE_FIELDS.parametersUnderPath, 'it reads SSM parameters'],
    ['failoverObject', 'with failoverRegion the same selection is read there'],
  ];
  for (const [field, why] of refused) {
    const v = raw[field];
    if (v !== undefined && v !== null && v !== '')
      throw invalidParameters(
        `${where}: ${field} cannot be used with ${TREE_FIELDS.namePrefix} or ${TREE_FIELDS.tags} (${why})`,
      );
  }
  const objectAlias = text(raw, 'objectAlias', where);
  const directory = objectAlias ?? namePrefix?.replace(/\/+$/, '');
  if (!directory) {
    const why =
      namePrefix === undefined ? `without ${TREE_FIELDS.namePrefix}` : 'when the prefix names no directory';
    throw invalidParameters(
      `${where}: objectAlias, the directory the matches are written in, is required ${why}`,
    );
  }
  return {
    objectName: namePrefix ?? '',
    objectType: 'secretsmanager',
    objectAlias,
    objectVersion: undefined,
    objectVersionLabel: undefined,
    fileName: toFileName(directory, ctx.pathTranslation, where, {
      alias: objectAlias !== undefined,
      warnings: ctx.warnings,
    }),
    writesFile: false,
    mode: parseMode(text(raw, 'filePermission', where), where),
    jmesPath: [],
    failover: undefined,
    tree,
    optional: parseOptional(raw, where),
  };
}

function parseDescriptor(item: unknown, index: number, ctx: DescriptorContext): ObjectDescriptor {
  let where = `objects entry ${index + 1}`;
  const raw = normalise(item, where);
  const objectName = text(raw, 'objectName', where);
  const selects = raw[TREE_FIELDS.namePrefix] !== undefined || raw[TREE_FIELDS.tags] !== undefined;
  if (objectName && selects)
    throw invalidParameters(
      `${where}: objectName names one object; ${TREE_FIELDS.namePrefix} and ${TREE_FIELDS.tags} select secrets without it: give one or the other`,
    );
  if (!objectName && selects) return parseSelection(raw, index, ctx);
  if (!objectName) throw invalidParameters(`${where}: objectName is required`);
  where = `object ${JSON.stringify(objectName)}`;
  const objectType = objectTypeOf(objectName, text(raw, 'objectType', where), ctx.region, where);
  const objectVersion = text(raw, 'objectVersion', where);
  const objectVersionLabel = text(raw, 'objectVersionLabel', where);
  checkVersions(objectType, objectVersion, objectVersionLabel, where, ctx.warnings);
  const objectAlias = text(raw, 'objectAlias', where);
  const primary = { objectName, objectAlias, objectVersion, objectVersionLabel };
  const failover = parseFailover(raw.failoverObject, primary, objectType, ctx, where);
  const jmesPath = parseJmesPath(raw.jmesPath, ctx.pathTranslation, where, ctx.warnings);
  const tree = parseTree(raw, primary, objectType, jmesPath, failover, ctx, where);
  return {
    ...primary,
    objectType,
    fileName: toFileName(objectAlias ?? objectName, ctx.pathTranslation, where, {
      alias: objectAlias !== undefined,
      warnings: ctx.warnings,
    }),
    writesFile: tree === undefined,
    mode: parseMode(text(raw, 'filePermission', where), where),
    jmesPath,
    failover,
    tree,
    optional: parseOptional(raw, where),
  };
}

/**
 * Upstream accepts one objectName twice without objectAlias when the version labels differ (one
 * may have none): both entries name one file and the later one's value is written. Marks the
 * earlier entry as not writing its file.
 */
function markReplacedFiles(descriptors: readonly ObjectDescriptor[], warnings: string[] | undefined): void {
  const latest = new Map<string, { d: ObjectDescriptor; index: number }>();
  descriptors.forEach((d, index) => {
    const earlier = latest.get(d.fileName);
    if (
      earlier &&
      earlier.d.objectName === d.objectName &&
      earlier.d.objectAlias === undefined &&
      d.objectAlias === undefined &&
      earlier.d.objectVersionLabel !== d.objectVersionLabel
    ) {
      earlier.d.writesFile = false;
      const label = (x: ObjectDescriptor) =>
        x.objectVersionLabel === undefined
          ? 'no objectVersionLabel'
          : `objectVersionLabel ${JSON.stringify(x.objectVersionLabel)}`;
      warnings?.push(
        `objects entries ${earlier.index + 1} and ${index + 1} (${JSON.stringify(d.objectName)}, ${label(earlier.d)} and ${label(d)}) both write file ${JSON.stringify(d.fileName)}; entry ${index + 1} is written: give one an objectAlias to mount both`,
      );
    }
    latest.set(d.fileName, { d, index });
  });
}

/** An object in a message: its quoted name, or what a selection selects. */
const nameOf = (d: ObjectDescriptor): string =>
  d.tree?.kind === 'secretsSelected' ? objectLabel(d) : JSON.stringify(d.objectName);

/**
 * Every file a list of descriptors writes must be distinct, and none may be the folder of another;
 * the directory of an object written as many files is that object's alone.
 */
function checkCollisions(descriptors: readonly ObjectDescriptor[]): void {
  const owners = new Map<string, string>();
  const directories = new Map<string, string>();
  for (const d of descriptors) {
    const files = d.jmesPath.map((j) => j.fileName);
    if (d.writesFile) files.unshift(d.fileName);
    for (const fileName of files) {
      const other = owners.get(fileName);
      if (other !== undefined) {
        throw invalidParameters(
          `file name ${JSON.stringify(fileName)} is written by both ${other} and ${nameOf(d)}: give one an objectAlias`,
        );
      }
      owners.set(fileName, nameOf(d));
    }
    if (!d.tree) continue;
    const other = directories.get(d.fileName);
    if (other !== undefined) {
      throw invalidParameters(
        `directory ${JSON.stringify(d.fileName)} is filled by both ${other} and ${nameOf(d)}: give one an objectAlias`,
      );
    }
    directories.set(d.fileName, nameOf(d));
  }
  const check = (name: string, what: string, self: boolean) => {
    const parts = name.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const directory = directories.get(parent);
      if (directory !== undefined && (i < parts.length || !self)) {
        throw invalidParameters(
          `${what} ${JSON.stringify(name)} would be in the directory ${JSON.stringify(parent)} that ${directory} fills with its files: give one an objectAlias`,
        );
      }
      if (i < parts.length && owners.has(parent)) {
        throw invalidParameters(
          `${what} ${JSON.stringify(name)} would be inside ${JSON.stringify(parent)}, which is a file`,
        );
      }
    }
  };
  for (const fileName of owners.keys()) check(fileName, 'file name', false);
  for (const directory of directories.keys()) check(directory, 'directory', true);
}

/** Parses and validates the `objects` parameter. */
export function parseObjects(objects: string | undefined, ctx: DescriptorContext): ObjectDescriptor[] {
  if (objects === undefined || objects.trim() === '') {
    throw invalidParameters(
      'the "objects" parameter is missing or empty: list the secrets and parameters to mount',
    );
  }
  let doc: unknown;
  try {
    // The failsafe schema keeps every scalar a string exactly as written: objectVersion: 3 and
    // filePermission: 0600 stay "3" and "0600" instead of becoming numbers.
    doc = parseYaml(objects, { schema: 'failsafe' });
  } catch (err) {
    const detail = (err as Error).message.split('\n')[0];
    throw invalidParameters(`the "objects" parameter is not valid YAML: ${detail}`);
  }
  if (!Array.isArray(doc)) throw invalidParameters('the "objects" parameter must be a YAML list of objects');
  if (doc.length === 0) throw invalidParameters('the "objects" parameter lists no objects');
  const descriptors = doc.map((item, i) => parseDescriptor(item, i, ctx));
  markReplacedFiles(descriptors, ctx.warnings);
  checkCollisions(descriptors);
  return descriptors;
}
