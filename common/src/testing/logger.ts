// For unit tests: loggers that write nowhere, or into an array the test reads. Lines pass through
// the real logger (its redaction included), so what a test reads is what a user's log would hold.
import type { Logger } from '../logger';
import { createLogger } from '../logger';

/** A logger whose lines go nowhere. */
export function silentLogger(): Logger {
  return createLogger({ name: 'test', json: true, verbosity: 0, destination: { write: () => true } });
}

/** A logger and the JSON lines it wrote; `verbosity` 4 and above keeps debug lines, 6 trace. */
export function capturingLogger(verbosity = 0): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    name: 'test',
    json: true,
    verbosity,
    destination: { write: (line: string) => lines.push(line) },
  });
  return { logger, lines };
}
