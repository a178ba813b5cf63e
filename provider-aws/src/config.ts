// The provider's configuration: upstream's flag names, our additions, parsed once into a frozen value.
// Nothing else in the provider reads flags or the environment.
import type { Command as ProgramCommand, FlagSpec } from '@sscsi/common';
import { FlagError, LOG_FLAGS, parseDuration, parseFlags, PROGRAM_FLAGS } from '@sscsi/common';

export const FLAGS = {
  'provider-volume': {
    kind: 'string',
    default: '/var/run/secrets-store-csi-providers',
    help: 'folder where the provider listens on aws.sock',
  },
  'driver-writes-secrets': {
    kind: 'bool',
    default: true,
    help: 'return files to the driver, which writes them atomically; false: write them into the mount here',
  },
  qps: { kind: 'int', default: 5, help: 'Kubernetes API requests per second' },
  burst: { kind: 'int', default: 10, help: 'Kubernetes API request burst' },
  'pod-identity-http-timeout': {
    kind: 'string',
    default: '1s',
    help: 'timeout of one request to the EKS Pod Identity agent (Go duration)',
  },
  'pod-identity-agent-ipv4-url': {
    kind: 'string',
    default: 'http://169.254.170.23/v1/credentials',
    help: 'EKS Pod Identity agent credentials URL over IPv4',
  },
  'pod-identity-agent-ipv6-url': {
    kind: 'string',
    default: 'http://[fd00:ec2::23]/v1/credentials',
    help: 'EKS Pod Identity agent credentials URL over IPv6',
  },
  'eks-addon-version': {
    kind: 'string',
    default: '',
    help: 'EKS add-on version, reported in the AWS user agent',
  },
  'value-cache-max-bytes': {
    kind: 'int',
    default: 4 * 1024 * 1024,
    help: 'secret values kept in memory so that a remount of an unchanged secret needs no GetSecretValue, in bytes; 0 keeps none',
  },
  'value-cache-idle-timeout': {
    kind: 'duration',
    default: '15m',
    help: 'a kept value unused for this long is dropped (Go duration; at least the rotation poll interval to be useful)',
  },
  'shared-answers-window': {
    kind: 'duration',
    default: '30s',
    help: "how long an AWS answer (a secret's current version, a parameter's value) read for one rotation remount serves the remounts of other pods of the same verified identity (Go duration; keep it under the driver's --rotation-poll-interval; 0s shares only calls in flight)",
  },
  'metrics-addr': { kind: 'string', default: ':8989', help: 'address of the /metrics and /healthz endpoint' },
  ...LOG_FLAGS,
  ...PROGRAM_FLAGS,
} satisfies Record<string, FlagSpec>;

export interface ProviderConfig {
  socketPath: string;
  driverWritesSecrets: boolean;
  qps: number;
  burst: number;
  podIdentity: { ipv4Url: string; ipv6Url: string; timeoutMs: number };
  eksAddonVersion: string;
  /** Bounds of the value cache (secret values kept for remounts). */
  valueCache: { maxBytes: number; idleMs: number };
  /** How long an AWS answer serves other pods' rotation remounts of the same identity. */
  sharedAnswersWindowMs: number;
  metricsAddress: string;
  logJson: boolean;
  verbosity: number;
  kubeconfig: string | undefined;
  inCluster: { host: string | undefined; port: string | undefined };
  /** AWS_REGION of the provider's own environment: the region when a class names none. */
  defaultRegion: string | undefined;
}

export type Command = ProgramCommand<ProviderConfig>;

function agentUrl(name: string, value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    return value;
  } catch {
    throw new FlagError(`--${name} must be an http URL, got "${value}"`);
  }
}

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  const { values, warnings } = parseFlags(argv, FLAGS);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const qps = Number(values.qps);
  const burst = Number(values.burst);
  if (qps <= 0 || burst <= 0) throw new FlagError('--qps and --burst must be greater than 0');
  const timeoutText = String(values['pod-identity-http-timeout']);
  let timeoutMs: number;
  try {
    // Upstream's chart may pass an empty value: the default then applies.
    timeoutMs = parseDuration(timeoutText || '1s');
  } catch (err) {
    throw new FlagError(`--pod-identity-http-timeout: ${(err as Error).message}`, { cause: err });
  }
  if (timeoutMs <= 0) throw new FlagError('--pod-identity-http-timeout must be greater than 0');
  const valueCache = {
    maxBytes: Number(values['value-cache-max-bytes']),
    idleMs: Number(values['value-cache-idle-timeout']),
  };
  if (valueCache.maxBytes < 0) throw new FlagError('--value-cache-max-bytes must be 0 or more');
  const sharedAnswersWindowMs = Number(values['shared-answers-window']);
  if (sharedAnswersWindowMs < 0) throw new FlagError('--shared-answers-window must be 0s or more');
  const config: ProviderConfig = {
    socketPath: `${String(values['provider-volume']).replace(/\/+$/, '')}/aws.sock`,
    driverWritesSecrets: Boolean(values['driver-writes-secrets']),
    qps,
    burst,
    podIdentity: {
      ipv4Url: agentUrl('pod-identity-agent-ipv4-url', String(values['pod-identity-agent-ipv4-url'])),
      ipv6Url: agentUrl('pod-identity-agent-ipv6-url', String(values['pod-identity-agent-ipv6-url'])),
      timeoutMs,
    },
    eksAddonVersion: String(values['eks-addon-version']),
    valueCache,
    sharedAnswersWindowMs,
    metricsAddress: String(values['metrics-addr']),
    logJson: Boolean(values['log-format-json']),
    verbosity: Number(values.v),
    kubeconfig: String(values.kubeconfig) || undefined,
    inCluster: { host: env.KUBERNETES_SERVICE_HOST, port: env.KUBERNETES_SERVICE_PORT },
    defaultRegion: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
  };
  return { kind: 'run', config: Object.freeze(config), warnings };
}
