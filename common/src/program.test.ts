import { MINIMUM_NODE_MAJOR, unsupportedNode } from './program';

describe('unsupportedNode', () => {
  it.each([
    ['24.22.3', undefined],
    ['v24.0.0', undefined],
    ['25.1.0', undefined],
  ])('accepts Node.js %s', (version, expected) => {
    expect(unsupportedNode(version)).toBe(expected);
  });

  it.each(['20.20.2', 'v22.11.0', 'garbage', ''])('refuses %j with the version it needs', (version) => {
    expect(unsupportedNode(version)).toBe(`needs Node.js ${MINIMUM_NODE_MAJOR} or newer, this is ${version}`);
  });
});
