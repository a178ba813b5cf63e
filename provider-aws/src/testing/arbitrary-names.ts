// For property tests: names a class may give an object or alias, path-like and hostile ones mixed in
// (`..`, empty segments, NUL, slashes doubled), for the checks that turn them into file names.
import fc from 'fast-check';

const segment = fc.oneof(
  fc.constantFrom('..', '.', '', '/', '//', 'a', 'db', '..data', 'x/../y', '\0', 'é', ' '),
  fc.string({ maxLength: 12 }),
);

export const pathLikeName = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.constantFrom('/', ''))
  .map(([parts, separator]) => parts.join(separator));
