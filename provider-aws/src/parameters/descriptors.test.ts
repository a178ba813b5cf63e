import fc from 'fast-check';
import path from 'node:path';

import { MountError } from '../errors';
import type { DescriptorContext } from './descriptors';
import { parseObjects, parsePathTranslation, toFileName } from './descriptors';

const ctx: DescriptorContext = { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined };
const withFailover: DescriptorContext = { ...ctx, failoverRegion: 'us-west-2' };

function rejection(objects: string, c: DescriptorContext = ctx): MountError {
  try {
    parseObjects(objects, c);
  } catch (err) {
    return err as MountError;
  }
  throw new Error('expected a rejection');
}

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
      'an SSM version that is not a number',
      '- {objectName: p, objectType: ssmparameter, objectVersion: latest}',
      /must be a version number/,
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
    [
      'an absolute alias with translation off',
      '- {objectName: p, objectType: ssmparameter, objectAlias: /etc/x}',
      /objectAlias "\/etc\/x" is an absolute path/,
      { ...ctx, pathTranslation: '' },
    ],
    [
      'an absolute jmesPath alias with translation off',
      '- {objectName: p, objectType: secretsmanager, jmesPath: [{path: a, objectAlias: /etc/x}]}',
      /is an absolute path/,
      { ...ctx, pathTranslation: '' },
    ],
    ['a name that is only dots', '- {objectName: "..", objectType: ssmparameter}', /contains "\.\."/],
    ['a reserved .. prefix', '- {objectName: "..data", objectType: ssmparameter}', /starts with "\.\."/],
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
      'a failover object without failoverRegion',
      '- {objectName: p, objectType: secretsmanager, objectAlias: p, failoverObject: {objectName: q}}',
      /needs the failoverRegion parameter/,
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
      'two objects writing one file',
      '- {objectName: a, objectType: ssmparameter}\n- {objectName: a, objectType: ssmparameter, objectVersionLabel: old}',
      /file name "a" is written by both "a" and "a"/,
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

describe('parsePathTranslation', () => {
  it.each([
    [undefined, '_'],
    ['', '_'],
    ['False', ''],
    ['FALSE', ''],
    ['-', '-'],
  ])('%j -> %j', (raw, want) => expect(parsePathTranslation(raw)).toBe(want));

  it('rejects more than one character', () => {
    expect(() => parsePathTranslation('__')).toThrow(/"False" or a single character/);
  });
});

describe('property: random descriptors', () => {
  const segment = fc.oneof(
    fc.constantFrom('..', '.', '', '/', '//', 'a', 'db', '..data', 'x/../y', '\0', 'é', ' '),
    fc.string({ maxLength: 12 }),
  );
  const name = fc
    .tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.constantFrom('/', ''))
    .map(([parts, separator]) => parts.join(separator));
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
            expect(file.startsWith('..')).toBe(false);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('toFileName agrees with the property on single names', () => {
    fc.assert(
      fc.property(name, translation, (n, t) => {
        try {
          const file = toFileName(n, t, 'x');
          expect(path.normalize(file)).toBe(file);
          expect(path.isAbsolute(file)).toBe(false);
          expect(file.split('/')).not.toContain('..');
        } catch (err) {
          expect(err).toBeInstanceOf(MountError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
