// The gate's flags, parsed into a frozen, typed configuration. Only this module reads argv.
import type { FlagSpec } from '@sscsi/common';
import { FlagError, parseFlags } from '@sscsi/common';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface GateConfig {
  listen: readonly ListenAddress[];
  agentListen: readonly ListenAddress[];
  upstream: string;
  kubeconfig: string;
  issuer: string;
  account: string;
  root: { accessKeyId: string; secretAccessKey: string };
  clusterName: string;
  clusterRegion: string;
  cacheTtlMs: number;
  logJson: boolean;
  verbosity: number;
}

export const PROGRAM = 'lab-aws-gate';

export const FLAGS: Record<string, FlagSpec> = {
  listen: {
    kind: 'string',
    default: '127.0.0.1:15000',
    help: "the AWS endpoint's addresses, comma-separated host:port ([::1]:port for IPv6)",
  },
  'agent-listen': {
    kind: 'string',
    default: '127.0.0.1:15023',
    help: "the EKS Pod Identity agent's addresses (GET /v1/credentials); an IPv6 one that cannot bind is skipped",
  },
  upstream: { kind: 'string', default: 'http://127.0.0.1:15001', help: 'moto, behind the gate' },
  kubeconfig: {
    kind: 'string',
    default: '',
    help: "the lab's kubeconfig: its API server serves the issuer's keys",
  },
  issuer: {
    kind: 'string',
    default: 'https://kubernetes.default.svc',
    help: "the cluster's service-account issuer, whose documents the API server of --kubeconfig serves",
  },
  account: { kind: 'string', default: '123456789012', help: "the account every ARN names (moto's)" },
  'root-access-key-id': { kind: 'string', default: 'lab', help: "the account root's access key (set-up)" },
  'root-secret-access-key': { kind: 'string', default: 'lab', help: "the account root's secret key" },
  'cluster-name': { kind: 'string', default: 'lab', help: "the lab cluster's EKS name (Pod Identity)" },
  'cluster-region': { kind: 'string', default: 'ap-northeast-1', help: "the lab cluster's region" },
  'cache-ttl': {
    kind: 'duration',
    default: '5s',
    help: 'how long IAM and secret reads serve (writes through the gate drop them at once)',
  },
  'log-format-json': { kind: 'bool', default: false, help: 'log JSON lines' },
  v: { kind: 'int', default: 0, help: 'log verbosity' },
};

export function parseAddresses(text: string, flag: string): ListenAddress[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const match = /^(?:\[([0-9a-fA-F:]+)\]|([\w.-]+)):(\d{1,5})$/.exec(entry);
      if (!match) throw new FlagError(`--${flag}: "${entry}" is not host:port`);
      return { host: (match[1] ?? match[2]) as string, port: Number(match[3]) };
    });
}

export function parseConfig(argv: readonly string[]): GateConfig {
  const { values } = parseFlags(argv, FLAGS);
  const s = (name: string) => String(values[name]);
  if (!s('kubeconfig'))
    throw new FlagError('--kubeconfig is required (the lab API server serves the issuer keys)');
  if (!/^\d{12}$/.test(s('account'))) throw new FlagError('--account must be 12 digits');
  if (!s('issuer').startsWith('https://')) throw new FlagError('--issuer must be an https:// URL');
  try {
    new URL(s('upstream'));
  } catch {
    throw new FlagError(`--upstream "${s('upstream')}" is not a URL`);
  }
  return Object.freeze({
    listen: parseAddresses(s('listen'), 'listen'),
    agentListen: parseAddresses(s('agent-listen'), 'agent-listen'),
    upstream: s('upstream'),
    kubeconfig: s('kubeconfig'),
    issuer: s('issuer').replace(/\/+$/, ''),
    account: s('account'),
    root: { accessKeyId: s('root-access-key-id'), secretAccessKey: s('root-secret-access-key') },
    clusterName: s('cluster-name'),
    clusterRegion: s('cluster-region'),
    cacheTtlMs: Number(values['cache-ttl']),
    logJson: values['log-format-json'] === true,
    verbosity: Number(values.v),
  });
}
