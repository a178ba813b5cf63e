import { FlagError } from '@sscsi/common';

import { parseConfig } from './config';

function run(argv: string[]) {
  const command = parseConfig(argv, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' });
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command.config;
}

describe('parseConfig', () => {
  it('has upstream defaults', () => {
    const config = run(['--nodeid=node-1']);
    expect(config.socketPath).toBe('/tmp/csi.sock');
    expect(config.driverName).toBe('secrets-store.csi.k8s.io');
    expect(config.providerPaths).toEqual([
      '/etc/kubernetes/secrets-store-csi-providers',
      '/var/run/secrets-store-csi-providers',
    ]);
    expect(config.metricsAddress).toBe(':8095');
    expect(config.rotationEnabled).toBe(false);
    expect(config.rotationPollIntervalMs).toBe(120_000);
    expect(config.maxCallRecvMsgSize).toBe(4194304);
    expect(config.inCluster).toEqual({ host: '10.0.0.1', port: '443' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads the flags the upstream chart passes, in Go flag spellings', () => {
    const config = run([
      '--endpoint=unix:///csi/csi.sock',
      '--nodeid',
      'node-2',
      '--provider-volume=/var/run/secrets-store-csi-providers',
      '--additional-provider-volume-paths=/a,/b',
      '--enable-secret-rotation=true',
      '--rotation-poll-interval=1m30s',
      '--provider-health-check',
      '--provider-health-check-interval=30s',
      '-v=5',
      '--log-format-json',
      '--metrics-addr=127.0.0.1:0',
      '--max-call-recv-msg-size=1024',
    ]);
    expect(config.socketPath).toBe('/csi/csi.sock');
    expect(config.nodeId).toBe('node-2');
    expect(config.providerPaths).toEqual(['/a', '/b', '/var/run/secrets-store-csi-providers']);
    expect(config.rotationEnabled).toBe(true);
    expect(config.rotationPollIntervalMs).toBe(90_000);
    expect(config.providerHealthCheckIntervalMs).toBe(30_000);
    expect(config.verbosity).toBe(5);
    expect(config.logJson).toBe(true);
    expect(config.maxCallRecvMsgSize).toBe(1024);
  });

  it('accepts upstream profiling flags with a warning', () => {
    const command = parseConfig(['--nodeid=n', '--enable-pprof=true', '--pprof-port=6065'], {});
    expect(command.kind === 'run' && command.warnings).toHaveLength(2);
  });

  it("starts with every argument upstream's chart and manifests give the driver", () => {
    // Upstream v1.6's DaemonSet arguments, klog's flags and the metrics backend, in their spellings.
    const command = parseConfig(
      [
        '-v=5',
        '--log-format-json=true',
        '--endpoint=unix:///csi/csi.sock',
        '--nodeid=node-1',
        '--provider-volume=/var/run/secrets-store-csi-providers',
        '--additional-provider-volume-paths=/etc/kubernetes/secrets-store-csi-providers',
        '--enable-secret-rotation=true',
        '--rotation-poll-interval=2m',
        '--metrics-addr=:8095',
        '--provider-health-check=true',
        '--provider-health-check-interval=2m',
        '--max-call-recv-msg-size=4194304',
        '--metrics-backend=Prometheus',
        '--logtostderr',
        '--stderrthreshold=2',
        '-vmodule=nodeserver=5',
        '--drivername=secrets-store.csi.k8s.io',
        '--kubeconfig=',
      ],
      {},
    );
    expect(command.kind).toBe('run');
    if (command.kind !== 'run') return;
    expect(command.config.verbosity).toBe(5);
    expect(command.config.rotationEnabled).toBe(true);
    expect(command.warnings).toEqual([
      'flag --logtostderr is accepted for compatibility and has no effect',
      'flag --stderrthreshold is accepted for compatibility and has no effect',
      'flag --vmodule is accepted for compatibility and has no effect',
    ]);
  });

  it('accepts the Prometheus metrics backend in any case, and refuses any other', () => {
    expect(parseConfig(['--nodeid=n', '--metrics-backend=prometheus'], {}).kind).toBe('run');
    expect(() => parseConfig(['--nodeid=n', '--metrics-backend=stackdriver'], {})).toThrow(
      /unsupported --metrics-backend "stackdriver": only prometheus/,
    );
  });

  it.each([
    [[], /--nodeid is required/],
    [['--nodeid=n', '--bogus'], /unknown flag --bogus/],
    [['--nodeid=n', '--rotation-poll-interval=soon'], /invalid value "soon" for --rotation-poll-interval/],
    [['--nodeid=n', '--enable-secret-rotation=maybe'], /want true or false/],
    [['--nodeid=n', '--endpoint=tcp://0.0.0.0:1'], /unsupported endpoint/],
    [['--nodeid'], /needs a value/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseConfig(argv, {})).toThrow(message);
  });

  it('prints the version instead of running', () => {
    expect(parseConfig(['--version'], {}).kind).toBe('version');
    expect(() => parseConfig(['--nodeid=n', '--max-call-recv-msg-size=0'], {})).toThrow(FlagError);
  });
});
