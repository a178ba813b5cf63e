// Runs last (e2e/test-sequencer.js): reads every log this run's programs wrote and fails on any
// secret value or token. Every log: the driver and provider processes the tests started (make
// test-lab clears them first), the real node's container logs that containerd wrote (kept by the
// tests that run pods there: e2e/src/container-logs.ts; and any still under /var/log/pods), and the
// lab's own components (API server, kubelet, containerd, the AWS endpoint, ...).
import fs from 'node:fs';
import path from 'node:path';

import { logDir } from '../src';
import { containerLogFiles, keptName, NODE_LOG_PREFIX } from '../src/container-logs';

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
  // templated-files.test.ts
  'tv-password',
  'tv-rotated-password',
  'tv-quoted',
  // sync-controller-node.test.ts
  'leader-takeover-a1',
  'leader-takeover-a2',
  'leader-takeover-b1',
  'leader-takeover-b2',
  // Every value of sync-controller-migration.test.ts starts so.
  'migration-password',
  // faults-node.test.ts: the n-th values it rotates to
  ...Array.from({ length: 20 }, (_, n) => [`faults-node-sm-${n}`, `faults-node-ssm-${n}`]).flat(),
  // file-ownership-node.test.ts
  'ownership-node-first',
  'ownership-node-rotated-driver',
  'ownership-node-rotated-provider',
  // switch-in-place.test.ts
  'switch-value-0',
  'switch-value-1',
  'switch-value-2',
  'switch-value-3',
  'switch-value-4',
  // memory-limits-node.test.ts: the prefix of every value it writes
  'memory-limits-value',
  // restart-on-rotation.test.ts
  'restart-first-password',
  'restart-second-password',
];

const LEAKS: Array<[string, RegExp]> = [
  ['a service-account token (JWT)', /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\./],
  ['an STS session token', /FQoGZXIvYXdz/],
  ['a private key', /BEGIN [A-Z ]*PRIVATE KEY/],
  ['an AWS secret access key field', /"?(secretAccessKey|SecretAccessKey)"?\s*[:=]\s*"?[A-Za-z0-9/+]{20,}/],
];

/** The start lines of the two programs, which carry their settings. */
const STARTED = /secrets-store-csi-driver(-provider-aws)? started/;
/** -v of the programs from which their logger logs everything (common/src/logger.ts: 6 and up, trace). */
const MOST_VERBOSE = 6;

const isLog = (file: string) => file.endsWith('.log');

/** Every log file to audit, by the name it is reported under; one file reached twice counts once. */
function logsToAudit(): Map<string, string> {
  const files = new Map<string, string>();
  const seen = new Set<string>();
  const add = (name: string, file: string) => {
    const { dev, ino } = fs.statSync(file);
    if (seen.has(`${dev}:${ino}`)) return;
    seen.add(`${dev}:${ino}`);
    files.set(name, file);
  };
  for (const f of fs.readdirSync(logDir()).filter(isLog)) add(f, path.join(logDir(), f));
  for (const f of containerLogFiles()) add(keptName(f), f);
  const labLogs = path.join(process.env.LAB_STATE_DIR ?? '', 'logs');
  if (process.env.LAB_STATE_DIR && fs.existsSync(labLogs)) {
    for (const f of fs.readdirSync(labLogs).filter(isLog)) add(`lab/${f}`, path.join(labLogs, f));
  }
  return files;
}

const audited = logsToAudit();
const text = (name: string) => fs.readFileSync(audited.get(name) ?? '', 'utf8');
/** The driver and provider processes the tests started (not the node's containers). */
const programLogs = [...audited.keys()].filter(
  (name) => !name.startsWith(NODE_LOG_PREFIX) && !name.startsWith('lab/'),
);
const containerLogs = [...audited.keys()].filter((name) => name.startsWith(NODE_LOG_PREFIX));

it('no log line of this run holds a secret value or a token', () => {
  // This file audits the other files' logs: alone, it has nothing to read.
  expect(programLogs.length).toBeGreaterThan(5);
  const findings: string[] = [];
  let lines = 0;
  for (const name of audited.keys()) {
    for (const [n, line] of text(name).split('\n').entries()) {
      lines++;
      for (const value of SECRET_VALUES)
        if (line.includes(value)) findings.push(`${name}:${n + 1}: the secret value "${value}"`);
      for (const [what, pattern] of LEAKS) if (pattern.test(line)) findings.push(`${name}:${n + 1}: ${what}`);
    }
  }
  expect(lines).toBeGreaterThan(100);
  expect(findings).toEqual([]);
});

it("audits the real node's container logs, the driver's and the provider's among them", () => {
  if (process.env.LAB_MODE !== 'node') {
    throw new Error(
      'the lab runs without its real node (LAB_MODE is not "node"): its container logs need `make lab-up NODE=1` (make test starts it)',
    );
  }
  // node-kube-system_<pod>_<uid>-<container>-<n>.log, kept or still in place.
  expect(
    containerLogs.filter((n) => /^node-kube-system_.*-secrets-store-\d+\.log$/.test(n)).length,
  ).toBeGreaterThan(0);
  expect(containerLogs.filter((n) => /-provider-aws-installer-\d+\.log$/.test(n)).length).toBeGreaterThan(0);
  // They hold what the programs wrote: their start lines.
  expect(containerLogs.filter((name) => STARTED.test(text(name))).length).toBeGreaterThanOrEqual(2);
});

it('ran every driver and provider process of the tests at its most verbose level', () => {
  const quiet: string[] = [];
  let programs = 0;
  for (const name of programLogs) {
    for (const line of text(name)
      .split('\n')
      .filter((l) => STARTED.test(l))) {
      programs++;
      const verbosity = verbosityOf(line);
      if (verbosity === undefined || verbosity < MOST_VERBOSE)
        quiet.push(
          `${name}: ${verbosity === undefined ? 'its start line names no verbosity' : `-v=${verbosity}`}`,
        );
    }
  }
  expect(programs).toBeGreaterThan(5);
  expect(quiet).toEqual([]);
});

/** `verbosity` of a start line, JSON or text (`... verbosity=6 ...`). */
function verbosityOf(line: string): number | undefined {
  const json = line.indexOf('{');
  if (json >= 0) {
    try {
      const value = (JSON.parse(line.slice(json)) as { verbosity?: unknown }).verbosity;
      if (typeof value === 'number') return value;
    } catch {
      // a text line with braces in a field
    }
  }
  const match = /\bverbosity=(\d+)/.exec(line);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
