import { parseOptIn, RESTART_ON_ROTATION_ANNOTATION } from './restart-opt-in';

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
