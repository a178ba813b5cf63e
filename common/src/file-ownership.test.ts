import fc from 'fast-check';

import {
  defaultFileModeOf,
  fileGroupOf,
  FileOwnershipError,
  MAX_GROUP_ID,
  parseFileMode,
  parseGroupId,
} from './file-ownership';

describe('parseGroupId', () => {
  it.each([
    ['0', 0],
    ['2000', 2000],
    ['65534', 65534],
    [String(MAX_GROUP_ID), MAX_GROUP_ID],
  ])('reads %s', (raw, gid) => {
    expect(parseGroupId(raw, 'fileGroup')).toBe(gid);
  });

  it.each([
    '',
    'abc',
    'nogroup',
    '-1',
    '+5',
    ' 1000',
    '1000 ',
    '1e3',
    '0x10',
    '1.0',
    '2147483648',
    '99999999999',
  ])('refuses %j, naming the setting and the value', (raw) => {
    expect(() => parseGroupId(raw, 'fileGroup')).toThrow(FileOwnershipError);
    expect(() => parseGroupId(raw, 'fileGroup')).toThrow(
      `fileGroup must be a numeric group ID from 0 to ${MAX_GROUP_ID}, got ${JSON.stringify(raw)}`,
    );
  });

  it('reads back every group ID Kubernetes accepts as fsGroup', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_GROUP_ID }), (gid) => {
        expect(parseGroupId(String(gid), 'volume_mount_group')).toBe(gid);
      }),
    );
  });
});

describe('parseFileMode', () => {
  it.each([
    ['0440', 0o440],
    ['0400', 0o400],
    ['0644', 0o644],
    ['0000', 0],
    ['0777', 0o777],
  ])('reads %s', (raw, mode) => {
    expect(parseFileMode(raw, 'defaultFilePermission')).toBe(mode);
  });

  it.each(['', '440', '644', '0800', '1777', '4755', '0o440', '00440', 'rw-r-----', '288'])(
    'refuses %j (out of range or not four octal digits)',
    (raw) => {
      expect(() => parseFileMode(raw, 'defaultFilePermission')).toThrow(
        `defaultFilePermission must be four octal digits from 0000 to 0777, such as "0440", got ${JSON.stringify(raw)}`,
      );
    },
  );
});

describe('attributes', () => {
  it('reads fileGroup and defaultFilePermission; unset or empty means none', () => {
    expect(fileGroupOf({ fileGroup: '2000' })).toBe(2000);
    expect(fileGroupOf({})).toBeUndefined();
    expect(fileGroupOf({ fileGroup: '' })).toBeUndefined();
    expect(defaultFileModeOf({ defaultFilePermission: '0440' })).toBe(0o440);
    expect(defaultFileModeOf({ defaultFilePermission: '' })).toBeUndefined();
    expect(defaultFileModeOf({ objects: 'x' })).toBeUndefined();
  });

  it('refuses bad values with the parameter name', () => {
    expect(() => fileGroupOf({ fileGroup: 'www-data' })).toThrow(/^fileGroup must be a numeric group ID/);
    expect(() => defaultFileModeOf({ defaultFilePermission: '0999' })).toThrow(
      /^defaultFilePermission must be four octal digits/,
    );
  });
});
