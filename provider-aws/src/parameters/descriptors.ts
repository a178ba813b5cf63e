// The `objects` parameter of a SecretProviderClass, parsed into typed descriptors and checked before
// any Kubernetes or AWS call. Accepts everything upstream's provider accepts (field names in any
// case, unknown fields ignored) and rejects what upstream lets through: traversal and collisions
// in jmesPath aliases, absolute and unclean paths, two objects writing the same file.
import { parse as parseYaml } from 'yaml';

import { invalidParameters } from '../errors';
import { checkExpression } from '../jmespath';
import { parseArn } from './arn';

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

export interface ObjectDescriptor {
  objectName: string;
  objectType: ObjectType;
  objectAlias: string | undefined;
  objectVersion: string | undefined;
  objectVersionLabel: string | undefined;
  /** File name inside the mount (objectAlias or objectName, after path translation). */
  fileName: string;
  mode: number | undefined;
  jmesPath: JmesPathFile[];
  failover: FailoverObject | undefined;
}

export interface DescriptorContext {
  /** Replacement for `/` in file names; '' turns translation off. */
  pathTranslation: string;
  /** Undefined while the region is still to be looked up: ARN regions are checked later. */
  region: string | undefined;
  failoverRegion: string | undefined;
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
] as const;
type Field = (typeof FIELDS)[number];
const FIELD_BY_LOWER = new Map<string, Field>(FIELDS.map((f) => [f.toLowerCase(), f]));

type Raw = Partial<Record<Field, unknown>>;

const MAX_PATH = 4096;
const MAX_ELEMENT = 255;

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
function parseMode(value: string | undefined, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-7]{4}$/.test(value)) {
    throw invalidParameters(
      `${where}: filePermission must be four octal digits such as "0600", got ${JSON.stringify(value)}`,
    );
  }
  return parseInt(value, 8) & 0o777;
}

/**
 * Applies path translation, then checks the result can only name a file inside the mount. With
 * translation off, an object name's leading `/` is stripped (SSM names start with one), but an
 * alias, which names a file, may not be absolute.
 */
export function toFileName(name: string, translation: string, where: string, isAlias = false): string {
  if (isAlias && !translation && name.startsWith('/')) {
    throw invalidParameters(
      `${where}: objectAlias ${JSON.stringify(name)} is an absolute path; name a file inside the mount`,
    );
  }
  const fileName = translation ? name.split('/').join(translation) : name.replace(/^\/+/, '');
  const quoted = JSON.stringify(fileName);
  if (fileName === '') throw invalidParameters(`${where}: the file name is empty`);
  if (fileName.includes('\0')) throw invalidParameters(`${where}: file name ${quoted} contains a NUL byte`);
  if (fileName.length > MAX_PATH)
    throw invalidParameters(`${where}: file name is longer than ${MAX_PATH} characters`);
  if (fileName.startsWith('/')) throw invalidParameters(`${where}: file name ${quoted} is an absolute path`);
  for (const element of fileName.split('/')) {
    if (element === '..')
      throw invalidParameters(`${where}: file name ${quoted} contains "..": it would leave the mount`);
    if (element === '' || element === '.')
      throw invalidParameters(`${where}: file name ${quoted} is not a clean relative path`);
    if (element.length > MAX_ELEMENT)
      throw invalidParameters(`${where}: file name ${quoted} has an element longer than ${MAX_ELEMENT}`);
  }
  if (fileName.startsWith('..'))
    throw invalidParameters(`${where}: file name ${quoted} starts with "..", which the driver reserves`);
  return fileName;
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
): void {
  if (type !== 'ssmparameter') return;
  if (version !== undefined && label !== undefined) {
    throw invalidParameters(`${where}: an SSM parameter takes objectVersion or objectVersionLabel, not both`);
  }
  if (version !== undefined && !/^[1-9]\d*$/.test(version)) {
    throw invalidParameters(
      `${where}: an SSM parameter's objectVersion must be a version number, got ${JSON.stringify(version)}`,
    );
  }
}

function parseJmesPath(value: unknown, translation: string, where: string): JmesPathFile[] {
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
      fileName: toFileName(alias, translation, at, true),
      mode: parseMode(text(raw, 'filePermission', at), at),
    };
  });
}

function parseFailover(
  value: unknown,
  type: ObjectType,
  ctx: DescriptorContext,
  where: string,
): FailoverObject | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const at = `${where}, failoverObject`;
  const raw = normalise(value, at);
  const objectName = text(raw, 'objectName', at);
  if (!objectName) throw invalidParameters(`${at}: objectName is required`);
  if (!ctx.failoverRegion)
    throw invalidParameters(`${at}: a failoverObject needs the failoverRegion parameter`);
  const failoverType = objectTypeOf(objectName, type, ctx.failoverRegion, at);
  const failover = {
    objectName,
    objectVersion: text(raw, 'objectVersion', at),
    objectVersionLabel: text(raw, 'objectVersionLabel', at),
  };
  checkVersions(failoverType, failover.objectVersion, failover.objectVersionLabel, at);
  return failover;
}

function parseDescriptor(item: unknown, index: number, ctx: DescriptorContext): ObjectDescriptor {
  let where = `objects entry ${index + 1}`;
  const raw = normalise(item, where);
  const objectName = text(raw, 'objectName', where);
  if (!objectName) throw invalidParameters(`${where}: objectName is required`);
  where = `object ${JSON.stringify(objectName)}`;
  const objectType = objectTypeOf(objectName, text(raw, 'objectType', where), ctx.region, where);
  const objectVersion = text(raw, 'objectVersion', where);
  const objectVersionLabel = text(raw, 'objectVersionLabel', where);
  checkVersions(objectType, objectVersion, objectVersionLabel, where);
  const objectAlias = text(raw, 'objectAlias', where);
  const failover = parseFailover(raw.failoverObject, objectType, ctx, where);
  if (failover && !objectAlias)
    throw invalidParameters(`${where}: an object with a failoverObject needs an objectAlias`);
  if (failover && failover.objectVersion !== objectVersion) {
    throw invalidParameters(`${where}: objectVersion must be the same for the object and its failoverObject`);
  }
  return {
    objectName,
    objectType,
    objectAlias,
    objectVersion,
    objectVersionLabel,
    fileName: toFileName(objectAlias ?? objectName, ctx.pathTranslation, where, objectAlias !== undefined),
    mode: parseMode(text(raw, 'filePermission', where), where),
    jmesPath: parseJmesPath(raw.jmesPath, ctx.pathTranslation, where),
    failover,
  };
}

/** Every file a list of descriptors writes must be distinct, and none may be the folder of another. */
function checkCollisions(descriptors: readonly ObjectDescriptor[]): void {
  const owners = new Map<string, string>();
  for (const d of descriptors) {
    for (const fileName of [d.fileName, ...d.jmesPath.map((j) => j.fileName)]) {
      const other = owners.get(fileName);
      if (other !== undefined) {
        throw invalidParameters(
          `file name ${JSON.stringify(fileName)} is written by both ${other} and ${JSON.stringify(d.objectName)}: give one an objectAlias`,
        );
      }
      owners.set(fileName, JSON.stringify(d.objectName));
    }
  }
  for (const fileName of owners.keys()) {
    const parts = fileName.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (owners.has(parent)) {
        throw invalidParameters(
          `file name ${JSON.stringify(fileName)} would be inside ${JSON.stringify(parent)}, which is a file`,
        );
      }
    }
  }
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
  checkCollisions(descriptors);
  return descriptors;
}
