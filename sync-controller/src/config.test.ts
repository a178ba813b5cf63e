import { FlagError } from '@sscsi/common';

import type { ConfigSources } from './config';
import { parseConfig } from './config';

function sources(env: NodeJS.ProcessEnv = {}, saNamespace?: string): ConfigSources {
  return {
    env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443', ...env },
    serviceAccountNamespace: () => saNamespace,
    random: () => 'r4nd0m',
    hostname: () => 'host-1',
  };
}

function run(argv: string[], from: ConfigSources = sources()) {
  const command = parseConfig(argv, from);
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command.config;
}

describe('parseConfig', () => {
  it("has upstream's defaults, frozen", () => {
    const config = run([]);
    expect(config).toMatchObject({
      providerVolume: '/provider',
      tokenAudiences: [],
      healthProbeAddress: ':8081',
      metricsAddress: ':8085',
      leaderElection: undefined,
      rotationPollIntervalMs: 12 * 3600_000,
      maxCallRecvMsgSize: 4194304,
      providerTimeoutMs: 120_000,
      maxConcurrentReconciles: 4,
      restartOnRotation: undefined,
      kubeconfig: undefined,
      // zap's development mode, upstream's default: text lines at debug level.
      logJson: false,
      verbosity: 4,
      errorsOnly: false,
      pod: { name: '', uid: '' },
      inCluster: { host: '10.0.0.1', port: '443' },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tokenAudiences)).toBe(true);
  });

  it("starts with the arguments upstream's chart gives the manager, in Go's spellings", () => {
    const config = run(
      [
        '--provider-volume=/provider',
        '--token-request-audience=sts.amazonaws.com, api://x,,',
        '--health-probe-bind-address=:8081',
        '--metrics-bind-address=:8085',
        '--leader-elect',
        '-rotation-poll-interval=1h30m',
      ],
      sources(
        {
          SYNC_CONTROLLER_POD_NAME: 'ssc-abc',
          SYNC_CONTROLLER_POD_UID: 'pod-uid-1',
          SYNC_CONTROLLER_POD_NAMESPACE: 'env-ns',
        },
        'sa-ns',
      ),
    );
    // Trimmed and without blanks: upstream's chart joins audiences with ", " (its bug B7).
    expect(config.tokenAudiences).toEqual(['sts.amazonaws.com', 'api://x']);
    expect(config.rotationPollIntervalMs).toBe(5_400_000);
    expect(config.pod).toEqual({ name: 'ssc-abc', uid: 'pod-uid-1' });
    expect(config.leaderElection).toEqual({
      namespace: 'sa-ns',
      identity: 'ssc-abc_r4nd0m',
      leaseDurationMs: 10_000,
      renewDeadlineMs: 7_000,
      retryPeriodMs: 2_000,
    });
  });

  it('takes the Lease namespace from the flag, then the pod, then the environment', () => {
    const ns = (argv: string[], from: ConfigSources) => run(['--leader-elect', ...argv], from).leaderElection;
    expect(ns(['--leader-election-namespace=flag-ns'], sources({}, 'sa-ns'))?.namespace).toBe('flag-ns');
    expect(ns([], sources({ SYNC_CONTROLLER_POD_NAMESPACE: 'env-ns' }))?.namespace).toBe('env-ns');
    // Without a pod name, the host name (the pod's, in a cluster).
    expect(ns([], sources({}, 'sa-ns'))?.identity).toBe('host-1_r4nd0m');
    expect(() => ns([], sources())).toThrow(
      new FlagError('not running in-cluster, please specify --leader-election-namespace'),
    );
  });

  it('disables the probes, the metrics and the poll with 0', () => {
    const config = run([
      '--health-probe-bind-address=0',
      '--metrics-bind-address',
      '0',
      '--rotation-poll-interval=0s',
    ]);
    expect(config.healthProbeAddress).toBeUndefined();
    expect(config.metricsAddress).toBeUndefined();
    expect(config.rotationPollIntervalMs).toBe(0);
  });

  it.each([
    [[], false, 4, false],
    [['--zap-devel=false'], true, 0, false],
    [['--zap-encoder=json'], true, 4, false],
    [['--zap-devel=false', '--zap-encoder=console'], false, 0, false],
    [['--zap-log-level=info'], false, 0, false],
    [['--zap-log-level=debug', '--zap-devel=false'], true, 4, false],
    [['--zap-log-level=5'], false, 5, false],
    [['--zap-log-level=error'], false, 0, true],
    [['--zap-log-level=panic'], false, 0, true],
  ])('maps the zap flags %j to logging (json %s, verbosity %s, errors only %s)', (argv, json, v, errors) => {
    const config = run([...argv, '--zap-stacktrace-level=error', '--zap-time-encoding=iso8601']);
    expect([config.logJson, config.verbosity, config.errorsOnly]).toEqual([json, v, errors]);
  });

  it('reads our own flags', () => {
    const config = run([
      '--provider-timeout=30s',
      '--max-concurrent-reconciles=8',
      '--leader-elect',
      '--leader-election-namespace=ns',
      '--leader-elect-lease-duration=15s',
      '--leader-elect-renew-deadline=10s',
      '--leader-elect-retry-period=2s',
      '--max-call-recv-msg-size=1024',
      '--kubeconfig=/k',
    ]);
    expect(config.providerTimeoutMs).toBe(30_000);
    expect(config.maxConcurrentReconciles).toBe(8);
    expect(config.leaderElection?.leaseDurationMs).toBe(15_000);
    expect(config.leaderElection?.renewDeadlineMs).toBe(10_000);
    expect(config.maxCallRecvMsgSize).toBe(1024);
    expect(config.kubeconfig).toBe('/k');
  });

  it('restarts workloads on rotation only when asked, after 5 s unless told otherwise', () => {
    expect(run(['--restart-on-rotation']).restartOnRotation).toEqual({ delayMs: 5000 });
    expect(run(['--restart-on-rotation', '--restart-on-rotation-delay=500ms']).restartOnRotation).toEqual({
      delayMs: 500,
    });
    expect(run(['--restart-on-rotation-delay=1s']).restartOnRotation).toBeUndefined();
  });

  it.each([
    [['--zap-log-level=loud'], /--zap-log-level/],
    [['--zap-encoder=xml'], /--zap-encoder: want json or console/],
    [['--zap-stacktrace-level=warn'], /--zap-stacktrace-level/],
    [['--zap-time-encoding=unix'], /--zap-time-encoding/],
    [['--rotation-poll-interval=soon'], /--rotation-poll-interval/],
    [['--provider-timeout=0'], /--provider-timeout must be greater than 0/],
    [['--max-concurrent-reconciles=0'], /--max-concurrent-reconciles must be greater than 0/],
    [['--max-call-recv-msg-size=0'], /--max-call-recv-msg-size must be greater than 0/],
    [
      ['--leader-elect', '--leader-election-namespace=n', '--leader-elect-renew-deadline=10s'],
      /lease-duration must be greater than --leader-elect-renew-deadline/,
    ],
    [
      ['--leader-elect', '--leader-election-namespace=n', '--leader-elect-retry-period=7s'],
      /renew-deadline must be greater than --leader-elect-retry-period/,
    ],
    [['--restart-on-rotation-delay=soon'], /--restart-on-rotation-delay/],
    [['--v=2'], /unknown flag --v/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseConfig(argv, sources())).toThrow(message);
    expect(() => parseConfig(argv, sources())).toThrow(FlagError);
  });

  it('takes the kubeconfig from the flag, else from $KUBECONFIG, else runs in-cluster', () => {
    expect(run(['--kubeconfig=/flag'], sources({ KUBECONFIG: '/env' })).kubeconfig).toBe('/flag');
    expect(run([], sources({ KUBECONFIG: '/env:/other' })).kubeconfig).toBe('/env');
    expect(run([], sources()).kubeconfig).toBeUndefined();
  });

  it('answers --version and --help before anything else', () => {
    expect(parseConfig(['--version', '--leader-elect'], sources()).kind).toBe('version');
    expect(parseConfig(['-help'], sources()).kind).toBe('help');
  });
});
