// How tests reach the lab. `make test` exports the lab's environment (e2e/lab/lab.sh env) before it
// runs the lab tests; a test that needs the lab and does not find it fails with the reason.
import { connectionFromKubeconfig, KubeClient } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

export interface Lab {
  kubeconfig: string;
  stateDir: string;
  awsEndpoint: string;
  awsRegion: string;
  serviceAccountIssuer: string;
  /** The lab's kubectl, helm and csi-sanity. */
  binDir: string;
}

/** Repository root (the folder with package-lock.json), from the sources or from dist/. */
function findRepoRoot(start: string): string {
  for (let dir = start; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package-lock.json'))) return dir;
  }
  throw new Error(`no repository root above ${start}`);
}

export const REPO_ROOT = findRepoRoot(__dirname);

export function requireLab(): Lab {
  const kubeconfig = process.env.KUBECONFIG;
  const stateDir = process.env.LAB_STATE_DIR;
  const awsEndpoint = process.env.AWS_ENDPOINT_URL;
  if (!kubeconfig || !stateDir || !awsEndpoint) {
    throw new Error(
      'this test needs the lab: run it through `make test`, or `make lab-up` and then `eval "$(make -s lab-env)"`',
    );
  }
  if (!fs.existsSync(kubeconfig))
    throw new Error(`the lab's kubeconfig ${kubeconfig} is missing: run make lab-up`);
  return {
    kubeconfig,
    stateDir,
    awsEndpoint,
    awsRegion: process.env.AWS_REGION ?? 'us-east-1',
    serviceAccountIssuer: process.env.LAB_SERVICE_ACCOUNT_ISSUER ?? 'https://kubernetes.default.svc',
    binDir: path.join(stateDir, 'bin'),
  };
}

/** An admin (system:masters) client of the lab's API server. */
export function adminClient(lab: Lab = requireLab()): KubeClient {
  return new KubeClient(connectionFromKubeconfig(lab.kubeconfig), { qps: 0, userAgent: 'e2e-tests' });
}

/** A short random suffix for names that must not collide between runs. */
export function uniqueSuffix(): string {
  return Math.random().toString(36).slice(2, 8);
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
