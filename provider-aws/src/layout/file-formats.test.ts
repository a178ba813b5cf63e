import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';

import { envFile, jsonFile, propertiesFile, UnwritableEnvValue, yamlFile } from './file-formats';

/** Text as an application reads it: valid Unicode (values come from UTF-8 files). */
const text = fc.string({ unit: 'grapheme', maxLength: 40 });

/** What a POSIX shell reads from an env file: `set -a; . file`, each variable printed NUL-terminated. */
function readByShell(contents: string, names: readonly string[]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'env-file-'));
  try {
    const file = path.join(dir, 'app.env');
    fs.writeFileSync(file, contents);
    const print = names.map((n) => `"$${n}"`).join(' ');
    const out = execFileSync('sh', ['-c', `. "$1" && printf '%s\\0' ${print}`, 'sh', file], {
      env: {},
      encoding: 'utf8',
    });
    return out.split('\0').slice(0, -1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Java's Properties.load for one logical line per entry (no continuation lines are written). */
function loadProperties(contents: string): Map<string, string> {
  const unescape = (s: string) =>
    s.replace(/\\(u[0-9A-Fa-f]{4}|.)/g, (_, e: string) => {
      if (e.startsWith('u') && e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
      return ({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[e] ?? e;
    });
  const out = new Map<string, string>();
  for (const line of contents.split('\n')) {
    if (line === '') continue;
    const separator = /^((?:\\.|[^\\=: \t])*)[ \t]*[=:]?[ \t]*/.exec(line) as RegExpExecArray;
    out.set(unescape(separator[1] as string), unescape(line.slice(separator[0].length)));
  }
  return out;
}

describe('envFile', () => {
  /** Values envFile writes: without a single quote, a backslash or a line break. */
  const writableEnvValues = fc.array(
    text.filter((v) => !/['\\\r\n\0]/.test(v)),
    { minLength: 1, maxLength: 10 },
  );

  it('writes plain values bare and the rest in single quotes', () => {
    expect(
      envFile([
        ['USER', 'admin'],
        ['URL', 'postgres://a@db:5432/x?ssl=1'],
        ['EMPTY', ''],
        ['PASS', 'p$ss w0rd#"`!*~'],
      ]),
    ).toBe(`USER=admin\nURL='postgres://a@db:5432/x?ssl=1'\nEMPTY=\nPASS='p$ss w0rd#"\`!*~'\n`);
  });

  it('is read back exactly by a POSIX shell', () => {
    fc.assert(
      fc.property(writableEnvValues, (writable) => {
        const names = writable.map((_, i) => `V${i}`);
        const contents = envFile(writable.map((v, i) => [names[i] as string, v]));
        expect(readByShell(contents, names)).toEqual(writable);
      }),
      { numRuns: 20 },
    );
  });

  it.each([
    ['a single quote', "it's"],
    ['a backslash', 'a\\b'],
    ['a line break', 'a\nb'],
    ['a carriage return', 'a\rb'],
  ])('refuses a value with %s, naming the variable only', (_name, value) => {
    let thrown: unknown;
    try {
      envFile([['DB_PASS', value]]);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UnwritableEnvValue);
    expect((thrown as UnwritableEnvValue).variable).toBe('DB_PASS');
    expect((thrown as Error).message).not.toContain(value);
  });
});

describe('propertiesFile', () => {
  it("escapes as Java's Properties.store does", () => {
    expect(
      propertiesFile([
        ['db.user', 'admin'],
        ['key with=sep', ' lead: #1 !x\\y\tz\nä€'],
      ]),
    ).toBe('db.user=admin\nkey\\ with\\=sep=\\ lead\\: \\#1 \\!x\\\\y\\tz\\n\\u00E4\\u20AC\n');
  });

  it('is read back exactly by Properties.load, keys and values', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.tuple(
            text.filter((k) => k !== ''),
            text,
          ),
          { selector: ([k]) => k },
        ),
        (entries) => {
          expect(loadProperties(propertiesFile(entries))).toEqual(new Map(entries));
        },
      ),
    );
  });
});

describe('jsonFile and yamlFile', () => {
  const tree = fc.dictionary(
    text,
    fc.oneof(text, fc.array(text), fc.integer(), fc.boolean(), fc.constant(null)),
  );

  it('are read back exactly, strings that look like numbers staying strings', () => {
    fc.assert(
      fc.property(tree, (value) => {
        expect(JSON.parse(jsonFile(value))).toEqual(value);
        expect(parseYaml(yamlFile(value))).toEqual(value);
        expect(parseYaml(yamlFile(value), { version: '1.1' })).toEqual(value);
      }),
    );
    const value = { port: '5432', on: 'true', pem: `-----BEGIN-----\n${'A'.repeat(200)}\n-----END-----\n` };
    expect(parseYaml(yamlFile(value))).toEqual(value);
    expect(yamlFile({ token: 'x'.repeat(200) })).toBe(`token: ${'x'.repeat(200)}\n`);
  });

  it('quotes what YAML 1.1 readers (SnakeYAML, PyYAML, go-yaml v2) or 1.2 readers would not read as a string', () => {
    const looksTyped = [
      'yes',
      'on',
      'NO',
      'y',
      'Off',
      '12:30',
      '1_000',
      '2001-12-14',
      '0b101',
      '017',
      '0o17',
    ];
    const more = ['0x1F', '.inf', '1e3', '~', 'null', '', 'true', '=', '<<', '190:20:30', '+12'];
    const value = Object.fromEntries([...looksTyped, ...more].map((s, i) => [s || 'empty', [s, i]]));
    const file = yamlFile(value);
    for (const version of ['1.1', '1.2'] as const) expect(parseYaml(file, { version })).toEqual(value);
    for (const s of looksTyped) expect(file).toContain(`- "${s}"`);
    expect(file).toContain('"yes":');
    expect(file).not.toContain('%YAML');
    expect(yamlFile({ token: 'x'.repeat(200) })).toBe(`token: ${'x'.repeat(200)}\n`);
  });
});
