// How a value is written in each format of a templated file, so that the application reads back
// exactly the value (or, where no common spelling exists, the mount fails naming the variable).
// json and yaml are serialised whole by their libraries: escaping is theirs, correct by construction.
import type { Tags } from 'yaml';
import { Document, visit } from 'yaml';

/** An env value whose reader would not read it back as written: the variable's name, never the value. */
export class UnwritableEnvValue extends Error {
  constructor(readonly variable: string) {
    super(`the value of ${variable} cannot be written in an env file`);
  }
}

/** Needs no quotes for any reader (no shell expansion, no comment, no whitespace). */
const BARE_ENV_VALUE = /^[A-Za-z0-9_@%+=:,./-]*$/;
/** What single quotes cannot carry alike for the shell, Docker Compose, systemd and the dotenv libraries. */
const UNQUOTABLE_ENV_VALUE = /['\\\r\n\0]/;

/**
 * `NAME=value` lines. A value is bare when it can be, else in single quotes, which POSIX shells,
 * Docker Compose, systemd's EnvironmentFile and the dotenv libraries all read literally. A single
 * quote, a backslash or a line break has no spelling they agree on: UnwritableEnvValue.
 */
export function envFile(entries: readonly [string, string][]): string {
  return entries
    .map(([name, value]) => {
      if (BARE_ENV_VALUE.test(value)) return `${name}=${value}\n`;
      if (UNQUOTABLE_ENV_VALUE.test(value)) throw new UnwritableEnvValue(name);
      return `${name}='${value}'\n`;
    })
    .join('');
}

const PROPERTIES_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\f': '\\f',
  '=': '\\=',
  ':': '\\:',
  '#': '\\#',
  '!': '\\!',
};

/**
 * Java's `Properties.store` escaping: what `Properties.load` (and Spring, which reads the file as
 * ISO-8859-1) reads back exactly; everything outside printable ASCII as \uXXXX.
 */
function propertiesText(text: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    const code = text.charCodeAt(i);
    if (ch === ' ') out += isKey || i === 0 ? '\\ ' : ' ';
    else if (PROPERTIES_ESCAPES[ch] !== undefined) out += PROPERTIES_ESCAPES[ch];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

export function propertiesFile(entries: readonly [string, string][]): string {
  return entries
    .map(([key, value]) => `${propertiesText(key, true)}=${propertiesText(value, false)}\n`)
    .join('');
}

export function jsonFile(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The plain scalars YAML 1.2's core schema reads as something other than a string. */
const CORE_SCHEMA_TAGS = new Document(null).schema.tags.flatMap((t) =>
  t.default && t.tag !== 'tag:yaml.org,2002:str' && t.test ? [t.test] : [],
);
/** YAML 1.1's value and merge keys: PyYAML has no constructor for them outside a mapping's key. */
const YAML_11_INDICATORS = new Set(['=', '<<']);
const MERGE_TAG = 'tag:yaml.org,2002:merge';

/**
 * Quoted wherever a reader of either YAML version would not read a string back: the 1.1 schema
 * (SnakeYAML, PyYAML, go-yaml v2 read `yes`, `on`, `y`, `12:30`, `1_000`, `2001-12-14` otherwise)
 * is the library's own, `0o17` (an integer to 1.2 readers only) is checked here. No line folding:
 * a long value (a key, a certificate) stays one scalar as it is.
 */
export function yamlFile(value: unknown): string {
  // Without its merge tag, the 1.1 schema writes a key "<<" as a string, not as a merge key.
  const customTags = (tags: Tags) => tags.filter((t) => typeof t === 'string' || t.tag !== MERGE_TAG);
  const doc = new Document(value, { version: '1.1', customTags });
  visit(doc, {
    Scalar(_key, node) {
      const text = node.value;
      if (typeof text !== 'string') return;
      if (YAML_11_INDICATORS.has(text) || CORE_SCHEMA_TAGS.some((test) => test.test(text)))
        node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString({ lineWidth: 0 });
}
