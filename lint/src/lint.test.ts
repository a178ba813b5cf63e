import { parseObjects } from 'secrets-store-csi-driver-provider-aws/validation';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { lintFiles } from './cli';

/** Runs the command on files written to a temporary folder; returns its status and lines. */
function lint(files: Record<string, string>, extraArgs: string[] = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-lint-'));
  try {
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    const out: string[] = [];
    const err: string[] = [];
    const status = lintFiles([...Object.keys(files).map((f) => path.join(dir, f)), ...extraArgs], {
      out: (l) => out.push(l.split(`${dir}/`).join('')),
      err: (l) => err.push(l),
    });
    return { status, out, err };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const spc = (o: { name?: string; params?: string[]; extra?: string[]; provider?: string } = {}) =>
  [
    'apiVersion: secrets-store.csi.x-k8s.io/v1',
    'kind: SecretProviderClass',
    'metadata:',
    `  name: ${o.name ?? 'db'}`,
    'spec:',
    ...(o.provider === '' ? [] : [`  provider: ${o.provider ?? 'aws'}`]),
    ...(o.extra ?? []),
    '  parameters:',
    ...(o.params ?? [
      '    objects: |',
      '      - objectName: "MyDBSecret"',
      '        objectType: "secretsmanager"',
    ]),
    '',
  ].join('\n');

const pod = (o: { kind?: string; readOnly?: boolean; attributes?: string[] } = {}) => {
  const volumes = [
    'volumes:',
    '  - name: secrets',
    '    csi:',
    '      driver: secrets-store.csi.k8s.io',
    `      readOnly: ${o.readOnly ?? true}`,
    '      volumeAttributes:',
    '        secretProviderClass: db',
    ...(o.attributes ?? []).map((a) => `        ${a}`),
    'containers:',
    '  - name: app',
    '    image: busybox',
  ];
  const indent = (n: number) => volumes.map((l) => ' '.repeat(n) + l);
  switch (o.kind ?? 'Pod') {
    case 'Deployment':
      return [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata:',
        '  name: app',
        'spec:',
        '  template:',
        '    spec:',
        ...indent(6),
        '',
      ].join('\n');
    case 'CronJob':
      return [
        'apiVersion: batch/v1',
        'kind: CronJob',
        'metadata:',
        '  name: app',
        'spec:',
        '  jobTemplate:',
        '    spec:',
        '      template:',
        '        spec:',
        ...indent(10),
        '',
      ].join('\n');
    default:
      return ['apiVersion: v1', 'kind: Pod', 'metadata:', '  name: app', 'spec:', ...indent(2), ''].join(
        '\n',
      );
  }
};

describe('secrets-store-csi-lint', () => {
  it('passes a class and a pod that a mount accepts, silently', () => {
    expect(lint({ 'app.yaml': `${spc()}---\n${pod()}` })).toEqual({ status: 0, out: [], err: [] });
  });

  it("reports the AWS provider's own message for an object it refuses, as file:document: field", () => {
    const objects = '- objectName: "MyDBSecret"\n  objectType: "secretmanager"\n';
    let providerMessage = '';
    try {
      parseObjects(objects, { pathTranslation: '_', region: undefined, failoverRegion: undefined });
    } catch (err) {
      providerMessage = (err as Error).message;
    }
    expect(providerMessage).not.toBe('');
    const run = lint({
      'app.yaml': `${pod()}---\n${spc({
        params: [
          '    objects: |',
          ...objects
            .trimEnd()
            .split('\n')
            .map((l) => `      ${l}`),
        ],
      })}`,
    });
    expect(run.status).toBe(1);
    expect(run.out).toEqual([`app.yaml:2: spec.parameters: ${providerMessage}`]);
  });

  it.each([
    [
      'no provider',
      spc({ provider: '' }),
      'spec.provider: SecretProviderClass default/db has no spec.provider',
    ],
    [
      'a provider name that cannot be a socket',
      spc({ provider: '../aws' }),
      'spec.provider: invalid provider name "../aws": want [a-zA-Z0-9_-]{1,30}',
    ],
    [
      'no parameters',
      spc({ params: ['    {}'] }),
      'spec.parameters: SecretProviderClass default/db has no spec.parameters',
    ],
    [
      'a parameter that is not a string',
      spc({
        params: [
          '    objects: "- objectName: MyDBSecret\\n  objectType: secretsmanager"',
          '    usePodIdentity: true',
        ],
      }),
      'spec.parameters.usePodIdentity: must be a string, got boolean (quote it in YAML); the API server refuses anything else',
    ],
    [
      'a region no AWS endpoint can take',
      spc({
        params: [
          '    region: us east 1',
          '    objects: "- objectName: MyDBSecret\\n  objectType: secretsmanager"',
        ],
      }),
      'spec.parameters: region "us east 1" cannot be an AWS region: AWS endpoints take a region of letters, digits and hyphens, such as us-east-1',
    ],
    [
      'a templated file naming a file no object writes',
      spc({
        params: [
          '    objects: "- objectName: MyDBSecret\\n  objectType: secretsmanager"',
          '    templatedFiles: |',
          '      - {path: app.env, format: env, template: {DB_PASSWORD: "{{password}}"}}',
        ],
      }),
      'spec.parameters: templated file "app.env": {{password}} names no file the objects write: a placeholder names a file as it is written in the mount (objectAlias or objectName after path translation, a jmesPath objectAlias, or <directory>/<key> of an object written as many files); the objects write "MyDBSecret"',
    ],
    [
      'a templated file with logic in its template',
      spc({
        params: [
          '    objects: "- objectName: MyDBSecret\\n  objectType: secretsmanager"',
          '    templatedFiles: |',
          '      - {path: app.conf, format: text, template: "{{#MyDBSecret}}yes{{/MyDBSecret}}"}',
        ],
      }),
      'spec.parameters: templated file "app.conf": {{#MyDBSecret}} is a section; a template takes only {{name}} placeholders (and {{! comments}}), each value written as the format needs',
    ],
    [
      'an old apiVersion',
      spc().replace('/v1\n', '/v2\n'),
      'apiVersion: must be secrets-store.csi.x-k8s.io/v1 (or the deprecated v1alpha1), got "secrets-store.csi.x-k8s.io/v2"',
    ],
  ])('refuses a class with %s', (_what, text, line) => {
    const run = lint({ 'spc.yaml': text });
    expect(run.out).toContain(`spc.yaml:1: ${line}`);
    expect(run.status).toBe(1);
  });

  it("reports a selection by prefix or tags the provider refuses, in the provider's words", () => {
    const run = lint({
      'spc.yaml': spc({
        params: [
          '    objects: |',
          '      - {objectName: db, objectType: secretsmanager, objectNamePrefix: prod/}',
          '      - {objectTags: {team: a}}',
        ],
      }),
    });
    expect(run.status).toBe(1);
    expect(run.out).toEqual([
      'spc.yaml:1: spec.parameters: objects entry 1: objectName names one object; objectNamePrefix and objectTags select secrets without it: give one or the other',
    ]);
    const aliasless = lint({
      'spc.yaml': spc({ params: ['    objects: |', '      - {objectTags: {team: a}}'] }),
    });
    expect(aliasless.out).toEqual([
      'spc.yaml:1: spec.parameters: objects entry 1 (the secrets selected by objectTags {"team":"a"}): objectAlias, the directory the matches are written in, is required without objectNamePrefix',
    ]);
  });

  it('prints warnings of what the provider accepts with a warning, and exits 0', () => {
    const run = lint({
      'spc.yaml': spc({
        params: [
          '    preferredAddressType: ipv5',
          '    objects: "- objectName: MyDBSecret\\n  objectType: secretsmanager"',
        ],
      }),
    });
    expect(run.status).toBe(0);
    expect(run.out).toEqual([
      'spc.yaml:1: spec.parameters: warning: preferredAddressType "ipv5" is not ipv4, ipv6 or auto; auto is used (IPv4 first, then IPv6)',
    ]);
  });

  it.each(['Pod', 'Deployment', 'CronJob'])('refuses a %s whose secrets volume is not readOnly', (kind) => {
    const run = lint({ 'spc.yaml': spc(), 'app.yaml': pod({ kind, readOnly: false }) });
    const at = {
      Pod: 'spec',
      Deployment: 'spec.template.spec',
      CronJob: 'spec.jobTemplate.spec.template.spec',
    }[kind];
    expect(run.out).toEqual([
      `app.yaml:1: ${at}.volumes[0].csi: readonly is not true in request: secrets-store volumes must be mounted with readOnly: true`,
    ]);
    expect(run.status).toBe(1);
  });

  it('checks what the provider gets from a pod whose volume attributes override the class', () => {
    const run = lint({
      'app.yaml': `${spc()}---\n${pod({ kind: 'Deployment', attributes: ['failoverRegion: "eu_west_1!"'] })}`,
    });
    expect(run.out).toEqual([
      'app.yaml:2: spec.template.spec.volumes[0].csi.volumeAttributes: failoverRegion "eu_west_1!" cannot be an AWS region: AWS endpoints take a region of letters, digits and hyphens, such as us-east-1',
    ]);
    expect(run.status).toBe(1);
  });

  it("reports a bad fileGroup or defaultFilePermission once, in the driver's words, for any provider", () => {
    const objects = [
      '    objects: |',
      '      - objectName: "MyDBSecret"',
      '        objectType: "secretsmanager"',
    ];
    for (const provider of ['aws', 'vault']) {
      const run = lint({
        'spc.yaml': spc({ provider, params: [...objects, '    fileGroup: "www-data"'] }),
      });
      expect(run.out).toEqual([
        'spc.yaml:1: spec.parameters: SecretProviderClass default/db: fileGroup must be a numeric group ID from 0 to 2147483647, got "www-data"',
      ]);
      expect(run.status).toBe(1);
    }
    const run = lint({
      'app.yaml': `${spc({ params: [...objects, '    fileGroup: "2000"'] })}---\n${pod({ attributes: ['defaultFilePermission: "0999"'] })}`,
    });
    expect(run.out).toEqual([
      'app.yaml:2: spec.volumes[0].csi.volumeAttributes: volume attribute defaultFilePermission must be four octal digits from 0000 to 0777, such as "0440", got "0999"',
    ]);
    expect(run.status).toBe(1);
  });

  it("refuses an optional field that is not true or false, in the provider's words", () => {
    const params = (value: string) => [
      '    objects: |',
      '      - objectName: "MyDBSecret"',
      '        objectType: "secretsmanager"',
      `        optional: ${value}`,
    ];
    const run = lint({ 'spc.yaml': spc({ params: params('"yes"') }) });
    expect(run.out).toEqual([
      'spc.yaml:1: spec.parameters: object "MyDBSecret": optional must be true or false, got "yes"',
    ]);
    expect(run.status).toBe(1);
    expect(lint({ 'spc.yaml': spc({ params: params('true') }) }).out).toEqual([]);
  });

  it('warns about a class that is not among the files, naming the namespace it was found in', () => {
    const run = lint({
      'app.yaml': pod(),
      'spc.yaml': spc().replace('  name: db\n', '  name: db\n  namespace: prod\n'),
    });
    expect(run.status).toBe(0);
    expect(run.out).toEqual([
      'app.yaml:1: spec.volumes[0].csi.volumeAttributes.secretProviderClass: warning: SecretProviderClass "db" is not in the files checked for namespace "default": the mount fails unless the cluster has it (the files have one in namespace "prod"; a pod can only use a class of its own namespace)',
    ]);
  });

  describe('secretObjects', () => {
    const withSync = (objectName: string, type = 'Opaque', key = 'password') =>
      spc({
        extra: [
          '  secretObjects:',
          '    - secretName: db',
          `      type: ${type}`,
          '      data:',
          `        - objectName: ${objectName}`,
          `          key: ${key}`,
        ],
        params: [
          '    objects: |',
          '      - objectName: "/app/db/password"',
          '        objectType: "ssmparameter"',
        ],
      });

    it('accepts data from a file the objects write', () => {
      expect(lint({ 'spc.yaml': withSync('_app_db_password') }).out).toEqual([]);
    });

    it('refuses data from a file no object writes, naming the files there are', () => {
      const run = lint({ 'spc.yaml': withSync('/app/db/password') });
      expect(run.status).toBe(1);
      expect(run.out).toEqual(
        [
          'spc.yaml:1: spec.secretObjects[0]: secret db: objectName "/app/db/password" must name a file inside the mount (path "/app/db/password" is absolute)',
        ].map((l) => expect.stringContaining(l.split(' (')[0] as string)),
      );
      const typo = lint({ 'spc.yaml': withSync('_app_db_passwd') });
      expect(typo.out).toEqual([
        'spc.yaml:1: spec.secretObjects[0]: secret db: no file "_app_db_passwd" in the mounted volume (the class\'s objects write "_app_db_password")',
      ]);
    });

    it('warns about data from the file of an optional object: absent while the object is missing', () => {
      const optional = withSync('_app_db_password').replace(
        '        objectType: "ssmparameter"',
        '        objectType: "ssmparameter"\n        optional: true',
      );
      const run = lint({ 'spc.yaml': optional });
      expect(run.status).toBe(0);
      expect(run.out).toEqual([
        'spc.yaml:1: spec.secretObjects[0]: warning: file "_app_db_password" comes from optional object "/app/db/password": while that object is missing the file is absent and this Secret is not synced',
      ]);
    });

    it('accepts data from a file of the secrets a prefix selects; a file outside their directory is refused', () => {
      const selected = (objectName: string) =>
        spc({
          extra: [
            '  secretObjects:',
            '    - secretName: db',
            '      type: Opaque',
            '      data:',
            `        - objectName: ${objectName}`,
            '          key: password',
          ],
          params: ['    objects: |', '      - {objectNamePrefix: prod/app/, objectAlias: app}'],
        });
      expect(lint({ 'spc.yaml': selected('app/db') }).out).toEqual([]);
      expect(lint({ 'spc.yaml': selected('db') }).out).toEqual([
        'spc.yaml:1: spec.secretObjects[0]: secret db: no file "db" in the mounted volume (the class\'s objects write files in "app/")',
      ]);
    });

    it('warns about a templated file naming the file of an optional object: the mount fails while it is missing', () => {
      const run = lint({
        'spc.yaml': spc({
          params: [
            '    objects: |',
            '      - {objectName: "/app/db/password", objectType: ssmparameter, objectAlias: password, optional: true}',
            '      - {objectNamePrefix: prod/app/, objectAlias: app, optional: true}',
            '      - {objectName: "/app/db/user", objectType: ssmparameter, objectAlias: user}',
            '    templatedFiles: |',
            '      - {path: app.env, format: env, template: {U: "{{user}}", P: "{{password}}", K: "{{app/key}}"}}',
          ],
        }),
      });
      expect(run.status).toBe(0);
      expect(run.out).toEqual([
        'spc.yaml:1: spec.parameters: warning: templated file "app.env": {{password}} comes from optional object "/app/db/password": while it is missing the mount fails',
        'spc.yaml:1: spec.parameters: warning: templated file "app.env": {{app/key}} comes from the secrets selected by objectNamePrefix "prod/app/" (an optional entry): while it is missing the mount fails',
      ]);
    });

    it('accepts data from a templated file, which the mount writes too', () => {
      const run = lint({
        'spc.yaml': spc({
          extra: [
            '  secretObjects:',
            '    - secretName: db',
            '      type: Opaque',
            '      data:',
            '        - objectName: app.env',
            '          key: app.env',
          ],
          params: [
            '    objects: |',
            '      - {objectName: "/app/db/password", objectType: ssmparameter, objectAlias: password}',
            '    templatedFiles: |',
            '      - {path: app.env, format: env, template: {DB_PASSWORD: "{{password}}"}}',
          ],
        }),
      });
      expect(run).toEqual({ status: 0, out: [], err: [] });
    });

    it('refuses a well-known type without its keys, and leaves certificates to the mount', () => {
      expect(lint({ 'spc.yaml': withSync('_app_db_password', 'kubernetes.io/tls', 'tls.crt') }).out).toEqual([
        'spc.yaml:1: spec.secretObjects[0]: secret db of type kubernetes.io/tls is missing the key tls.key',
      ]);
    });
  });

  it('reports a YAML error in one document and still checks the others', () => {
    const run = lint({ 'app.yaml': `${pod({ readOnly: false })}---\nkind: [unclosed\n---\n${spc()}` });
    expect(run.status).toBe(1);
    expect(run.out.map((l) => l.split(': ').slice(0, 2).join(': '))).toEqual([
      'app.yaml:1: spec.volumes[0].csi',
      'app.yaml:2: (yaml)',
    ]);
  });

  it('says which file it cannot read, with status 2, and prints usage without arguments', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    expect(lintFiles(['/nonexistent/app.yaml'], io)).toBe(2);
    expect(err).toEqual(['secrets-store-csi-lint: cannot read /nonexistent/app.yaml: ENOENT']);
    expect(lintFiles([], io)).toBe(2);
    expect(err[1]).toMatch(/^usage: secrets-store-csi-lint/);
    expect(out).toEqual([]);
  });

  it('reads stdin for -', () => {
    const out: string[] = [];
    const status = lintFiles(['-'], { out: (l) => out.push(l), err: () => undefined }, () =>
      pod({ readOnly: false }),
    );
    expect(status).toBe(1);
    expect(out[0]).toMatch(/^<stdin>:1: spec\.volumes\[0\]\.csi: readonly is not true/);
  });
});
