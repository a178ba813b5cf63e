// What both executables share around their main: their version, and how a failure ends them.
import fs from 'node:fs';
import path from 'node:path';

import { FlagError } from './flags';
import type { KubeConnection } from './kube/connection';
import { connectionFromKubeconfig, connectionInCluster } from './kube/connection';

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

/** Runs `main`; a bad flag exits 2 with its message, any other failure exits 1 with the stack. */
export function runProgram(program: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const message = err instanceof FlagError ? err.message : ((err as Error).stack ?? String(err));
    process.stderr.write(`${program}: ${message}\n`);
    process.exit(err instanceof FlagError ? 2 : 1);
  });
}
