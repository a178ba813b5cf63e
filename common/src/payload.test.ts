import { isWriterName, PayloadError, validatePayload, validatePayloadPath } from './payload';

const file = (path: string, mode = 0o644) => ({ path, mode, contents: Buffer.from('x') });

describe('validatePayloadPath', () => {
  it.each([
    'a',
    'a/b',
    'MyDBSecret',
    '_sample-app_db_username',
    'dir/sub/file.txt',
    'a..b',
    '.hidden',
    // Names with leading dots are files like any other, unless the writer uses them itself.
    '..config',
    '..data.json',
    'dir/..data',
    'x'.repeat(255),
  ])('accepts %s', (p) => expect(() => validatePayloadPath(p)).not.toThrow());

  it.each([
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['..', /contains "\.\."/],
    ['../escape', /contains "\.\."/],
    ['..data', /keeps for its own entries/],
    ['..data/x', /keeps for its own entries/],
    ['..data_tmp', /keeps for its own entries/],
    ['..2024_01_31_23_59_59.123456', /keeps for its own entries/],
    ['a/../../etc', /contains "\.\."/],
    ['a/..', /contains "\.\."/],
    ['a//b', /not clean/],
    ['./a', /not clean/],
    ['a/', /not clean/],
    ['a/./b', /not clean/],
    ['a\0b', /NUL/],
    ['x'.repeat(256), /longer than 255/],
    [('a/'.repeat(2100) + 'a').slice(0, 4097), /longer than 4096/],
  ])('rejects %j', (p, message) => {
    expect(() => validatePayloadPath(p)).toThrow(PayloadError);
    expect(() => validatePayloadPath(p)).toThrow(message);
  });

  it('knows the writer names', () => {
    expect(['..data', '..data_tmp', '..2020_01_01_00_00_00.abc'].every(isWriterName)).toBe(true);
    expect(['..config', '..2020', 'data', '..data2'].some(isWriterName)).toBe(false);
  });
});

describe('validatePayload', () => {
  it('accepts distinct files and nested paths', () => {
    expect(() => validatePayload([file('a'), file('b/c'), file('b/d', 0o400)])).not.toThrow();
  });

  it.each([-1, 0o1000, 1.5, Number.NaN])('rejects mode %s', (mode) => {
    expect(() => validatePayload([file('a', mode)])).toThrow(/outside 0\.\.0777/);
  });

  it('rejects duplicate paths', () => {
    expect(() => validatePayload([file('a'), file('a')])).toThrow(/appears twice/);
  });

  it('rejects a file that is also the folder of another', () => {
    expect(() => validatePayload([file('a'), file('a/b')])).toThrow(/inside "a", which is a file/);
  });

  it('names the path but never the contents', () => {
    const secret = { path: '../x', mode: 0o644, contents: Buffer.from('hunter2') };
    expect(() => validatePayload([secret])).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});
