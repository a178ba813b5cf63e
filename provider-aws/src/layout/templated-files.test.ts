import { thrownBy } from '@sscsi/common/testing';

import { parse as parseYaml } from 'yaml';

import { MountError } from '../errors';
import { parseObjects } from '../parameters/descriptors';
import { parseTemplatedFiles } from '../parameters/templated-files';
import type { Miss } from './files';
import type { MountFile } from './mount-file';
import { MAX_TEMPLATED_BYTES, templatedFilesOf } from './templated-files';

const descriptors = parseObjects(
  `
  - {objectName: db, objectType: secretsmanager, jmesPath: [{path: username, objectAlias: user}, {path: password, objectAlias: pass}]}
  - {objectName: /app/conf, objectType: ssmparameter, objectAlias: conf, parametersUnderPath: recursive}
`,
  { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined },
);
const templates = (raw: string) => parseTemplatedFiles(raw, descriptors, '_');
const file = (p: string, value: string | Buffer, version = 'v1'): MountFile => ({
  path: p,
  mode: 0o644,
  contents: Buffer.isBuffer(value) ? value : Buffer.from(value),
  version,
});
const PASSWORD = `p@ss "w0rd" \\ ' $HOME`;
const objectFiles = (password = PASSWORD, version = 'v1') => [
  file('db', JSON.stringify({ username: 'admin', password }), version),
  file('user', 'admin', version),
  file('pass', password, version),
  file('conf/host', 'db.internal', 'p3'),
];
const render = (raw: string, files = objectFiles()) => templatedFilesOf(templates(raw), files, 0o640);
const contentsOf = (raw: string, files = objectFiles()) =>
  render(raw, files).map((f) => f.contents.toString('utf8'));

describe('templatedFilesOf', () => {
  it('renders text with values as they are, in the file and mode of the entry', () => {
    const [out] = render(
      '- {path: app.conf, format: text, filePermission: "0400", template: "u={{user}} p={{pass}}\\n"}',
    );
    expect(out).toMatchObject({ path: 'app.conf', mode: 0o400 });
    expect(out?.contents.toString()).toBe(`u=admin p=${PASSWORD}\n`);
    expect(render('- {path: a, format: text, template: x}')[0]?.mode).toBe(0o640);
  });

  it('renders json and yaml by serialising the tree: values escaped, scalars of the template typed', () => {
    const raw = (format: string) =>
      `- {path: app, format: ${format}, template: {db: {user: "{{user}}", password: "{{pass}}", host: "{{conf/host}}", port: 5432, url: "postgres://{{user}}@{{conf/host}}"}}}`;
    const expected = {
      db: {
        user: 'admin',
        password: PASSWORD,
        host: 'db.internal',
        port: 5432,
        url: 'postgres://admin@db.internal',
      },
    };
    expect(JSON.parse(contentsOf(raw('json'))[0] as string)).toEqual(expected);
    expect(parseYaml(contentsOf(raw('yaml'))[0] as string)).toEqual(expected);
    expect(contentsOf(raw('yaml'))[0]).toBe(
      `db:\n  user: admin\n  password: p@ss "w0rd" \\ ' $HOME\n  host: db.internal\n  port: 5432\n  url: postgres://admin@db.internal\n`,
    );
  });

  it('renders properties escaped for Properties.load', () => {
    expect(
      contentsOf('- {path: app.properties, format: properties, template: {db.password: "{{pass}}"}}'),
    ).toEqual([`db.password=p@ss "w0rd" \\\\ ' $HOME\n`]);
  });

  it('renders env with quotes where a value needs them', () => {
    expect(
      contentsOf(
        '- {path: app.env, format: env, template: {DB_USER: "{{user}}", DB_HOST: "{{conf/host}}", GREETING: "hi {{user}}"}}',
      ),
    ).toEqual([`DB_USER=admin\nDB_HOST=db.internal\nGREETING='hi admin'\n`]);
  });

  it('refuses an env value no reader agrees on, naming the file and variable, never the value', () => {
    const err = thrownBy(
      () => render('- {path: app.env, format: env, template: {DB_PASS: "{{pass}}"}}'),
      MountError,
    );
    expect(err.reason).toBe('InvalidSecretContent');
    expect(err.message).toBe(
      'templated file "app.env" (format env): the value of DB_PASS has a single quote, a backslash or a line break, which the readers of env files (shells, Docker Compose, systemd, dotenv) do not read alike: use format properties, json, yaml or text for it',
    );
  });

  it('refuses a key of a tree the object does not have, naming it', () => {
    const err = thrownBy(() => render('- {path: a, format: text, template: "{{conf/port}}"}'), MountError);
    expect(err.message).toBe(
      'templated file "a": {{conf/port}} names no file of this mount (no such key or parameter in the object\'s directory)',
    );
  });

  it('refuses a file the mount does not have, naming it', () => {
    const files = objectFiles().filter((f) => f.path !== 'pass');
    expect(
      thrownBy(() => render('- {path: a, format: text, template: "{{pass}}"}', files), MountError).message,
    ).toBe('templated file "a": {{pass}} names no file of this mount');
  });

  it('names the missing optional object a file, or a file in its directory, would come from', () => {
    const miss: Miss = {
      what: 'optional object "/app/conf" (ssmparameter)',
      object: '/app/conf',
      type: 'ssmparameter',
      region: 'us-east-1',
      code: 'NoParametersUnderPath',
      file: 'conf',
      files: ['conf'],
    };
    const files = objectFiles().filter((f) => !f.path.startsWith('conf/'));
    const err = thrownBy(
      () =>
        templatedFilesOf(templates('- {path: a, format: text, template: "{{conf/host}}"}'), files, 0o640, [
          miss,
        ]),
      MountError,
    );
    expect(err.reason).toBe('InvalidSecretContent');
    expect(err.message).toBe(
      'templated file "a": {{conf/host}} is a file of optional object "/app/conf" (ssmparameter), which is missing in us-east-1 (NoParametersUnderPath): a templated file is written only with every file it names',
    );
    // A file the mount has is rendered whatever else is missing.
    const [out] = templatedFilesOf(
      templates('- {path: a, format: text, template: "{{user}}"}'),
      files,
      0o640,
      [miss],
    );
    expect(out?.contents.toString()).toBe('admin');
  });

  it('refuses a value that is not UTF-8 text, without quoting it', () => {
    const files = [...objectFiles(), file('conf/key', Buffer.from([0xff, 0xfe, 0x41]))];
    const err = thrownBy(
      () => render('- {path: a, format: text, template: "{{conf/key}}"}', files),
      MountError,
    );
    expect(err.message).toBe('templated file "a": the value of {{conf/key}} is not UTF-8 text');
  });

  it('refuses templated files larger together than the limit', () => {
    const big = 'x'.repeat(MAX_TEMPLATED_BYTES / 2);
    const files = [...objectFiles(), file('conf/big', big)];
    const raw =
      '- {path: a, format: text, template: "{{conf/big}}"}\n- {path: b, format: text, template: "{{conf/big}}!"}';
    expect(thrownBy(() => render(raw, files), MountError).message).toBe(
      `templated file "b": the templated files would hold more than ${MAX_TEMPLATED_BYTES} bytes, the most they may hold together`,
    );
  });

  describe('versions', () => {
    const raw = '- {path: a, format: text, template: "{{user}}:{{conf/host}}"}';
    const versionOf = (r: string, files: MountFile[]) => render(r, files)[0]?.version;

    it('are the same for the same template and versions: no change on a rotation that finds none', () => {
      expect(versionOf(raw, objectFiles())).toBe(versionOf(raw, objectFiles()));
      expect(versionOf(raw, objectFiles())).toMatch(/^template-[0-9a-f]{32}$/);
    });

    it('change when a file it names changes version, or the template changes', () => {
      const before = versionOf(raw, objectFiles());
      expect(versionOf(raw, objectFiles(PASSWORD, 'v2'))).not.toBe(before);
      const hostMoved = objectFiles().map((f) => (f.path === 'conf/host' ? { ...f, version: 'p4' } : f));
      expect(versionOf(raw, hostMoved)).not.toBe(before);
      expect(versionOf(raw.replace('}}:{{', '}}@{{'), objectFiles())).not.toBe(before);
    });

    it('do not change with files it does not name', () => {
      const other = [...objectFiles(), file('conf/other', 'x', 'p9')];
      expect(versionOf(raw, other)).toBe(versionOf(raw, objectFiles()));
    });
  });
});
