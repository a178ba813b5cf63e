// Go-style command-line flags (`-name=value`, `--name value`, booleans as `--name` or `--name=false`),
// so that the flags written for the upstream Go binaries work unchanged.

export type FlagKind = 'string' | 'bool' | 'int' | 'duration';

export interface FlagSpec {
  kind: FlagKind;
  default: string | boolean | number;
  help: string;
  /** Accepted for compatibility with upstream and ignored, with a warning. */
  ignored?: boolean;
}

export type FlagValues = Record<string, string | boolean | number>;

export class FlagError extends Error {
  override name = 'FlagError';
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration such as `2m`, `1h30m`, `500ms`, `0`; returns milliseconds. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const match = re.exec(text);
    if (!match) throw new FlagError(`invalid duration "${text}": want a value such as 30s, 2m or 1h30m`);
    total += Number(match[1]) * (DURATION_UNITS[match[2] as string] ?? 0);
    pos = re.lastIndex;
  }
  if (pos === 0) throw new FlagError(`invalid duration "${text}"`);
  return total;
}

function convert(name: string, spec: FlagSpec, raw: string): string | boolean | number {
  switch (spec.kind) {
    case 'string':
      return raw;
    case 'bool':
      if (/^(1|t|true)$/i.test(raw)) return true;
      if (/^(0|f|false)$/i.test(raw)) return false;
      throw new FlagError(`invalid value "${raw}" for --${name}: want true or false`);
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new FlagError(`invalid value "${raw}" for --${name}: want an integer`);
      return Number(raw);
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (err) {
        throw new FlagError(`invalid value "${raw}" for --${name}: ${(err as Error).message}`);
      }
  }
}

export interface ParsedFlags {
  values: FlagValues;
  /** Names given on the command line. */
  given: Set<string>;
  /** Warnings about ignored flags, for the log once it exists. */
  warnings: string[];
}

export function parseFlags(argv: readonly string[], specs: Record<string, FlagSpec>): ParsedFlags {
  const values: FlagValues = {};
  for (const [name, spec] of Object.entries(specs)) {
    values[name] =
      spec.kind === 'duration' && typeof spec.default === 'string'
        ? parseDuration(spec.default)
        : spec.default;
  }
  const given = new Set<string>();
  const warnings: string[] = [];
  const warned = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const match = /^--?([A-Za-z0-9][\w.-]*)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new FlagError(`unexpected argument "${arg}": flags look like --name=value`);
    const name = match[1] as string;
    const spec = specs[name];
    if (!spec) throw new FlagError(`unknown flag --${name} (see --help)`);
    let raw = match[2];
    if (raw === undefined) {
      if (spec.kind === 'bool') raw = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined) throw new FlagError(`flag --${name} needs a value`);
        raw = next;
        i += 1;
      }
    }
    values[name] = convert(name, spec, raw);
    given.add(name);
    if (spec.ignored && !warned.has(name)) {
      warned.add(name);
      warnings.push(`flag --${name} is accepted for compatibility and has no effect`);
    }
  }
  return { values, given, warnings };
}

/** The flags every program takes: where the API server is, --version and --help. */
export const PROGRAM_FLAGS = {
  kubeconfig: { kind: 'string', default: '', help: 'kubeconfig file; empty means in-cluster configuration' },
  version: { kind: 'bool', default: false, help: 'print the version as JSON and exit' },
  help: { kind: 'bool', default: false, help: 'print this help and exit' },
} satisfies Record<string, FlagSpec>;

/** The logging flags of upstream's driver, which the AWS provider takes too. */
export const LOG_FLAGS = {
  'log-format-json': { kind: 'bool', default: false, help: 'log JSON lines instead of text' },
  v: { kind: 'int', default: 0, help: 'log verbosity: 4 and up logs debug lines' },
} satisfies Record<string, FlagSpec>;

/** The flag of the programs that call providers (the driver, the sync controller): their answer's limit. */
export const PROVIDER_CALL_FLAGS = {
  'max-call-recv-msg-size': {
    kind: 'int',
    default: 4 * 1024 * 1024,
    help: 'largest provider response accepted, in bytes',
  },
} satisfies Record<string, FlagSpec>;

const klogFlag = (kind: FlagKind, def: string | boolean | number, help: string): FlagSpec => ({
  kind,
  default: def,
  help: `klog: ${help} (no effect here)`,
  ignored: true,
});

/**
 * The flags klog registers in every Kubernetes Go program, so that manifests written for those
 * programs start these. The log always goes to stderr, formatted by the program's own flags; `-v`
 * is not here because each program reads it as its verbosity.
 */
export const KLOG_FLAGS = {
  logtostderr: klogFlag('bool', true, 'log to standard error instead of files'),
  alsologtostderr: klogFlag('bool', false, 'log to standard error as well as files'),
  log_dir: klogFlag('string', '', 'write log files in this folder'),
  log_file: klogFlag('string', '', 'write the log to this file'),
  log_file_max_size: klogFlag('int', 1800, 'largest log file in megabytes'),
  add_dir_header: klogFlag('bool', false, 'add the file folder to the header'),
  skip_headers: klogFlag('bool', false, 'no header prefixes in the log'),
  skip_log_headers: klogFlag('bool', false, 'no headers when opening log files'),
  one_output: klogFlag('bool', false, 'write each line only to its own severity level'),
  stderrthreshold: klogFlag('string', '2', 'lines at or above this severity go to stderr'),
  vmodule: klogFlag('string', '', 'verbosity per file (pattern=N,...)'),
  log_backtrace_at: klogFlag('string', '', 'emit a stack trace at file:line'),
} satisfies Record<string, FlagSpec>;

export function flagUsage(program: string, specs: Record<string, FlagSpec>): string {
  const lines = [`Usage: ${program} [flags]`, ''];
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.ignored) continue;
    const def = spec.kind === 'bool' ? '' : ` (default ${JSON.stringify(spec.default)})`;
    lines.push(`  --${name}${spec.kind === 'bool' ? '' : ' ' + spec.kind}`, `      ${spec.help}${def}`);
  }
  return lines.join('\n');
}
