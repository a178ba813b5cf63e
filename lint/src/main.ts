#!/usr/bin/env node
// secrets-store-csi-lint: wiring only. Reads the files named on the command line (or stdin for
// `-`), checks them, prints one line per finding, exits 1 when a mount would be refused.
import { lintFiles } from './cli';

process.exitCode = lintFiles(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
