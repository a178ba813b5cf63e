import fc from 'fast-check';
import path from 'node:path';

import { isWriterName } from '@sscsi/common';
import { thrownBy } from '@sscsi/common/testing';

import { MountError } from '../errors';
import { pathLikeName } from '../testing/arbitrary-names';
import type { DescriptorContext } from './descriptors';
import { parseObjects } from './descriptors';

const ctx: DescriptorContext = { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined };
const withFailover: DescriptorContext = { ...ctx, failoverRegion: 'us-west-2' };

const rejection = (objects: string, c: DescriptorContext = ctx) =>
  thrownBy(() => parseObjects(objects, c), MountError);

describe('parseObjects: the article and upstream examples', () => {
  it('parses the article Secrets Manager object', () => {
    const [d] = parseObjects(
      `
      - objectName: "MyDBSecret"
        objectType: "secretsmanager"
    `,
      ctx,
    );
    expect(d).toMatchObject({
      objectName: 'MyDBSecret',
      objectType: 'secretsmanager',
      fileName: 'MyDBSecret',
      mode: undefined,
    });
  });

  it('translates the slashes of SSM parameter names into file names', () => {
    const ds = parseObjects(
      `
      - objectName: "/sample-app/db/username"
        objectType: "ssmparameter"
      - objectName: "/sample-app/db/password"
        objectType: "ssmparameter"
    `,
      ctx,
    );
    expect(ds.map((d) => d.fileName)).toEqual(['_sample-app_db_username', '_sample-app_db_password']);
  });

  it('infers the type from an ARN and checks its region', () => {
    const [sm, ssm] = parseObjects(
      `
      - objectName: arn:aws:secretsmanager:us-east-1:111122223333:secret:MySecret-a1b2c3
      - objectName: arn:aws:ssm:us-east-1:111122223333:parameter/app/key
    `,
      { ...ctx, pathTranslation: '' },
    );
    expect(sm?.objectType).toBe('secretsmanager');
    expect(ssm?.objectType).toBe('ssmparameter');
  });

  it('matches field names in any case, ignores unknown ones, keeps scalars as written', () => {
    const [d] = parseObjects(
      `
      - ObjectName: app
        OBJECTTYPE: ssmparameter
        objectversion: 3
        FilePermission: 0600
        somethingNew: ignored
    `,
      ctx,
    );
    expect(d).toMatchObject({ objectName: 'app', objectVersion: '3', mode: 0o600 });
  });

  it('parses jmesPath entries and failover objects', () => {
    const [d] = parseObjects(
      `
      - objectName: MyDBSecret
        objectType: secretsmanager
        objectAlias: db
        jmesPath:
          - path: username
            objectAlias: dbusername
          - path: password
            objectAlias: dbpassword
            filePermission: "0400"
        failoverObject:
          objectName: arn:aws:secretsmanager:us-west-2:111122223333:secret:MyDBSecret-x1y2z3
    `,
      withFailover,
    );
    expect(d?.jmesPath).toEqual([
      { path: 'username', fileName: 'dbusername', mode: undefined },
      { path: 'password', fileName: 'dbpassword', mode: 0o400 },
    ]);
    expect(d?.failover?.objectName).toContain('us-west-2');
  });

  it('with translation off keeps folders, strips the leading slash', () => {
    const [d] = parseObjects('- {objectName: /app/db/user, objectType: ssmparameter}', {
      ...ctx,
      pathTranslation: '',
    });
    expect(d?.fileName).toBe('app/db/user');
  });
});

describe('parseObjects: one clear error per rule', () => {
  it.each<[string, string, RegExp, DescriptorContext?]>([
    ['a missing objects parameter', '', /"objects" parameter is missing or empty/],
    ['YAML that is not a list', 'objectName: x', /must be a YAML list/],
    ['broken YAML', '- objectName: [', /not valid YAML/],
    ['an empty entry', '- ', /objects entry 1 is empty/],
    ['a missing objectName', '- objectType: secretsmanager', /objects entry 1: objectName is required/],
    ['a missing objectType', '- objectName: plain', /objectType is required unless objectName is a full ARN/],
    [
      'an unknown objectType',
      '- {objectName: x, objectType: ssm}',
      /objectType must be "secretsmanager" or "ssmparameter"/,
    ],
    ['a malformed ARN', '- objectName: "arn:aws:secretsmanager"', /is not a valid ARN/],
    [
      'an ARN of another service',
      '- objectName: arn:aws:s3:us-east-1:1:bucket/x',
      /neither secretsmanager nor ssm/,
    ],
    [
      'an ARN of another region',
      '- objectName: arn:aws:ssm:eu-west-1:1:parameter/x',
      /region "eu-west-1" does not match the region in use, "us-east-1"/,
    ],
    [
      'a type that disagrees with the ARN',
      '- {objectName: "arn:aws:ssm:us-east-1:1:parameter/x", objectType: secretsmanager}',
      /does not match the ARN/,
    ],
    [
      'SSM version and label together',
      '- {objectName: p, objectType: ssmparameter, objectVersion: "1", objectVersionLabel: l}',
      /not both/,
    ],
    [
      'a bad file permission',
      '- {objectName: p, objectType: ssmparameter, filePermission: "644"}',
      /four octal digits/,
    ],
    [
      'a permission with a non-octal digit',
      '- {objectName: p, objectType: ssmparameter, filePermission: "0698"}',
      /four octal digits/,
    ],
    [
      'a traversing alias',
      '- {objectName: p, objectType: ssmparameter, objectAlias: ../../etc/passwd}',
      /contains "\.\.": it would leave the mount/,
      { ...ctx, pathTranslation: '' },
    ],
    [
      'a traversing jmesPath alias',
      '- {objectName: p, objectType: secretsmanager, jmesPath: [{path: a, objectAlias: ../escape}]}',
      /jmesPath entry 1: file name "\.\.\/escape" contains/,
      { ...ctx, pathTranslation: '' },
    ],
    ['a name that is only dots', '- {objectName: "..", objectType: ssmparameter}', /contains "\.\."/],
    [
      'a name the volume keeps for itself',
      '- {objectName: "..data", objectType: ssmparameter}',
      /"\.\.data" is a name the volume keeps for its own entries/,
    ],
    [
      'a payload folder name',
      '- {objectName: p, objectType: ssmparameter, objectAlias: "..2024_01_01_00_00_00.x"}',
      /keeps for its own entries/,
    ],
    [
      'the same object twice with the same label and no alias',
      '- {objectName: a, objectType: ssmparameter, objectVersionLabel: l}\n- {objectName: a, objectType: ssmparameter, objectVersionLabel: l}',
      /file name "a" is written by both "a" and "a"/,
    ],
    [
      'the same object twice with neither alias nor label',
      '- {objectName: a, objectType: ssmparameter, objectVersion: "1"}\n- {objectName: a, objectType: ssmparameter, objectVersion: "2"}',
      /file name "a" is written by both "a" and "a"/,
    ],
    [
      'a failover object naming another object without failoverRegion',
      '- {objectName: p, objectType: secretsmanager, objectAlias: p, failoverObject: {objectName: q}}',
      /needs the failoverRegion parameter/,
    ],
    [
      'a jmesPath entry without alias',
      '- {objectName: p, objectType: secretsmanager, jmesPath: [{path: a}]}',
      /objectAlias is required/,
    ],
    [
      'a jmesPath entry without path',
      '- {objectName: p, objectType: secretsmanager, jmesPath: [{objectAlias: a}]}',
      /path is required/,
    ],
    [
      'an invalid JMESPath expression',
      '- {objectName: p, objectType: secretsmanager, jmesPath: [{path: "a[", objectAlias: a}]}',
      /not a valid JMESPath expression/,
    ],
    [
      'a failover object without alias',
      '- {objectName: p, objectType: secretsmanager, failoverObject: {objectName: q}}',
      /needs an objectAlias/,
      withFailover,
    ],
    [
      'a failover ARN in the wrong region',
      '- {objectName: p, objectType: secretsmanager, objectAlias: p, failoverObject: {objectName: "arn:aws:secretsmanager:us-east-1:1:secret:q"}}',
      /does not match the region in use, "us-west-2"/,
      withFailover,
    ],
    [
      'failover versions that differ',
      '- {objectName: p, objectType: secretsmanager, objectAlias: p, objectVersion: v1, failoverObject: {objectName: q, objectVersion: v2}}',
      /must be the same/,
      withFailover,
    ],
    [
      'an alias that collides with a jmesPath alias',
      '- {objectName: s, objectType: secretsmanager, jmesPath: [{path: u, objectAlias: same}]}\n- {objectName: t, objectType: ssmparameter, objectAlias: same}',
      /file name "same" is written by both "s" and "t"/,
    ],
    [
      'a translated name colliding with another',
      '- {objectName: /a/b, objectType: ssmparameter}\n- {objectName: _a_b, objectType: ssmparameter}',
      /"_a_b" is written by both/,
    ],
    [
      'a file inside another file',
      '- {objectName: a, objectType: ssmparameter}\n- {objectName: a/b, objectType: ssmparameter}',
      /inside "a", which is a file/,
      { ...ctx, pathTranslation: '' },
    ],
  ])('rejects %s', (...row) => {
    // A rest parameter: jest would take a fourth declared parameter for a done callback.
    const [, objects, message, c] = row;
    const err = rejection(objects, c);
    expect(err).toBeInstanceOf(MountError);
    expect(err.reason).toBe('InvalidParameters');
    expect(err.message).toMatch(message);
  });
});

describe('parseObjects: what upstream accepts is accepted, with a warning where it looks wrong', () => {
  function accepted(objects: string, c: DescriptorContext = ctx) {
    const warnings: string[] = [];
    const descriptors = parseObjects(objects, { ...c, warnings });
    return { descriptors, warnings };
  }

  it('sends an SSM objectVersion that is not a number as it is', () => {
    const { descriptors, warnings } = accepted(
      '- {objectName: p, objectType: ssmparameter, objectVersion: latest}',
    );
    expect(descriptors[0]?.objectVersion).toBe('latest');
    expect(warnings).toEqual([
      expect.stringMatching(/object "p": .*objectVersion "latest" is not a version number/),
    ]);
  });

  it.each([
    ['objectAlias', '- {objectName: p, objectType: ssmparameter, objectAlias: /etc/x}', 'etc/x'],
    [
      'jmesPath objectAlias',
      '- {objectName: p, objectType: secretsmanager, jmesPath: [{path: a, objectAlias: /etc/x}]}',
      'etc/x',
    ],
  ])(
    'strips the leading slash of an absolute %s with translation off, as upstream',
    (_what, objects, file) => {
      const { descriptors, warnings } = accepted(objects, { ...ctx, pathTranslation: '' });
      const d = descriptors[0]!;
      expect([d.fileName, ...d.jmesPath.map((j) => j.fileName)]).toContain(file);
      expect(warnings).toEqual([
        expect.stringMatching(/"\/etc\/x" is an absolute path; it names "etc\/x" inside the mount/),
      ]);
    },
  );

  it('cleans a path with empty or "." elements, as upstream writes it', () => {
    const { descriptors, warnings } = accepted(
      '- {objectName: p, objectType: ssmparameter, objectAlias: "a//./b/"}',
      {
        ...ctx,
        pathTranslation: '',
      },
    );
    expect(descriptors[0]?.fileName).toBe('a/b');
    expect(warnings).toEqual([expect.stringMatching(/"a\/\/\.\/b\/" is written as "a\/b"/)]);
  });

  it('does not warn about the leading slash of an SSM name with translation off: that is the documented use', () => {
    const { warnings } = accepted('- {objectName: /app/db/user, objectType: ssmparameter}', {
      ...ctx,
      pathTranslation: '',
    });
    expect(warnings).toEqual([]);
  });

  it.each([
    ['an objectName', '- {objectName: ..config, objectType: ssmparameter}', {}],
    ['an alias', '- {objectName: p, objectType: ssmparameter, objectAlias: ..config}', {}],
    [
      'a name after translation',
      '- {objectName: /.config, objectType: ssmparameter}',
      { pathTranslation: '.' },
    ],
  ])('accepts a file name starting with ".." from %s', (_what, objects, over) => {
    const { descriptors, warnings } = accepted(objects, { ...ctx, ...over });
    expect(descriptors[0]?.fileName).toBe('..config');
    expect(warnings).toEqual([expect.stringMatching(/"\.\.config" starts with "\.\."/)]);
  });

  it('accepts the same object twice without alias when the labels differ: one file, the later entry wins', () => {
    const { descriptors, warnings } = accepted(`
      - {objectName: db, objectType: secretsmanager, objectVersionLabel: AWSPREVIOUS, jmesPath: [{path: u, objectAlias: old-user}]}
      - {objectName: db, objectType: secretsmanager}
    `);
    expect(descriptors.map((d) => [d.fileName, d.objectVersionLabel, d.writesFile])).toEqual([
      ['db', 'AWSPREVIOUS', false],
      ['db', undefined, true],
    ]);
    expect(descriptors[0]?.jmesPath.map((j) => j.fileName)).toEqual(['old-user']);
    expect(warnings).toEqual([
      expect.stringMatching(/objects entries 1 and 2 .*"db".* both write file "db"; entry 2 is written/),
    ]);
  });

  it('still refuses a jmesPath alias of the replaced entry that collides with a file', () => {
    expect(() =>
      parseObjects(
        `
      - {objectName: db, objectType: secretsmanager, objectVersionLabel: AWSPREVIOUS, jmesPath: [{path: u, objectAlias: db}]}
      - {objectName: db, objectType: secretsmanager}
    `,
        ctx,
      ),
    ).toThrow(/file name "db" is written by both/);
  });

  it('a failoverObject without objectName reads the same object in the failover region, with its own label', () => {
    const { descriptors, warnings } = accepted(
      '- {objectName: p, objectType: secretsmanager, objectVersionLabel: AWSCURRENT, failoverObject: {objectVersionLabel: DR}}',
      withFailover,
    );
    expect(descriptors[0]?.failover).toEqual({
      objectName: 'p',
      objectVersion: undefined,
      objectVersionLabel: 'DR',
    });
    expect(descriptors[0]?.fileName).toBe('p');
    expect(warnings).toEqual([expect.stringMatching(/failoverObject has no objectName/)]);
  });

  it.each([
    [
      'an empty failoverObject',
      '- {objectName: p, objectType: secretsmanager, failoverObject: {}}',
      withFailover,
    ],
    [
      'a failoverObject without objectName nor failoverRegion',
      '- {objectName: p, objectType: secretsmanager, failoverObject: {objectVersionLabel: DR}}',
      ctx,
    ],
  ])('ignores %s, as upstream', (_what, objects, c) => {
    const { descriptors, warnings } = accepted(objects, c);
    expect(descriptors[0]?.failover).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(/failoverObject .*ignored/)]);
  });

  it('a failoverObject takes the primary label when it has none, as upstream', () => {
    const { descriptors, warnings } = accepted(
      '- {objectName: p, objectType: secretsmanager, objectAlias: p, objectVersionLabel: STAGE, failoverObject: {objectName: q}}',
      withFailover,
    );
    expect(descriptors[0]?.failover).toEqual({
      objectName: 'q',
      objectVersion: undefined,
      objectVersionLabel: 'STAGE',
    });
    expect(warnings).toEqual([]);
  });

  it('gives no warning for an ordinary class', () => {
    const { warnings } = accepted(`
      - {objectName: MyDBSecret, objectType: secretsmanager, jmesPath: [{path: username, objectAlias: user}]}
      - {objectName: /sample-app/db/password, objectType: ssmparameter, objectVersion: "3"}
    `);
    expect(warnings).toEqual([]);
  });
});

describe('property: random descriptors', () => {
  const name = pathLikeName;
  const entry = fc.record(
    {
      objectName: name,
      objectType: fc.constantFrom('secretsmanager', 'ssmparameter', 'ssm', 'bogus'),
      objectAlias: name,
      objectVersion: fc.oneof(fc.constant('1'), fc.string({ maxLength: 4 })),
      filePermission: fc.oneof(fc.constant('0644'), fc.string({ maxLength: 5 })),
      jmesPath: fc.array(fc.record({ path: fc.constantFrom('a', 'b.c', '['), objectAlias: name }), {
        maxLength: 3,
      }),
    },
    { requiredKeys: ['objectName'] },
  );
  const translation = fc.constantFrom('_', '', '-', '/');

  it('never crash: they parse or fail with an InvalidParameters MountError', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 4 }),
        translation,
        (entries, pathTranslation) => {
          try {
            parseObjects(JSON.stringify(entries), { ...ctx, pathTranslation });
          } catch (err) {
            expect(err).toBeInstanceOf(MountError);
            expect((err as MountError).reason).toBe('InvalidParameters');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never yield a file outside the mount', () => {
    const mount = '/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/v/mount';
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 4 }),
        translation,
        (entries, pathTranslation) => {
          let files: string[];
          try {
            files = parseObjects(JSON.stringify(entries), { ...ctx, pathTranslation }).flatMap((d) => [
              d.fileName,
              ...d.jmesPath.map((j) => j.fileName),
            ]);
          } catch {
            return;
          }
          for (const file of files) {
            const resolved = path.resolve(mount, file);
            expect(resolved.startsWith(`${mount}/`)).toBe(true);
            expect(path.relative(mount, resolved)).toBe(file);
            expect(isWriterName(file.split('/')[0] as string)).toBe(false);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
