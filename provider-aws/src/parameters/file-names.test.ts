import fc from 'fast-check';
import path from 'node:path';

import { MAX_PATH_ELEMENT_LENGTH, MAX_PATH_LENGTH, validatePayloadPath } from '@sscsi/common';

import { MountError } from '../errors';
import { pathLikeName } from '../testing/arbitrary-names';
import { parsePathTranslation, toFileName } from './file-names';

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

describe("toFileName: the driver's limits", () => {
  const longest = ['a'.repeat(MAX_PATH_ELEMENT_LENGTH), 'b'.repeat(MAX_PATH_ELEMENT_LENGTH)].join('/');
  const deep = Array.from({ length: MAX_PATH_LENGTH / 2 }, () => 'x').join('/');

  it.each([
    ['an element of the longest length', longest],
    ['a path of the longest length', deep.slice(0, MAX_PATH_LENGTH - 1) + 'y'],
  ])('accepts %s, and so does the payload check', (_what, name) => {
    const file = toFileName(name, '', 'x');
    expect(() => validatePayloadPath(file)).not.toThrow();
  });

  it.each([
    ['an element one character too long', 'a'.repeat(MAX_PATH_ELEMENT_LENGTH + 1), /element longer than 255/],
    ['a path one character too long', deep + '/y', /longer than 4096 characters/],
  ])('refuses %s, as the payload check would', (_what, name, message) => {
    expect(() => toFileName(name, '', 'x')).toThrow(message);
    expect(() => validatePayloadPath(name)).toThrow(message);
  });
});

describe('toFileName: random names', () => {
  const name = pathLikeName;
  const translation = fc.constantFrom('_', '', '-', '/');

  it('yield a clean relative path without "..", or an InvalidParameters MountError', () => {
    fc.assert(
      fc.property(name, translation, (n, t) => {
        try {
          const file = toFileName(n, t, 'x');
          expect(path.normalize(file)).toBe(file);
          expect(path.isAbsolute(file)).toBe(false);
          expect(file.split('/')).not.toContain('..');
          expect(() => validatePayloadPath(file)).not.toThrow();
        } catch (err) {
          expect(err).toBeInstanceOf(MountError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
