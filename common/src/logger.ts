// The one logger module: pino, JSON or text, with tokens and secret contents redacted wherever they
// could appear in a logged object.
import pino from 'pino';

export type Logger = pino.Logger;

export interface LoggerOptions {
  name: string;
  /** JSON lines when true; a compact text line otherwise. */
  json: boolean;
  /** klog-style verbosity: 0-3 info, 4-5 debug, 6+ trace. */
  verbosity: number;
  /** Where lines go; standard error by default. */
  destination?: { write(line: string): unknown };
}

export const REDACTED = '[REDACTED]';

/** Keys whose values are never logged, at any depth the redaction paths cover. */
const SECRET_KEYS = [
  'token',
  'tokens',
  'secrets',
  'contents',
  'password',
  'secretAccessKey',
  'sessionToken',
  'SecretString',
  'SecretBinary',
  'authorization',
  'csi.storage.k8s.io/serviceAccount.tokens',
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const k of SECRET_KEYS) {
    const quoted = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
    const join = (prefix: string) => (quoted.startsWith('[') ? `${prefix}${quoted}` : `${prefix}.${quoted}`);
    paths.push(quoted.startsWith('[') ? quoted : k, join('*'), join('*.*'));
  }
  return paths;
}

function levelFor(verbosity: number): pino.Level {
  if (verbosity >= 6) return 'trace';
  if (verbosity >= 4) return 'debug';
  return 'info';
}

/** Turns pino's JSON line into `time level msg key=value ...`. */
export function textLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, name, pid: _pid, hostname: _hostname, ...rest } = record;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const when = typeof time === 'number' ? new Date(time).toISOString() : String(time);
  const label = pino.levels.labels[level as number] ?? String(level);
  return `${when} ${label.toUpperCase().padEnd(5)} ${String(name ?? '')}: ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stderr;
  const stream = options.json
    ? { write: (line: string) => destination.write(line) }
    : { write: (line: string) => destination.write(textLine(line)) };
  return pino(
    {
      name: options.name,
      level: levelFor(options.verbosity),
      base: undefined,
      redact: { paths: redactPaths(), censor: REDACTED },
      serializers: { err: pino.stdSerializers.err },
    },
    stream,
  );
}

/**
 * A copy of the attributes a driver sends to a provider that is safe to log: the service-account
 * tokens replaced by the audiences they were minted for.
 */
export function loggableAttributes(attributes: Record<string, string>): Record<string, string> {
  const copy = { ...attributes };
  const tokensKey = 'csi.storage.k8s.io/serviceAccount.tokens';
  if (copy[tokensKey] !== undefined) {
    let audiences: string;
    try {
      audiences = Object.keys(JSON.parse(copy[tokensKey]) as object).join(',');
    } catch {
      audiences = 'unparseable';
    }
    copy[tokensKey] = `${REDACTED} (audiences: ${audiences})`;
  }
  return copy;
}
