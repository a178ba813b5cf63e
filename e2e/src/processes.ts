// Starting the project's real executables (built by `make build`) as child processes for tests, with
// their logs kept in files under the lab's state folder so that tests can read them afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { REPO_ROOT } from './lab';

/**
 * The programs as `make build` leaves them, or, with SSCSI_BUNDLES=<dir>, as `node scripts/bundle.mjs
 * <dir>` bundles them for the images (to measure the images' programs, e.g. bench/side-by-side.ts).
 */
const BUNDLES = process.env.SSCSI_BUNDLES;
const mainOf = (workspace: string, program: string) =>
  BUNDLES
    ? path.join(path.resolve(BUNDLES), program, 'dist', 'main.js')
    : path.join(REPO_ROOT, workspace, 'dist', 'main.js');
export const DRIVER_MAIN = mainOf('driver', 'secrets-store-csi-driver');
export const PROVIDER_AWS_MAIN = mainOf('provider-aws', 'secrets-store-csi-driver-provider-aws');

export class ManagedProcess {
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  logs(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
  }

  /** Resolves with the first log line matching `pattern`; fails if the process exits first. */
  async waitForLog(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.logs()
        .split('\n')
        .find((l) => pattern.test(l));
      if (line) return line;
      if (!this.running)
        throw new Error(`${this.name} exited before logging ${pattern}:\n${this.logs().slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(
          `${this.name} did not log ${pattern} within ${timeoutMs} ms:\n${this.logs().slice(-3000)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  kill(): Promise<number | null> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Children still running: killed if this process exits first, so that none outlives a test run. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function logDir(): string {
  const dir = path.join(process.env.LAB_STATE_DIR ?? path.join(REPO_ROOT, '.lab'), 'test-logs');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The V8 flags an executable's `#!/usr/bin/env -S node <flags>` line gives it in production (the
 * images' entrypoints pass the same): of the driver and the provider, their sources' line, which a
 * bundle's `#!/usr/local/bin/node` does not carry.
 */
export function shebangFlags(main: string): string[] {
  const source =
    main === DRIVER_MAIN
      ? path.join(REPO_ROOT, 'driver', 'src', 'main.ts')
      : main === PROVIDER_AWS_MAIN
        ? path.join(REPO_ROOT, 'provider-aws', 'src', 'main.ts')
        : main;
  const first = fs.readFileSync(source, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  return match?.[1]?.trim() ? (match[1].trim().split(/\s+/) as string[]) : [];
}

/** The verbosity the tests run the driver and the provider at: their most verbose (trace), so that
 * the log audit (e2e/tests/log-audit.test.ts) reads every line they can write. */
export const TEST_VERBOSITY = 10;

/**
 * Under jest, `args` with the driver's or the provider's verbosity set to TEST_VERBOSITY; elsewhere
 * (make demo, the benchmarks, whose figures trace logging would distort) `args` as given.
 */
function mostVerbose(main: string, args: string[]): string[] {
  if (process.env.JEST_WORKER_ID === undefined) return args;
  if (main !== DRIVER_MAIN && main !== PROVIDER_AWS_MAIN) return args;
  return [...args.filter((a) => !/^--?v(=|$)/.test(a)), `-v=${TEST_VERBOSITY}`];
}

/**
 * Starts `node <flags> <main> <args>` (flags from main's shebang); stdout and stderr go to a log file
 * named after the process. Under jest the driver and the provider run at their most verbose level.
 */
export function startNodeProgram(
  name: string,
  main: string,
  givenArgs: string[],
  env: NodeJS.ProcessEnv = process.env,
): ManagedProcess {
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run make build first`);
  const args = mostVerbose(main, givenArgs);
  const logFile = path.join(logDir(), `${name}-${Date.now()}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [...shebangFlags(main), main, ...args], {
    stdio: ['ignore', out, out],
    env,
  });
  fs.closeSync(out);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return new ManagedProcess(name, child, logFile);
}

/** The metrics address a process logs in its start line, as JSON or as text (`metrics=host:port`). */
export function metricsAddressOf(line: string): string {
  try {
    return (JSON.parse(line) as { metrics: string }).metrics;
  } catch {
    const match = /\bmetrics=(\S+)/.exec(line);
    if (!match?.[1]) throw new Error(`no metrics address in ${JSON.stringify(line)}`);
    return match[1];
  }
}

export interface DriverProcessOptions {
  nodeId: string;
  socketPath: string;
  providerDir: string;
  kubeconfig: string;
  rotation?: { pollInterval: string };
  extraArgs?: string[];
}

export interface DriverProcess extends ManagedProcess {
  metricsUrl: string;
}

/** Starts the driver and waits until it serves its socket and metrics. */
export async function startDriver(o: DriverProcessOptions): Promise<DriverProcess> {
  const args = [
    `--endpoint=unix://${o.socketPath}`,
    `--nodeid=${o.nodeId}`,
    `--provider-volume=${o.providerDir}`,
    '--additional-provider-volume-paths=',
    `--kubeconfig=${o.kubeconfig}`,
    '--metrics-addr=127.0.0.1:0',
    '--log-format-json',
    ...(o.rotation
      ? ['--enable-secret-rotation=true', `--rotation-poll-interval=${o.rotation.pollInterval}`]
      : []),
    ...(o.extraArgs ?? []),
  ];
  const proc = startNodeProgram(`driver-${o.nodeId}`, DRIVER_MAIN, args);
  const line = await proc.waitForLog(/secrets-store-csi-driver started/);
  return Object.assign(proc, { metricsUrl: `http://${metricsAddressOf(line)}/metrics` });
}

/** The value of one sample of a Prometheus text page, e.g. `node_publish_total{provider="test"}`. */
export async function metricValue(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(url)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
