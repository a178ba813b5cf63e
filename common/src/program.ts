// What the programs share around their main: their version, the opening every main has (--version,
// --help, the logger, the metrics registry, the API server client), and how a failure ends them.
import fs from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';

import { FlagError, type FlagSpec, flagUsage } from './flags';
import { KubeClient, type KubeClientOptions } from './kube/client';
import type { KubeConnection } from './kube/connection';
import { connectionFromKubeconfig, connectionInCluster, KubeConfigError } from './kube/connection';
import { createLogger, type Logger } from './logger';
import { createRegistry, kubeRequestCounter } from './metrics';

/** The oldest Node.js major the programs run on (package.json's engines; the images ship 24). */
export const MINIMUM_NODE_MAJOR = 24;

/** `v<version>` of the package.json in `packageDir` (one level above both src/ and dist/). */
export function packageVersion(packageDir: string): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return `v${pkg.version ?? '0.0.0'}`;
  } catch {
    return 'v0.0.0';
  }
}

/** What `--version` prints, as JSON. */
export function versionInfo(version: string): Record<string, string> {
  return {
    version,
    runtime: 'node',
    runtimeVersion: process.versions.node,
    platform: `${process.platform}/${process.arch}`,
  };
}

/** The API server connection: the kubeconfig file when given, else the pod's own (in cluster). */
export function kubeConnection(
  kubeconfig: string | undefined,
  inCluster: { host?: string; port?: string },
): KubeConnection {
  return kubeconfig
    ? connectionFromKubeconfig(kubeconfig)
    : connectionInCluster(inCluster.host, inCluster.port);
}

/** What a program's parseConfig returns: run with this configuration, or answer --version or --help. */
export type Command<Config> =
  { kind: 'run'; config: Readonly<Config>; warnings: string[] } | { kind: 'version' } | { kind: 'help' };

/** What startProgram reads of a program's configuration. */
export interface ProgramConfig {
  logJson: boolean;
  /** klog-style: 0-3 info, 4-5 debug, 6+ trace. */
  verbosity: number;
  /** Only errors are logged. */
  errorsOnly?: boolean;
  kubeconfig: string | undefined;
  inCluster: { host?: string; port?: string };
}

export interface ProgramInfo<Config> {
  name: string;
  version: string;
  flags: Record<string, FlagSpec>;
  /** What --version prints; by default versionInfo's JSON. */
  versionLine?: () => string;
  /** The API server client's throttling (KubeClient's default when not given). */
  kube?: (config: Readonly<Config>) => Pick<KubeClientOptions, 'qps' | 'burst'>;
  /** Where --version and --help print; standard output by default. */
  stdout?: { write(text: string): unknown };
  /** Where the log goes; standard error by default. */
  logDestination?: { write(line: string): unknown };
}

export interface ProgramStart<Config> {
  config: Readonly<Config>;
  logger: Logger;
  registry: Registry;
  connection: KubeConnection;
  /** `<name>/<version>`, as the API server client sends it. */
  userAgent: string;
  /** The API server client, its requests counted in the registry. */
  kube: KubeClient;
}

/**
 * The opening every program's main shares. Answers --version or --help and returns undefined (the
 * program is done); else makes the logger the configuration asks for (the flags' warnings go to it),
 * the metrics registry and the API server client.
 */
export function startProgram<Config extends ProgramConfig>(
  command: Command<Config>,
  program: ProgramInfo<Config>,
): ProgramStart<Config> | undefined {
  const stdout = program.stdout ?? process.stdout;
  if (command.kind === 'version') {
    const line = program.versionLine?.() ?? JSON.stringify(versionInfo(program.version));
    stdout.write(`${line}\n`);
    return undefined;
  }
  if (command.kind === 'help') {
    stdout.write(`${flagUsage(program.name, program.flags)}\n`);
    return undefined;
  }
  const { config } = command;
  const logger = createLogger({
    name: program.name,
    json: config.logJson,
    verbosity: config.verbosity,
    destination: program.logDestination,
  });
  if (config.errorsOnly) logger.level = 'error';
  for (const warning of command.warnings) logger.warn(warning);
  const connection = kubeConnection(config.kubeconfig, config.inCluster);
  const registry = createRegistry();
  const userAgent = `${program.name}/${program.version}`;
  const kube = new KubeClient(connection, {
    ...program.kube?.(config),
    userAgent,
    onRequest: kubeRequestCounter(registry),
  });
  return { config, logger, registry, connection, userAgent, kube };
}

/** Why this Node.js cannot run the programs, or undefined when it can. */
export function unsupportedNode(version: string): string | undefined {
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  if (Number.isInteger(major) && major >= MINIMUM_NODE_MAJOR) return undefined;
  return `needs Node.js ${MINIMUM_NODE_MAJOR} or newer, this is ${version}`;
}

/**
 * Runs `main`. A bad flag exits 2 with its message; a configuration the operator must fix (no
 * kubeconfig, a Node.js too old) exits 1 with its message alone; anything else exits 1 with the stack.
 */
export function runProgram(program: string, main: () => Promise<void>): void {
  const fail = (message: string, code: number) => {
    process.stderr.write(`${program}: ${message}\n`);
    process.exit(code);
  };
  const tooOld = unsupportedNode(process.versions.node);
  if (tooOld) return fail(`${tooOld} (${process.execPath})`, 1);
  main().catch((err: unknown) => {
    if (err instanceof FlagError) return fail(err.message, 2);
    if (err instanceof KubeConfigError) return fail(err.message, 1);
    fail((err as Error).stack ?? String(err), 1);
  });
}
