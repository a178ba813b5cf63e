import { parseOptIn, RESTART_ON_ROTATION_ANNOTATION, secretsReadBy } from './restart-on-rotation';

describe('the opt-in annotation', () => {
  it.each([
    [undefined, 'off'],
    ['false', 'off'],
    ['true', 'on'],
  ])('%j is %s', (value, kind) => {
    const annotations: Record<string, string> =
      value === undefined ? {} : { [RESTART_ON_ROTATION_ANNOTATION]: value };
    expect(parseOptIn(annotations).kind).toBe(kind);
  });

  it.each(['True', 'yes', '1', '', ' true'])(
    'refuses %j, naming the annotation and what it wants',
    (value) => {
      const optIn = parseOptIn({ [RESTART_ON_ROTATION_ANNOTATION]: value });
      expect(optIn).toEqual({
        kind: 'invalid',
        message: `annotation secrets-store.csi.x-k8s.io/restart-on-rotation is ${JSON.stringify(value)}: want "true" or "false"; no restart on rotation until it is corrected`,
      });
    },
  );

  it('shows at most 64 characters of a long wrong value', () => {
    const optIn = parseOptIn({ [RESTART_ON_ROTATION_ANNOTATION]: 'x'.repeat(1000) });
    expect(optIn.kind === 'invalid' && optIn.message).toContain(`"${'x'.repeat(64)}..."`);
  });

  it('ignores annotations of other names', () => {
    expect(parseOptIn({ 'example.com/restart-on-rotation': 'true' }).kind).toBe('off');
  });
});

describe('secretsReadBy', () => {
  it('finds env, envFrom, secret and projected volumes, of containers and init containers', () => {
    expect(
      secretsReadBy({
        containers: [
          {
            env: [{ valueFrom: { secretKeyRef: { name: 'one' } } }, {}],
            envFrom: [{ secretRef: { name: 'two' } }, {}],
          },
        ],
        initContainers: [{ envFrom: [{ secretRef: { name: 'three' } }] }],
        volumes: [
          { secret: { secretName: 'four' } },
          { projected: { sources: [{ secret: { name: 'five' } }, {}] } },
          {},
        ],
      }),
    ).toEqual(['five', 'four', 'one', 'three', 'two']);
    expect(secretsReadBy(undefined)).toEqual([]);
  });

  it('reads a spec of any shape without throwing: a linted file is unchecked', () => {
    for (const spec of [5, 'x', [], { containers: 5 }, { containers: ['x', null] }, { volumes: { a: 1 } }])
      expect(secretsReadBy(spec)).toEqual([]);
    expect(secretsReadBy({ containers: [{ envFrom: [{ secretRef: { name: 7 } }] }] })).toEqual([]);
  });
});
