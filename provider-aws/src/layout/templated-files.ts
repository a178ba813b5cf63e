// The layout stage for templated files: each rendered from the files the objects laid out in this
// mount, so it is written in the same payload as them (atomically) and rendered again on every
// rotation. Its version is derived from the versions of the files it names and from its template,
// so the driver sees it change whenever one of them does.
import { createHash } from 'node:crypto';

import { MountError } from '../errors';
import type { TemplatedFile, TemplateText, TemplateValue } from '../parameters/templated-files';
import { MAX_TREE_BYTES } from '../parameters/tree-limits';
import { envFile, jsonFile, propertiesFile, UnwritableEnvValue, yamlFile } from './file-formats';
import type { Miss } from './files';
import type { MountFile } from './mount-file';

/** Bytes the templated files of one mount may hold together, as one object written as many files. */
export const MAX_TEMPLATED_BYTES = MAX_TREE_BYTES;

const quote = (s: string) => JSON.stringify(s);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The miss that leaves file `name` out of this mount, if one does: its own file, or its directory's. */
const missOf = (name: string, misses: readonly Miss[]): Miss | undefined =>
  misses.find((m) => m.files.some((f) => name === f || name.startsWith(`${f}/`)));

function valuesOf(
  t: TemplatedFile,
  byPath: ReadonlyMap<string, MountFile>,
  misses: readonly Miss[],
): Map<string, string> {
  const where = `templated file ${quote(t.fileName)}`;
  const values = new Map<string, string>();
  for (const name of t.names) {
    const file = byPath.get(name);
    const miss = file ? undefined : missOf(name, misses);
    if (miss) {
      // A templated file is all its values or nothing: an optional object's absence fails it.
      throw new MountError(
        'InvalidSecretContent',
        `${where}: {{${name}}} is a file of ${miss.what}, which is missing in ${miss.region} (${miss.code}): a templated file is written only with every file it names`,
      );
    }
    if (!file) {
      // Checked with the class: only a key or parameter of an object written as many files can be
      // missing here (or the file of an object this mount does not write).
      const hint = name.includes('/') ? " (no such key or parameter in the object's directory)" : '';
      throw new MountError(
        'InvalidSecretContent',
        `${where}: {{${name}}} names no file of this mount${hint}`,
      );
    }
    try {
      values.set(name, utf8.decode(file.contents));
    } catch {
      throw new MountError('InvalidSecretContent', `${where}: the value of {{${name}}} is not UTF-8 text`);
    }
  }
  return values;
}

function renderText(text: TemplateText, values: ReadonlyMap<string, string>): string {
  return text.map((part) => (typeof part === 'string' ? part : (values.get(part.name) as string))).join('');
}

function renderValue(value: TemplateValue, values: ReadonlyMap<string, string>): unknown {
  switch (value.kind) {
    case 'text':
      return renderText(value.text, values);
    case 'scalar':
      return value.value;
    case 'list':
      return value.items.map((item) => renderValue(item, values));
    case 'map':
      // fromEntries defines own properties: a key "__proto__" is a key like any other.
      return Object.fromEntries(value.entries.map(([k, v]) => [k, renderValue(v, values)]));
  }
}

function render(t: TemplatedFile, values: ReadonlyMap<string, string>): string {
  switch (t.format) {
    case 'text':
      return renderText(t.text, values);
    case 'env':
    case 'properties': {
      const entries = t.entries.map(([k, text]): [string, string] => [k, renderText(text, values)]);
      if (t.format === 'properties') return propertiesFile(entries);
      try {
        return envFile(entries);
      } catch (err) {
        if (!(err instanceof UnwritableEnvValue)) throw err;
        throw new MountError(
          'InvalidSecretContent',
          `templated file ${quote(t.fileName)} (format env): the value of ${err.variable} has a single quote, a backslash or a line break, which the readers of env files (shells, Docker Compose, systemd, dotenv) do not read alike: use format properties, json, yaml or text for it`,
        );
      }
    }
    case 'json':
      return jsonFile(renderValue(t.value, values));
    case 'yaml':
      return yamlFile(renderValue(t.value, values));
  }
}

function versionOf(t: TemplatedFile, byPath: ReadonlyMap<string, MountFile>): string {
  const used = t.names.map((name) => [name, byPath.get(name)?.version]);
  const digest = createHash('sha256')
    .update(JSON.stringify([t.source, used]))
    .digest('hex');
  return `template-${digest.slice(0, 32)}`;
}

/**
 * The templated files, rendered from `files` (the objects' files of this mount); `misses` name the
 * optional objects whose files are absent.
 */
export function templatedFilesOf(
  templates: readonly TemplatedFile[],
  files: readonly MountFile[],
  defaultMode: number,
  misses: readonly Miss[] = [],
): MountFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  let bytes = 0;
  return templates.map((t) => {
    const contents = Buffer.from(render(t, valuesOf(t, byPath, misses)), 'utf8');
    bytes += contents.length;
    if (bytes > MAX_TEMPLATED_BYTES) {
      throw new MountError(
        'InvalidSecretContent',
        `templated file ${quote(t.fileName)}: the templated files would hold more than ${MAX_TEMPLATED_BYTES} bytes, the most they may hold together`,
      );
    }
    return { path: t.fileName, mode: t.mode ?? defaultMode, contents, version: versionOf(t, byPath) };
  });
}
