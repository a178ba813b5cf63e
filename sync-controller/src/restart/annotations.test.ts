import {
  formatRecord,
  parseOptIn,
  parseRecord,
  RESTART_ON_ROTATION_ANNOTATION,
  RESTARTED_FOR_ANNOTATION,
} from './annotations';

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

describe('the record of what was restarted for', () => {
  it('reads back what it wrote, sorted so the same record is the same text', () => {
    const record = new Map([
      ['db/user', new Set(['v2', 'v1'])],
      ['Secret/env', new Set(['ab12'])],
    ]);
    const text = formatRecord(record);
    expect(text).toBe('{"Secret/env":["ab12"],"db/user":["v1","v2"]}');
    expect(parseRecord({ [RESTARTED_FOR_ANNOTATION]: text })).toEqual(record);
  });

  it.each([undefined, '', 'not json', '[]', 'null', '{"a":"v1"}', '{"a":[1]}'])(
    'starts afresh from %j (absent, or edited by hand)',
    (text) => {
      expect(parseRecord(text === undefined ? {} : { [RESTARTED_FOR_ANNOTATION]: text })).toBeUndefined();
    },
  );
});
