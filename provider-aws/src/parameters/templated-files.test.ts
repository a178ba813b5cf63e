import { thrownBy } from '@sscsi/common/testing';

import { MountError } from '../errors';
import { parseObjects } from './descriptors';
import { parseTemplatedFiles } from './templated-files';

const ctx = { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined };
const descriptors = parseObjects(
  `
  - {objectName: prod/db, objectType: secretsmanager, objectAlias: db, jmesPath: [{path: username, objectAlias: user}, {path: password, objectAlias: pass}]}
  - {objectName: /app/api-key, objectType: ssmparameter}
  - {objectName: /app/conf, objectType: ssmparameter, objectAlias: conf, parametersUnderPath: recursive}
`,
  ctx,
);
const parse = (raw: string | undefined, warnings?: string[]) =>
  parseTemplatedFiles(raw, descriptors, '_', warnings);

describe('parseTemplatedFiles', () => {
  it('is empty without the parameter', () => {
    expect(parse(undefined)).toEqual([]);
    expect(parse('  \n')).toEqual([]);
  });

  it('parses each format into its body, naming the files its placeholders use', () => {
    const [env, text, json, properties] = parse(`
      - path: app.env
        format: env
        filePermission: "0400"
        template: {DB_USER: "{{user}}", DB_PASS: "{{ pass }}", API: "key={{_app_api-key}}"}
      - path: app.conf
        format: TEXT
        template: |
          {{! a comment }}user = {{user}}
          {{=<% %>=}}literal {{braces}} then <%pass%>
      - path: app.json
        format: json
        template: {db: {user: "{{user}}", port: 5432, tls: true, note: null, hosts: [a, "{{conf/host}}"]}}
      - path: app.properties
        format: properties
        template: {db.user: "{{user}}"}
    `);
    expect(env).toMatchObject({
      fileName: 'app.env',
      format: 'env',
      mode: 0o400,
      names: ['user', 'pass', '_app_api-key'],
      entries: [
        ['DB_USER', [{ name: 'user' }]],
        ['DB_PASS', [{ name: 'pass' }]],
        ['API', ['key=', { name: '_app_api-key' }]],
      ],
    });
    expect(text).toMatchObject({
      format: 'text',
      mode: undefined,
      names: ['user', 'pass'],
      text: ['user = ', { name: 'user' }, '\nliteral {{braces}} then ', { name: 'pass' }, '\n'],
    });
    expect(json).toMatchObject({
      format: 'json',
      names: ['user', 'conf/host'],
      value: {
        kind: 'map',
        entries: [
          [
            'db',
            {
              kind: 'map',
              entries: [
                ['user', { kind: 'text', text: [{ name: 'user' }] }],
                ['port', { kind: 'scalar', value: 5432 }],
                ['tls', { kind: 'scalar', value: true }],
                ['note', { kind: 'scalar', value: null }],
                [
                  'hosts',
                  {
                    kind: 'list',
                    items: [
                      { kind: 'text', text: ['a'] },
                      { kind: 'text', text: [{ name: 'conf/host' }] },
                    ],
                  },
                ],
              ],
            },
          ],
        ],
      },
    });
    expect(properties).toMatchObject({ format: 'properties', entries: [['db.user', [{ name: 'user' }]]] });
  });

  it('applies path translation to the path, as to an objectAlias', () => {
    const [file] = parse('- {path: config/app.env, format: env, template: {A: "{{user}}"}}');
    expect(file?.fileName).toBe('config_app.env');
    expect(
      parseTemplatedFiles(
        '- {path: config/app.env, format: env, template: {A: "{{db}}"}}',
        descriptors,
        '',
      )[0]?.fileName,
    ).toBe('config/app.env');
  });

  it.each<[string, string, string]>([
    ['not YAML', '- {path: a', 'the "templatedFiles" parameter is not valid YAML'],
    ['not a list', 'path: a', 'must be a YAML list of {path, format, template}'],
    ['an entry that is no mapping', '- a', 'templatedFiles entry 1 must be a mapping'],
    ['an unknown field', '- {path: a, format: env, tempalte: {}}', 'unknown field "tempalte"'],
    ['no path', '- {format: env, template: {A: b}}', 'templatedFiles entry 1: path is required'],
    ['a path leaving the mount', '- {path: ../x, format: text, template: x}', 'contains ".."'],
    ['an unknown format', '- {path: a, format: toml, template: x}', 'format must be one of env, properties'],
    ['no template', '- {path: a, format: text}', 'templated file "a": template is required'],
    [
      'a text template that is no string',
      '- {path: a, format: text, template: [x]}',
      'a text template is a string',
    ],
    [
      'an env template that is no mapping',
      '- {path: a, format: env, template: x}',
      'a env template is a mapping',
    ],
    [
      'an env name that is not one',
      '- {path: a, format: env, template: {1X: y}}',
      '"1X" is not an environment',
    ],
    [
      'a nested env value',
      '- {path: a, format: env, template: {X: [y]}}',
      'the value of "X" must be a string',
    ],
    [
      'an unquoted placeholder',
      '- {path: a, format: env, template: {X: {{user}}}}',
      'an unquoted {{name}} reads as a YAML mapping; quote it',
    ],
    [
      'a filePermission as a number',
      '- {path: a, format: text, template: x, filePermission: 600}',
      'filePermission must be four octal digits',
    ],
    [
      'a bad filePermission',
      '- {path: a, format: text, template: x, filePermission: "0999"}',
      'filePermission must be four',
    ],
    [
      'unclosed Mustache',
      '- {path: a, format: text, template: "{{user"}',
      'the template is not valid Mustache: Unclosed tag',
    ],
    [
      'a section',
      '- {path: a, format: text, template: "{{#user}}x{{/user}}"}',
      '{{#user}} is a section; a template takes only {{name}}',
    ],
    [
      'an inverted section',
      '- {path: a, format: text, template: "{{^user}}x{{/user}}"}',
      'is an inverted section',
    ],
    [
      'a partial',
      '- {path: a, format: text, template: "{{> /etc/passwd}}"}',
      '{{>/etc/passwd}} is a partial',
    ],
    [
      'an unescaped value',
      '- {path: a, format: text, template: "{{{user}}}"}',
      '{{{user}}} is an unescaped value',
    ],
    [
      'an unescaped value with &',
      '- {path: a, format: yaml, template: {a: "{{& user}}"}}',
      'is an unescaped value',
    ],
    [
      'a placeholder naming no file',
      '- {path: app.env, format: env, template: {X: "{{password}}"}}',
      'templated file "app.env": {{password}} names no file the objects write: a placeholder names a file as it is written in the mount',
    ],
    [
      'the file of a tree object',
      '- {path: a, format: text, template: "{{conf}}"}',
      '{{conf}} names no file',
    ],
    [
      'another templated file',
      '- {path: a, format: text, template: x}\n- {path: b, format: text, template: "{{a}}"}',
      '{{a}} names no file',
    ],
    [
      'a path an object writes',
      '- {path: user, format: text, template: x}',
      'file name "user" is also written by an object',
    ],
    [
      'a path inside a tree',
      '- {path: conf/x, format: text, template: x}',
      'file name "conf/x" would be inside "conf"',
    ],
    [
      'a path twice',
      '- {path: a, format: text, template: x}\n- {path: a, format: env, template: {}}',
      'file name "a" is templated twice',
    ],
    [
      'a number JSON cannot hold',
      '- {path: a, format: json, template: {x: .inf}}',
      '".inf" is not a number JSON can hold',
    ],
  ])('refuses %s, naming the entry', (_name, raw, message) => {
    const err = thrownBy(() => parseTemplatedFiles(raw, descriptors, ''), MountError);
    expect(err.reason).toBe('InvalidParameters');
    expect(err.message).toContain(message);
  });

  it('refuses a path inside a tree directory with translation on too', () => {
    const err = thrownBy(() => parse('- {path: conf, format: text, template: x}'), MountError);
    expect(err.message).toBe('templated file "conf": file name "conf" is also written by an object');
  });

  it('lists the files the objects write when a placeholder names none', () => {
    const err = thrownBy(() => parse('- {path: a, format: text, template: "{{pas}}"}'), MountError);
    expect(err.message).toMatch(/the objects write "db", "user", "pass", "_app_api-key", "conf\/<key>"$/);
  });

  it('refuses more files than a class may have', () => {
    const raw = Array.from({ length: 101 }, (_, i) => `- {path: f${i}, format: text, template: x}`).join(
      '\n',
    );
    expect(thrownBy(() => parse(raw), MountError).message).toContain('lists 101 files, more than the 100');
  });

  it('warns as for an objectAlias', () => {
    const warnings: string[] = [];
    parseTemplatedFiles('- {path: /app.env, format: text, template: x}', descriptors, '', warnings);
    expect(warnings).toEqual([
      'templatedFiles entry 1: "/app.env" is an absolute path; it names "app.env" inside the mount',
    ]);
  });

  it('pairs each key with its own value, whatever order YAML keys take as JavaScript keys', () => {
    // 01 is the number 1 to the typed parse: as a JavaScript key it would come before url.
    const [json] = parse(
      '- {path: a.json, format: json, template: {url: "{{conf/url}}", 01: 5, 2: [x, "{{user}}"]}}',
    );
    expect(json).toMatchObject({
      names: ['conf/url', 'user'],
      value: {
        kind: 'map',
        entries: [
          ['url', { kind: 'text', text: [{ name: 'conf/url' }] }],
          ['01', { kind: 'scalar', value: 5 }],
          [
            '2',
            {
              kind: 'list',
              items: [
                { kind: 'text', text: ['x'] },
                { kind: 'text', text: [{ name: 'user' }] },
              ],
            },
          ],
        ],
      },
    });
    // And a placeholder is still checked against the objects' files.
    expect(
      thrownBy(() => parse('- {path: a.json, format: yaml, template: {url: "{{nope}}", 01: 5}}'), MountError)
        .message,
    ).toMatch(/^templated file "a.json": \{\{nope\}\} names no file the objects write/);
  });

  it('reads an alias as the value it names, and refuses a template that contains itself', () => {
    const [json] = parse(
      '- {path: a.json, format: json, template: {a: &u "{{user}}", b: [*u, &n 3], c: *n}}',
    );
    expect(json).toMatchObject({
      value: {
        entries: [
          ['a', { kind: 'text' }],
          [
            'b',
            {
              kind: 'list',
              items: [
                { kind: 'text', text: [{ name: 'user' }] },
                { kind: 'scalar', value: 3 },
              ],
            },
          ],
          ['c', { kind: 'scalar', value: 3 }],
        ],
      },
    });
    expect(
      thrownBy(() => parse('- {path: a.json, format: json, template: &t {a: [*t]}}'), MountError).message,
    ).toMatch(/contains itself/);
  });

  it('keeps the source of each entry: the version changes with the template', () => {
    const [a] = parse('- {path: a, format: json, template: {p: 5432}}');
    const [b] = parse('- {path: a, format: json, template: {p: "5432"}}');
    expect(a?.source).not.toBe(b?.source);
  });
});
