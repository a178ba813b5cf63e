// The `templatedFiles` parameter of a SecretProviderClass (ours): files built from the files the
// objects write, for applications that read one .env, .properties, JSON or YAML file. Parsed and
// checked with the objects, before any call: every placeholder must name a file the objects write,
// and the templated file must not collide with theirs. Rendered by the layout stage
// (layout/templated-files.ts).
//
// Templates are Mustache (the `mustache` package's parser), variables only: `{{name}}` inserts the
// file `name` of the mount. Sections, partials and unescaped tags are refused, so a template has no
// logic and reads nothing but the mount's own files; the library only parses, it never renders.
import Mustache from 'mustache';
import type { Document } from 'yaml';
import { isAlias, isMap, isScalar, isSeq, parseDocument, visit } from 'yaml';

import { invalidParameters } from '../errors';
import type { ObjectDescriptor } from './descriptors';
import { parseMode } from './descriptors';
import { toFileName } from './file-names';

// Mustache keeps every template it parses in an unbounded cache; a long-running provider sees every
// class's templates, so nothing is kept.
Mustache.templateCache = undefined;

export const TEMPLATED_FILES = 'templatedFiles';

export const FILE_FORMATS = ['env', 'properties', 'json', 'yaml', 'text'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** Templated files one class may have. */
export const MAX_TEMPLATED_FILES = 100;

/** A parsed template string: literal text, and placeholders naming a file of the mount. */
export type TemplateText = readonly (string | { name: string })[];

/** A json or yaml template: its strings are templates, its other scalars stay as written. */
export type TemplateValue =
  | { kind: 'text'; text: TemplateText }
  | { kind: 'scalar'; value: number | boolean | null }
  | { kind: 'list'; items: TemplateValue[] }
  | { kind: 'map'; entries: [string, TemplateValue][] };

export type TemplateBody =
  | { format: 'text'; text: TemplateText }
  | { format: 'env' | 'properties'; entries: [string, TemplateText][] }
  | { format: 'json' | 'yaml'; value: TemplateValue };

export type TemplatedFile = TemplateBody & {
  /** File name inside the mount (the entry's path after path translation). */
  fileName: string;
  mode: number | undefined;
  /** The file names its placeholders name, each once. */
  names: string[];
  /** The entry as written (format and template): part of the file's version. */
  source: string;
};

const FIELDS = ['path', 'format', 'template', 'filePermission'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const quote = (s: string) => JSON.stringify(s);

/** One template string, parsed by Mustache; anything but text, variables and comments is refused. */
function parseText(source: string, where: string, names: Set<string>): TemplateText {
  let tokens: unknown[][];
  try {
    tokens = Mustache.parse(source) as unknown[][];
  } catch (err) {
    throw invalidParameters(`${where}: the template is not valid Mustache: ${(err as Error).message}`);
  }
  const parts: (string | { name: string })[] = [];
  for (const [type, value] of tokens as [string, string][]) {
    if (type === 'text') {
      const last = parts.length - 1;
      if (typeof parts[last] === 'string') parts[last] += value;
      else parts.push(value);
    } else if (type === 'name') {
      parts.push({ name: value });
      names.add(value);
    } else if (type === '#' || type === '^' || type === '>' || type === '&') {
      const tag = { '#': `{{#${value}}}`, '^': `{{^${value}}}`, '>': `{{>${value}}}`, '&': `{{{${value}}}}` }[
        type
      ];
      const what = {
        '#': 'a section',
        '^': 'an inverted section',
        '>': 'a partial',
        '&': 'an unescaped value',
      }[type];
      throw invalidParameters(
        `${where}: ${tag} is ${what}; a template takes only {{name}} placeholders (and {{! comments}}), each value written as the format needs`,
      );
    }
    // '!' comments and '=' delimiter changes write nothing.
  }
  return parts;
}

/** The two parses of the parameter: the failsafe one gives every scalar's text, the core one its type. */
interface TemplateDocuments {
  text: Document;
  typed: Document;
}

/** A node of `doc`, an alias replaced by the node it names. */
function resolved(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/**
 * A json or yaml template, walked node by node in both parses at once: they read the same text, so
 * their nodes pair up one to one, whatever the keys (a key such as `01` is the number 1 to the core
 * parse, which a JavaScript object would put first). `inside` holds the collections being walked.
 */
function parseValue(
  docs: TemplateDocuments,
  textNode: unknown,
  typedNode: unknown,
  where: string,
  names: Set<string>,
  inside: Set<unknown> = new Set(),
): TemplateValue {
  const textOf = resolved(docs.text, textNode);
  const typedOf = resolved(docs.typed, typedNode);
  if (isScalar(textOf)) {
    const text = textOf.value;
    const typed = isScalar(typedOf) ? typedOf.value : undefined;
    if (typeof text !== 'string') return { kind: 'scalar', value: null };
    if (typeof typed === 'string') return { kind: 'text', text: parseText(text, where, names) };
    if (typeof typed === 'number' && !Number.isFinite(typed))
      throw invalidParameters(`${where}: ${quote(text)} is not a number JSON can hold: quote it`);
    return { kind: 'scalar', value: (typed ?? null) as number | boolean | null };
  }
  if (!isSeq(textOf) && !isMap(textOf)) return { kind: 'scalar', value: null };
  if (inside.has(textOf))
    throw invalidParameters(`${where}: the template contains itself (through an alias)`);
  inside.add(textOf);
  try {
    if (isSeq(textOf)) {
      const items = isSeq(typedOf) ? typedOf.items : [];
      return {
        kind: 'list',
        items: textOf.items.map((t, i) => parseValue(docs, t, items[i], where, names, inside)),
      };
    }
    const pairs = isMap(typedOf) ? typedOf.items : [];
    return {
      kind: 'map',
      entries: textOf.items.map((pair, i): [string, TemplateValue] => {
        const key = resolved(docs.text, pair.key);
        if (!isScalar(key) || typeof key.value !== 'string')
          throw invalidParameters(`${where}: a key of the template is not a plain name: quote it`);
        return [key.value, parseValue(docs, pair.value, pairs[i]?.value, where, names, inside)];
      }),
    };
  } finally {
    inside.delete(textOf);
  }
}

function parseEntries(
  template: unknown,
  format: 'env' | 'properties',
  where: string,
  names: Set<string>,
): [string, TemplateText][] {
  if (template === null || typeof template !== 'object' || Array.isArray(template)) {
    throw invalidParameters(
      `${where}: a ${format} template is a mapping of ${format === 'env' ? 'variable names' : 'keys'} to values, such as {DB_USER: "{{user}}"}`,
    );
  }
  return Object.entries(template as Record<string, unknown>).map(([key, value]) => {
    if (format === 'env' && !ENV_NAME.test(key)) {
      throw invalidParameters(
        `${where}: ${quote(key)} is not an environment variable name (letters, digits and _, not starting with a digit)`,
      );
    }
    if (format === 'properties' && key === '') throw invalidParameters(`${where}: a key is empty`);
    if (typeof value !== 'string')
      throw invalidParameters(`${where}: the value of ${quote(key)} must be a string, such as "{{user}}"`);
    return [key, parseText(value, `${where}, ${quote(key)}`, names)];
  });
}

/** An entry's template: its value as JavaScript, and its nodes in both parses for json and yaml. */
interface TemplateSource {
  text: unknown;
  docs: TemplateDocuments;
  textNode: unknown;
  typedNode: unknown;
}

function parseBody(source: TemplateSource, format: FileFormat, where: string, names: Set<string>) {
  const { text } = source;
  if (text === undefined || text === null || text === '')
    throw invalidParameters(`${where}: template is required`);
  switch (format) {
    case 'text':
      if (typeof text !== 'string')
        throw invalidParameters(`${where}: a text template is a string (a YAML block such as template: |)`);
      return { format, text: parseText(text, where, names) };
    case 'env':
    case 'properties':
      return { format, entries: parseEntries(text, format, where, names) };
    case 'json':
    case 'yaml':
      return { format, value: parseValue(source.docs, source.textNode, source.typedNode, where, names) };
  }
}

/** The files and directories the objects write: what a placeholder may name. */
function objectFiles(descriptors: readonly ObjectDescriptor[]) {
  const files = new Set<string>();
  const directories = new Set<string>();
  for (const d of descriptors) {
    if (d.writesFile) files.add(d.fileName);
    for (const j of d.jmesPath) files.add(j.fileName);
    if (d.tree) directories.add(d.fileName);
  }
  return { files, directories };
}

function checkNames(
  names: ReadonlySet<string>,
  written: ReturnType<typeof objectFiles>,
  where: string,
): void {
  for (const name of names) {
    if (written.files.has(name)) continue;
    if ([...written.directories].some((dir) => name.startsWith(`${dir}/`))) continue;
    const all = [...written.files, ...[...written.directories].map((d) => `${d}/<key>`)];
    const listed = all.slice(0, 20).map(quote).join(', ') + (all.length > 20 ? ', ...' : '');
    throw invalidParameters(
      `${where}: {{${name}}} names no file the objects write: a placeholder names a file as it is written in the mount (objectAlias or objectName after path translation, a jmesPath objectAlias, or <directory>/<key> of an object written as many files); the objects write ${listed}`,
    );
  }
}

function checkCollisions(
  file: TemplatedFile,
  written: ReturnType<typeof objectFiles>,
  templated: ReadonlySet<string>,
  where: string,
): void {
  const name = file.fileName;
  if (written.files.has(name) || written.directories.has(name))
    throw invalidParameters(`${where}: file name ${quote(name)} is also written by an object`);
  if (templated.has(name)) throw invalidParameters(`${where}: file name ${quote(name)} is templated twice`);
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('/');
    if (written.files.has(parent) || written.directories.has(parent) || templated.has(parent))
      throw invalidParameters(`${where}: file name ${quote(name)} would be inside ${quote(parent)}`);
  }
  for (const other of [...written.files, ...written.directories, ...templated]) {
    if (other.startsWith(`${name}/`))
      throw invalidParameters(`${where}: file name ${quote(name)} is the folder of ${quote(other)}`);
  }
}

function yamlDocument(raw: string, schema: 'failsafe' | 'core'): Document {
  const doc = parseDocument(raw, { schema });
  const error = doc.errors[0];
  if (error) {
    throw invalidParameters(
      `the "${TEMPLATED_FILES}" parameter is not valid YAML: ${error.message.split('\n')[0]}`,
    );
  }
  return doc;
}

/**
 * Parses and checks the `templatedFiles` parameter against the objects' files. `pathTranslation`
 * applies to each path as to an objectAlias.
 */
export function parseTemplatedFiles(
  raw: string | undefined,
  descriptors: readonly ObjectDescriptor[],
  pathTranslation: string,
  warnings?: string[],
): TemplatedFile[] {
  if (raw === undefined || raw.trim() === '') return [];
  const textDoc = yamlDocument(raw, 'failsafe');
  visit(textDoc, {
    Pair(_, pair) {
      if (!isScalar(pair.key)) {
        throw invalidParameters(
          `the "${TEMPLATED_FILES}" parameter has a key that is not a plain name: an unquoted {{name}} reads as a YAML mapping; quote it: "{{name}}"`,
        );
      }
    },
  });
  const texts = textDoc.toJS() as unknown;
  const typedDoc = yamlDocument(raw, 'core');
  const typed = typedDoc.toJS() as unknown;
  const docs = { text: textDoc, typed: typedDoc };
  /** The node of entry `i`'s template in `doc`. */
  const templateNode = (doc: Document, i: number): unknown => {
    const list = resolved(doc, doc.contents);
    const entry = isSeq(list) ? resolved(doc, list.items[i]) : undefined;
    return isMap(entry) ? entry.get('template', true) : undefined;
  };
  if (!Array.isArray(texts))
    throw invalidParameters(
      `the "${TEMPLATED_FILES}" parameter must be a YAML list of {path, format, template}`,
    );
  if (texts.length > MAX_TEMPLATED_FILES) {
    throw invalidParameters(
      `the "${TEMPLATED_FILES}" parameter lists ${texts.length} files, more than the ${MAX_TEMPLATED_FILES} a class may have`,
    );
  }
  const written = objectFiles(descriptors);
  const templated = new Set<string>();
  return texts.map((item: unknown, i) => {
    let where = `${TEMPLATED_FILES} entry ${i + 1}`;
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      throw invalidParameters(`${where} must be a mapping of path, format and template`);
    const entry = item as Record<string, unknown>;
    const unknown = Object.keys(entry).find((k) => !FIELDS.includes(k));
    if (unknown !== undefined) {
      throw invalidParameters(
        `${where}: unknown field ${quote(unknown)}; the fields are ${FIELDS.join(', ')}`,
      );
    }
    const path = entry.path;
    if (typeof path !== 'string' || path === '') throw invalidParameters(`${where}: path is required`);
    const fileName = toFileName(path, pathTranslation, where, { alias: true, warnings });
    where = `templated file ${quote(fileName)}`;
    const format = typeof entry.format === 'string' ? entry.format.toLowerCase() : undefined;
    if (!FILE_FORMATS.includes(format as FileFormat)) {
      throw invalidParameters(
        `${where}: format must be one of ${FILE_FORMATS.join(', ')}, got ${entry.format === undefined ? 'none' : quote(String(entry.format))}`,
      );
    }
    const permission = entry.filePermission;
    if (permission !== undefined && typeof permission !== 'string')
      throw invalidParameters(`${where}: filePermission must be four octal digits such as "0600"`);
    const names = new Set<string>();
    const typedTemplate = (typed as Record<string, unknown>[])[i]?.template;
    const source = {
      text: entry.template,
      docs,
      textNode: templateNode(textDoc, i),
      typedNode: templateNode(typedDoc, i),
    };
    const body = parseBody(source, format as FileFormat, where, names);
    const file: TemplatedFile = {
      ...body,
      fileName,
      mode: parseMode(permission || undefined, where),
      names: [...names],
      source: JSON.stringify([format, entry.template, typedTemplate]),
    };
    checkNames(names, written, where);
    checkCollisions(file, written, templated, where);
    templated.add(fileName);
    return file;
  });
}
