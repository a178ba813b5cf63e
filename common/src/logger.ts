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

/**
 * Keys whose values are never logged, at any depth, compared without regard to case (an HTTP
 * header's `Authorization`, STS's `SessionToken`, a Kubernetes Secret's `data` and `stringData`).
 */
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
  'x-amz-security-token',
  'webIdentityToken',
  'accessToken',
  'data',
  'stringData',
  'csi.storage.k8s.io/serviceAccount.tokens',
];

const SECRET_KEY_SET: ReadonlySet<string> = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));
/** Matches a JSON line holding one of those keys anywhere; only such lines are parsed again. */
const SECRET_KEY_PATTERN = new RegExp(
  `"(?:${SECRET_KEYS.map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})":`,
  // Unicode case folding, as toLowerCase() does for the set below.
  'iu',
);

/**
 * pino's JSON line with the value of every secret key replaced, at any depth (bindings, errors,
 * nested objects). Done on the finished line rather than with pino's own redaction, which parses
 * all of its paths again at every call: 0.3 ms a line under --lite-mode, where this costs a few
 * microseconds for a line without such a key.
 */
export function redactLine(json: string): string {
  if (!SECRET_KEY_PATTERN.test(json)) return json;
  try {
    const record: unknown = JSON.parse(json, (key, value: unknown) =>
      SECRET_KEY_SET.has(key.toLowerCase()) ? REDACTED : value,
    );
    return `${JSON.stringify(record)}\n`;
  } catch {
    // Never the case for pino's lines; a line that cannot be checked is not written as it is.
    return `${JSON.stringify({ msg: 'a log line was withheld: it could not be checked for secrets' })}\n`;
  }
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
    ? { write: (line: string) => destination.write(redactLine(line)) }
    : { write: (line: string) => destination.write(textLine(redactLine(line))) };
  return pino(
    {
      name: options.name,
      level: levelFor(options.verbosity),
      base: undefined,
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
