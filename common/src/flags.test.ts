import type { FlagSpec } from './flags';
import { FlagError, flagUsage, KLOG_FLAGS, parseDuration, parseFlags } from './flags';

const SPECS = {
  name: { kind: 'string', default: 'x', help: 'a name' },
  on: { kind: 'bool', default: false, help: 'a switch' },
  count: { kind: 'int', default: 1, help: 'a count' },
  every: { kind: 'duration', default: '2m', help: 'an interval' },
  legacy: { kind: 'string', default: '', help: 'an old flag', ignored: true },
} satisfies Record<string, FlagSpec>;

describe('parseFlags', () => {
  it('reads every spelling Go flags accept', () => {
    const { values, given } = parseFlags(['-name=a', '--on', '--count', '3', '-every=1h30m'], SPECS);
    expect(values).toEqual({ name: 'a', on: true, count: 3, every: 5_400_000, legacy: '' });
    expect([...given].sort()).toEqual(['count', 'every', 'name', 'on']);
  });

  it('keeps the defaults, durations in milliseconds', () => {
    expect(parseFlags([], SPECS).values).toEqual({
      name: 'x',
      on: false,
      count: 1,
      every: 120_000,
      legacy: '',
    });
  });

  it('warns once about a flag without effect, however often it is given', () => {
    const { warnings } = parseFlags(['--legacy=a', '--legacy', 'b', '-legacy=c'], SPECS);
    expect(warnings).toEqual(['flag --legacy is accepted for compatibility and has no effect']);
  });

  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['--count=many'], /invalid value "many" for --count: want an integer/],
    [['--on=maybe'], /want true or false/],
    [['--every=soon'], /invalid value "soon" for --every/],
    [['--name'], /flag --name needs a value/],
    [['stray'], /unexpected argument "stray"/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseFlags(argv, SPECS)).toThrow(FlagError);
    expect(() => parseFlags(argv, SPECS)).toThrow(message);
  });

  it('leaves flags without effect out of the usage text', () => {
    const usage = flagUsage('prog', SPECS);
    expect(usage).toContain('--name string');
    expect(usage).not.toContain('legacy');
  });
});

describe('KLOG_FLAGS', () => {
  it("accepts every flag klog registers, as Kubernetes programs' manifests pass them", () => {
    const { warnings } = parseFlags(
      [
        '--logtostderr=true',
        '--alsologtostderr',
        '--log_dir=/var/log',
        '--log_file=/var/log/x.log',
        '--log_file_max_size=100',
        '--add_dir_header',
        '--skip_headers=false',
        '--skip_log_headers',
        '--one_output',
        '--stderrthreshold=WARNING',
        '--vmodule=foo=4,bar=2',
        '--log_backtrace_at=main.go:10',
      ],
      KLOG_FLAGS,
    );
    expect(warnings).toHaveLength(12);
  });

  it('does not hold -v: each program reads its verbosity itself', () => {
    expect(Object.keys(KLOG_FLAGS)).not.toContain('v');
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['500ms', 500],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));
});
