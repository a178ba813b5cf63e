import { formatRecord, parseRecord, RESTARTED_FOR_ANNOTATION } from './annotations';

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
