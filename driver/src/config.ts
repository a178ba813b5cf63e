// The driver's configuration: upstream's flag names and defaults, parsed once into a frozen value.
// Nothing else in the driver reads flags or the environment.
import type { Command as ProgramCommand, FlagSpec } from '@sscsi/common';
import {
  FlagError,
  KLOG_FLAGS,
  LOG_FLAGS,
  parseFlags,
  PROGRAM_FLAGS,
  PROVIDER_CALL_FLAGS,
  socketPathFromEndpoint,
} from '@sscsi/common';

export const FLAGS = {
  endpoint: { kind: 'string', default: 'unix:///tmp/csi.sock', help: 'CSI endpoint (a Unix socket)' },
  drivername: { kind: 'string', default: 'secrets-store.csi.k8s.io', help: 'name of the driver' },
  nodeid: {
    kind: 'string',
    default: '',
    help: 'node id (required): the name of the node this driver serves',
  },
  ...LOG_FLAGS,
  'provider-volume': {
    kind: 'string',
    default: '/var/run/secrets-store-csi-providers',
    help: "folder holding the providers' sockets (<provider>.sock)",
  },
  'additional-provider-volume-paths': {
    kind: 'string',
    default: '/etc/kubernetes/secrets-store-csi-providers',
    help: 'comma-separated folders searched for provider sockets before --provider-volume',
  },
  'metrics-addr': { kind: 'string', default: ':8095', help: 'address of the Prometheus /metrics endpoint' },
  'enable-secret-rotation': {
    kind: 'bool',
    default: false,
    help: 'refresh mounted contents on kubelet republish',
  },
  'rotation-poll-interval': {
    kind: 'duration',
    default: 120_000,
    help: 'least time between two provider calls for one volume when rotating',
  },
  'provider-health-check': {
    kind: 'bool',
    default: false,
    help: "call each provider's Version periodically",
  },
  'provider-health-check-interval': {
    kind: 'duration',
    default: 120_000,
    help: 'provider health check interval',
  },
  ...PROVIDER_CALL_FLAGS,
  ...PROGRAM_FLAGS,
  'metrics-backend': {
    kind: 'string',
    default: 'Prometheus',
    help: 'metrics backend; Prometheus is the only one, as upstream',
  },
  'enable-pprof': { kind: 'bool', default: false, help: 'Go profiling (no effect here)', ignored: true },
  'pprof-port': { kind: 'int', default: 6065, help: 'Go profiling port (no effect here)', ignored: true },
  ...KLOG_FLAGS,
} satisfies Record<string, FlagSpec>;

export interface DriverConfig {
  socketPath: string;
  driverName: string;
  nodeId: string;
  logJson: boolean;
  verbosity: number;
  /** Folders searched for `<provider>.sock`, in order. */
  providerPaths: readonly string[];
  metricsAddress: string;
  rotationEnabled: boolean;
  rotationPollIntervalMs: number;
  providerHealthCheck: boolean;
  providerHealthCheckIntervalMs: number;
  maxCallRecvMsgSize: number;
  kubeconfig: string | undefined;
  /** In-cluster API server address, from the environment the kubelet gives the pod. */
  inCluster: { host: string | undefined; port: string | undefined };
}

export type Command = ProgramCommand<DriverConfig>;

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  const { values, warnings } = parseFlags(argv, FLAGS);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const nodeId = String(values.nodeid);
  if (!nodeId)
    throw new FlagError('--nodeid is required: pass the node name (spec.nodeName in the DaemonSet)');
  const rotationPollIntervalMs = Number(values['rotation-poll-interval']);
  if (rotationPollIntervalMs <= 0) throw new FlagError('--rotation-poll-interval must be greater than 0');
  const healthInterval = Number(values['provider-health-check-interval']);
  if (values['provider-health-check'] && healthInterval <= 0) {
    throw new FlagError('--provider-health-check-interval must be greater than 0');
  }
  const metricsBackend = String(values['metrics-backend']);
  if (metricsBackend.toLowerCase() !== 'prometheus')
    throw new FlagError(`unsupported --metrics-backend "${metricsBackend}": only prometheus is served`);
  const maxCallRecvMsgSize = Number(values['max-call-recv-msg-size']);
  if (maxCallRecvMsgSize <= 0) throw new FlagError('--max-call-recv-msg-size must be greater than 0');
  const additional = String(values['additional-provider-volume-paths'])
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const config: DriverConfig = {
    socketPath: socketPathFromEndpoint(String(values.endpoint)),
    driverName: String(values.drivername),
    nodeId,
    logJson: Boolean(values['log-format-json']),
    verbosity: Number(values.v),
    providerPaths: Object.freeze([...additional, String(values['provider-volume'])]),
    metricsAddress: String(values['metrics-addr']),
    rotationEnabled: Boolean(values['enable-secret-rotation']),
    rotationPollIntervalMs,
    providerHealthCheck: Boolean(values['provider-health-check']),
    providerHealthCheckIntervalMs: healthInterval,
    maxCallRecvMsgSize,
    kubeconfig: String(values.kubeconfig) || undefined,
    inCluster: { host: env.KUBERNETES_SERVICE_HOST, port: env.KUBERNETES_SERVICE_PORT },
  };
  return { kind: 'run', config: Object.freeze(config), warnings };
}
