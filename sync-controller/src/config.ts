// The controller's configuration: upstream's flag names and defaults (its own flags and the zap
// logging flags controller-runtime registers), plus ours, parsed once into a frozen value. Nothing
// else in the controller reads flags, files of the pod or the environment.
import type { Command as ProgramCommand, FlagSpec } from '@sscsi/common';
import { FlagError, parseFlags, PROGRAM_FLAGS, PROVIDER_CALL_FLAGS } from '@sscsi/common';

export const FLAGS = {
  'provider-volume': {
    kind: 'string',
    default: '/provider',
    help: "folder holding the providers' sockets (<provider>.sock)",
  },
  'token-request-audience': {
    kind: 'string',
    default: '',
    help: 'comma-separated audiences of the ServiceAccount tokens sent to providers; empty: no tokens',
  },
  'health-probe-bind-address': {
    kind: 'string',
    default: ':8081',
    help: 'address of /healthz and /readyz; 0 disables them',
  },
  'metrics-bind-address': {
    kind: 'string',
    default: ':8085',
    help: 'address of the Prometheus /metrics endpoint; 0 disables it',
  },
  'leader-elect': {
    kind: 'bool',
    default: false,
    help: 'run leader election: of several replicas one reconciles, the others stand by',
  },
  'leader-election-namespace': {
    kind: 'string',
    default: '',
    help: "namespace of the leader election Lease; empty: the pod's own namespace",
  },
  'rotation-poll-interval': {
    kind: 'duration',
    default: '12h',
    help: 'every SecretSync is synced again this often; 0 disables the poll',
  },
  ...PROVIDER_CALL_FLAGS,
  ...PROGRAM_FLAGS,
  // controller-runtime's zap flags: upstream's default is its development mode.
  'zap-devel': {
    kind: 'bool',
    default: true,
    help: 'development logging: text lines and debug level (false: JSON lines, info level)',
  },
  'zap-encoder': { kind: 'string', default: '', help: 'log encoding: json or console (text)' },
  'zap-log-level': {
    kind: 'string',
    default: '',
    help: 'log level: debug, info, error, panic or a verbosity number (4 and up logs debug lines)',
  },
  'zap-stacktrace-level': {
    kind: 'string',
    default: '',
    help: 'level from which zap adds stack traces: info, error or panic (accepted; errors log their stack)',
  },
  'zap-time-encoding': {
    kind: 'string',
    default: '',
    help: 'zap time format: epoch, millis, nano, iso8601, rfc3339 or rfc3339nano (accepted; lines carry RFC 3339 times)',
  },
  // Ours.
  'provider-timeout': {
    kind: 'duration',
    default: '2m',
    help: 'deadline of one provider call, retries included',
  },
  'max-concurrent-reconciles': {
    kind: 'int',
    default: 4,
    help: 'SecretSyncs reconciled at once (one SecretSync is never reconciled twice at once)',
  },
  'leader-elect-lease-duration': {
    kind: 'duration',
    default: '10s',
    help: "how long standbys wait after the leader's last renewal before taking over",
  },
  'leader-elect-renew-deadline': {
    kind: 'duration',
    default: '7s',
    help: 'how long the leader keeps trying to renew before it stops reconciling and exits',
  },
  'leader-elect-retry-period': {
    kind: 'duration',
    default: '2s',
    help: 'how often candidates try to acquire, and the leader to renew, the Lease',
  },
  'restart-on-rotation': {
    kind: 'bool',
    default: false,
    help: 'restart Deployments, StatefulSets and DaemonSets annotated secrets-store.csi.x-k8s.io/restart-on-rotation=true when what their pods mount rotates',
  },
  'restart-on-rotation-delay': {
    kind: 'duration',
    default: '5s',
    help: "how long after a change its workload is evaluated: its pods' changes within it give one restart",
  },
} satisfies Record<string, FlagSpec>;

const ZAP_STACKTRACE_LEVELS = ['info', 'error', 'panic'];
const ZAP_TIME_ENCODINGS = ['epoch', 'millis', 'nano', 'iso8601', 'rfc3339', 'rfc3339nano'];

export interface LeaderElectionConfig {
  namespace: string;
  /** `<pod name>_<random>`: unique per process, readable in the Lease. */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface SyncControllerConfig {
  providerVolume: string;
  /** Trimmed, without empty entries (upstream keeps the blanks of `"a, b"`: its bug B7). */
  tokenAudiences: readonly string[];
  /** Undefined when disabled (`0`). */
  healthProbeAddress: string | undefined;
  metricsAddress: string | undefined;
  /** Undefined without --leader-elect. */
  leaderElection: Readonly<LeaderElectionConfig> | undefined;
  /** 0 disables the poll. */
  rotationPollIntervalMs: number;
  maxCallRecvMsgSize: number;
  providerTimeoutMs: number;
  maxConcurrentReconciles: number;
  /** Undefined without --restart-on-rotation. */
  restartOnRotation: Readonly<{ delayMs: number }> | undefined;
  kubeconfig: string | undefined;
  logJson: boolean;
  /** klog-style: 0-3 info, 4-5 debug, 6+ trace. */
  verbosity: number;
  /** Only errors are logged (`--zap-log-level=error|panic`). */
  errorsOnly: boolean;
  /** This controller's pod, as upstream sends it to providers (`""` when unset). */
  pod: { name: string; uid: string };
  /** In-cluster API server address, from the environment the kubelet gives the pod. */
  inCluster: { host: string | undefined; port: string | undefined };
}

export type Command = ProgramCommand<SyncControllerConfig>;

/** What the configuration may read of the pod besides the command line. */
export interface ConfigSources {
  env: NodeJS.ProcessEnv;
  /** The namespace file of the pod's ServiceAccount, or undefined out of a cluster. */
  serviceAccountNamespace(): string | undefined;
  /** A random suffix for the leader identity. */
  random(): string;
  hostname(): string;
}

function listenAddress(value: string): string | undefined {
  return value === '0' || value === '' ? undefined : value;
}

/** zap's level as our verbosity: `debug` shows debug lines, a number N is logr's V(N). */
function logLevel(devel: boolean, level: string): { verbosity: number; errorsOnly: boolean } {
  if (level === '') return { verbosity: devel ? 4 : 0, errorsOnly: false };
  switch (level.toLowerCase()) {
    case 'debug':
      return { verbosity: 4, errorsOnly: false };
    case 'info':
      return { verbosity: 0, errorsOnly: false };
    case 'error':
    case 'panic':
      return { verbosity: 0, errorsOnly: true };
  }
  if (/^\d+$/.test(level) && Number(level) > 0) return { verbosity: Number(level), errorsOnly: false };
  throw new FlagError(
    `invalid value "${level}" for --zap-log-level: want debug, info, error, panic or an integer > 0`,
  );
}

function logEncoding(devel: boolean, encoder: string): boolean {
  if (encoder === '') return !devel;
  if (encoder === 'json') return true;
  if (encoder === 'console') return false;
  throw new FlagError(`invalid value "${encoder}" for --zap-encoder: want json or console`);
}

function oneOf(flag: string, value: string, allowed: string[]): void {
  if (value !== '' && !allowed.includes(value.toLowerCase()))
    throw new FlagError(`invalid value "${value}" for --${flag}: want one of ${allowed.join(', ')}`);
}

function positive(flag: string, value: number): number {
  if (!(value > 0)) throw new FlagError(`--${flag} must be greater than 0`);
  return value;
}

export function parseConfig(argv: readonly string[], sources: ConfigSources): Command {
  const { values, warnings } = parseFlags(argv, FLAGS);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const env = sources.env;
  const devel = Boolean(values['zap-devel']);
  const { verbosity, errorsOnly } = logLevel(devel, String(values['zap-log-level']));
  oneOf('zap-stacktrace-level', String(values['zap-stacktrace-level']), ZAP_STACKTRACE_LEVELS);
  oneOf('zap-time-encoding', String(values['zap-time-encoding']), ZAP_TIME_ENCODINGS);

  const rotationPollIntervalMs = Number(values['rotation-poll-interval']);
  if (rotationPollIntervalMs < 0) throw new FlagError('--rotation-poll-interval must not be negative');
  const maxCallRecvMsgSize = positive('max-call-recv-msg-size', Number(values['max-call-recv-msg-size']));
  const providerTimeoutMs = positive('provider-timeout', Number(values['provider-timeout']));
  const maxConcurrentReconciles = positive(
    'max-concurrent-reconciles',
    Number(values['max-concurrent-reconciles']),
  );

  const restartOnRotation = values['restart-on-rotation']
    ? Object.freeze({ delayMs: Number(values['restart-on-rotation-delay']) })
    : undefined;

  let leaderElection: LeaderElectionConfig | undefined;
  if (values['leader-elect']) {
    const namespace =
      String(values['leader-election-namespace']) ||
      sources.serviceAccountNamespace() ||
      env.SYNC_CONTROLLER_POD_NAMESPACE ||
      '';
    if (!namespace) throw new FlagError('not running in-cluster, please specify --leader-election-namespace');
    const leaseDurationMs = positive(
      'leader-elect-lease-duration',
      Number(values['leader-elect-lease-duration']),
    );
    const renewDeadlineMs = positive(
      'leader-elect-renew-deadline',
      Number(values['leader-elect-renew-deadline']),
    );
    const retryPeriodMs = positive('leader-elect-retry-period', Number(values['leader-elect-retry-period']));
    // client-go's own checks: a leader must give up before a standby may take over.
    if (renewDeadlineMs >= leaseDurationMs)
      throw new FlagError('--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline');
    if (retryPeriodMs >= renewDeadlineMs)
      throw new FlagError('--leader-elect-renew-deadline must be greater than --leader-elect-retry-period');
    const podName = env.SYNC_CONTROLLER_POD_NAME || sources.hostname();
    leaderElection = Object.freeze({
      namespace,
      identity: `${podName}_${sources.random()}`,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    });
  }

  const config: SyncControllerConfig = {
    providerVolume: String(values['provider-volume']),
    tokenAudiences: Object.freeze(
      String(values['token-request-audience'])
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== ''),
    ),
    healthProbeAddress: listenAddress(String(values['health-probe-bind-address'])),
    metricsAddress: listenAddress(String(values['metrics-bind-address'])),
    leaderElection,
    rotationPollIntervalMs,
    maxCallRecvMsgSize,
    providerTimeoutMs,
    maxConcurrentReconciles,
    restartOnRotation,
    // controller-runtime's order: the flag, then $KUBECONFIG (its first file), then in-cluster.
    kubeconfig: String(values.kubeconfig) || env.KUBECONFIG?.split(':')[0] || undefined,
    logJson: logEncoding(devel, String(values['zap-encoder'])),
    verbosity,
    errorsOnly,
    pod: { name: env.SYNC_CONTROLLER_POD_NAME ?? '', uid: env.SYNC_CONTROLLER_POD_UID ?? '' },
    inCluster: { host: env.KUBERNETES_SERVICE_HOST, port: env.KUBERNETES_SERVICE_PORT },
  };
  return { kind: 'run', config: Object.freeze(config), warnings };
}
