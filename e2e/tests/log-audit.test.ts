// Runs last (e2e/test-sequencer.js): reads every log line that the driver and provider processes
// of this run wrote (make test-lab clears them first) and fails on any secret value or token.
import fs from 'node:fs';
import path from 'node:path';

import { logDir } from '../src';

/** Values the suite stores in AWS or the test provider: none may ever reach a log. */
const SECRET_VALUES = [
  'my-super-secret-password',
  'my-rotated-password',
  'mamezou-tech',
  'rotated-password',
  'allowed-value',
  'forbidden-value',
  'from-us-east-1',
  'from-us-west-2',
  'from-eu-west-1',
  'node-shared',
  'pod-identity-secret',
  'pod-identity-session',
  'token-v1',
  'token-v2',
];

const LEAKS: Array<[string, RegExp]> = [
  ['a service-account token (JWT)', /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\./],
  ['an STS session token', /FQoGZXIvYXdz/],
  ['a private key', /BEGIN [A-Z ]*PRIVATE KEY/],
  ['an AWS secret access key field', /"?(secretAccessKey|SecretAccessKey)"?\s*[:=]\s*"?[A-Za-z0-9/+]{20,}/],
];

it('no driver or provider log line of this run holds a secret value or a token', () => {
  const files = fs.readdirSync(logDir()).filter((f) => f.endsWith('.log'));
  // This file audits the other files' logs: alone, it has nothing to read.
  expect(files.length).toBeGreaterThan(5);
  const findings: string[] = [];
  let lines = 0;
  for (const file of files) {
    const text = fs.readFileSync(path.join(logDir(), file), 'utf8');
    for (const [n, line] of text.split('\n').entries()) {
      lines++;
      for (const value of SECRET_VALUES)
        if (line.includes(value)) findings.push(`${file}:${n + 1}: the secret value "${value}"`);
      for (const [what, pattern] of LEAKS) if (pattern.test(line)) findings.push(`${file}:${n + 1}: ${what}`);
    }
  }
  expect(lines).toBeGreaterThan(100);
  expect(findings).toEqual([]);
});
