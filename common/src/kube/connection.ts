// Where the API server is and how to authenticate to it: from a kubeconfig file (out of cluster,
// the lab) or from the pod's service account (in cluster).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import type * as KubeconfigYaml from './kubeconfig-yaml';

/** YAML is loaded only to read a kubeconfig file: in a cluster, where none is, it costs no memory. */
function parseYaml(text: string): unknown {
  return (createRequire(__filename)('./kubeconfig-yaml') as typeof KubeconfigYaml).parse(text);
}

export interface KubeConnection {
  /** Base URL of the API server, without a trailing slash. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A fixed bearer token. */
  token?: string;
  /** A bearer token read from this file (re-read as it is rotated). */
  tokenFile?: string;
  insecureSkipTlsVerify?: boolean;
}

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Fields = Record<string, unknown>;

/** Finds `{name, <kind>: {...}}` in a kubeconfig list such as `clusters`. */
function pick(doc: Fields, kind: 'context' | 'cluster' | 'user', name: string, file: string): Fields {
  const list = doc[`${kind}s`];
  const entry = Array.isArray(list) ? (list as Fields[]).find((e) => e?.name === name) : undefined;
  const value = entry?.[kind];
  if (!value || typeof value !== 'object')
    throw new KubeConfigError(`kubeconfig ${file}: ${kind} "${name}" not found`);
  return value as Fields;
}

function readData(base: string, inline: unknown, file: unknown): Buffer | undefined {
  if (typeof inline === 'string' && inline !== '') return Buffer.from(inline, 'base64');
  if (typeof file === 'string' && file !== '') return fs.readFileSync(path.resolve(base, file));
  return undefined;
}

/** Reads the current context of a kubeconfig file. Exec plugins and auth providers are not supported. */
export function connectionFromKubeconfig(file: string): KubeConnection {
  let doc: Fields;
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8')) as Fields;
  } catch (err) {
    throw new KubeConfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  const base = path.dirname(file);
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') {
    throw new KubeConfigError(`kubeconfig ${file}: no current-context`);
  }
  const context = pick(doc, 'context', contextName, file);
  const cluster = pick(doc, 'cluster', String(context.cluster ?? ''), file);
  const user = context.user ? pick(doc, 'user', String(context.user), file) : {};
  if (typeof cluster.server !== 'string')
    throw new KubeConfigError(`kubeconfig ${file}: cluster has no server`);
  if (user.exec || user['auth-provider']) {
    throw new KubeConfigError(`kubeconfig ${file}: exec and auth-provider credentials are not supported`);
  }
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: readData(base, cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: readData(base, user['client-certificate-data'], user['client-certificate']),
    key: readData(base, user['client-key-data'], user['client-key']),
    token: typeof user.token === 'string' ? user.token : undefined,
    tokenFile: typeof user.tokenFile === 'string' ? path.resolve(base, user.tokenFile) : undefined,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
}

/** The connection of a pod: the service's address from the environment and the mounted token. */
export function connectionInCluster(host: string | undefined, port: string | undefined): KubeConnection {
  if (!host || !port) {
    throw new KubeConfigError(
      'not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no --kubeconfig given',
    );
  }
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    ca: fs.readFileSync(path.join(IN_CLUSTER_DIR, 'ca.crt')),
    tokenFile: path.join(IN_CLUSTER_DIR, 'token'),
  };
}
