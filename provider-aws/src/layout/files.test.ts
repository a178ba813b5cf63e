import { thrownBy } from '@sscsi/common/testing';

import { MountError } from '../errors';
import { parseObjects } from '../parameters/descriptors';
import { filesOf } from './files';

const ctx = { pathTranslation: '_', region: 'us-east-1', failoverRegion: undefined };

describe('filesOf', () => {
  const [secret] = parseObjects(
    '- {objectName: db, objectType: secretsmanager, filePermission: "0640", jmesPath: [{path: username, objectAlias: user}, {path: password, objectAlias: pass, filePermission: "0400"}]}',
    ctx,
  );
  const fetched = (value: string) => [
    { descriptor: secret!, value: Buffer.from(value), version: 'v9', region: 'us-east-1' },
  ];

  it('adds a file per jmesPath entry, with the modes and the version of the object', () => {
    const files = filesOf(fetched('{"username":"u","password":"p"}'), 0o644);
    expect(files.map((f) => [f.path, f.contents.toString(), f.mode, f.version])).toEqual([
      ['db', '{"username":"u","password":"p"}', 0o640, 'v9'],
      ['user', 'u', 0o640, 'v9'],
      ['pass', 'p', 0o400, 'v9'],
    ]);
  });

  it.each([
    ['not JSON', 'plain text', /value is not JSON/],
    [
      'a number where a string is needed',
      '{"username":1,"password":"p"}',
      /finds a number; only strings can become files/,
    ],
    ['a missing key', '{"password":"p"}', /"username" .* finds nothing/],
  ])('rejects %s without quoting the value', (_name, value, message) => {
    const error = thrownBy(() => filesOf(fetched(value), 0o644), MountError);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('"p"');
  });
});

describe('filesOf: one object listed twice, as upstream allows', () => {
  it('writes the file of the later entry only, and the jmesPath files of both', () => {
    const [previous, current] = parseObjects(
      `
      - {objectName: db, objectType: secretsmanager, objectVersionLabel: AWSPREVIOUS, jmesPath: [{path: u, objectAlias: old-user}]}
      - {objectName: db, objectType: secretsmanager}
    `,
      ctx,
    );
    const files = filesOf(
      [
        { descriptor: previous!, value: Buffer.from('{"u":"old"}'), version: 'v1', region: 'us-east-1' },
        { descriptor: current!, value: Buffer.from('{"u":"new"}'), version: 'v2', region: 'us-east-1' },
      ],
      0o644,
    );
    expect(files.map((f) => [f.path, f.contents.toString(), f.version])).toEqual([
      ['old-user', 'old', 'v1'],
      ['db', '{"u":"new"}', 'v2'],
    ]);
  });
});
