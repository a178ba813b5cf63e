import { parseConfig } from './config';

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const command = parseConfig(argv, env);
  if (command.kind !== 'run') throw new Error(command.kind);
  return command.config;
}

describe('parseConfig', () => {
  it('has the defaults of the installer and upstream flag names', () => {
    const config = run([], { AWS_REGION: 'eu-central-1' });
    expect(config.socketPath).toBe('/var/run/secrets-store-csi-providers/aws.sock');
    expect(config.driverWritesSecrets).toBe(true);
    expect([config.qps, config.burst]).toEqual([5, 10]);
    expect(config.podIdentity).toEqual({
      ipv4Url: 'http://169.254.170.23/v1/credentials',
      ipv6Url: 'http://[fd00:ec2::23]/v1/credentials',
      timeoutMs: 1000,
    });
    expect(config.defaultRegion).toBe('eu-central-1');
    expect(config.valueCache).toEqual({ maxBytes: 4 * 1024 * 1024, idleMs: 15 * 60_000 });
    expect(config.sharedAnswersWindowMs).toBe(30_000);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads the flags the upstream chart passes', () => {
    const config = run([
      '--provider-volume=/etc/kubernetes/secrets-store-csi-providers/',
      '--driver-writes-secrets=false',
      '--qps=20',
      '--burst=40',
      '--pod-identity-http-timeout=250ms',
      '--eks-addon-version=v1.2.3-eksbuild.1',
    ]);
    expect(config.socketPath).toBe('/etc/kubernetes/secrets-store-csi-providers/aws.sock');
    expect(config.driverWritesSecrets).toBe(false);
    expect([config.qps, config.burst]).toEqual([20, 40]);
    expect(config.podIdentity.timeoutMs).toBe(250);
    expect(config.eksAddonVersion).toBe('v1.2.3-eksbuild.1');
  });

  it('treats an empty --pod-identity-http-timeout as the default, as the upstream chart renders it', () => {
    expect(run(['--pod-identity-http-timeout=']).podIdentity.timeoutMs).toBe(1000);
  });

  it('bounds the value cache as told', () => {
    const config = run(['--value-cache-max-bytes=0', '--value-cache-idle-timeout=1h']);
    expect(config.valueCache).toEqual({ maxBytes: 0, idleMs: 3_600_000 });
  });

  it('shares AWS answers for as long as told, or only calls in flight with 0s', () => {
    expect(run(['--shared-answers-window=10s']).sharedAnswersWindowMs).toBe(10_000);
    expect(run(['--shared-answers-window=0s']).sharedAnswersWindowMs).toBe(0);
  });

  it.each([
    [['--shared-answers-window=soon'], /shared-answers-window/],
    [['--value-cache-max-bytes=-1'], /--value-cache-max-bytes must be 0 or more/],
    [['--value-cache-idle-timeout=later'], /value-cache-idle-timeout/],
    [['--qps=0'], /--qps and --burst must be greater than 0/],
    [['--pod-identity-http-timeout=soon'], /pod-identity-http-timeout/],
    [['--pod-identity-agent-ipv4-url=ftp://x'], /must be an http URL/],
    [['--unknown'], /unknown flag --unknown/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseConfig(argv, {})).toThrow(message);
  });
});
