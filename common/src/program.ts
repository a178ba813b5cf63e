// What both executables share around their main: their version, and how a failure ends them.
import fs from 'node:fs';
import path from 'node:path';

import { FlagError } from './flags';
import type { KubeConnection } from './kube/connection';
import { connectionFromKubeconfig, connectionInCluster, KubeConfigError } from './kube/connection';

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
