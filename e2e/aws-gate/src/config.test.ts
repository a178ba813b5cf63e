import { FlagError } from '@sscsi/common';

import { parseAddresses, parseConfig } from './config';

describe('parseConfig', () => {
  it("reads lab.sh's command line", () => {
    const config = parseConfig([
      '--listen',
      '0.0.0.0:15000',
      '--agent-listen',
      '0.0.0.0:15023,[::1]:15023',
      '--upstream',
      'http://127.0.0.1:15001',
      '--kubeconfig',
      '/lab/kubeconfig',
      '--issuer',
      'https://kubernetes.default.svc/',
      '--cluster-name',
      'lab',
      '--cluster-region',
      'ap-northeast-1',
      '--cache-ttl=2s',
    ]);
    expect(config).toMatchObject({
      listen: [{ host: '0.0.0.0', port: 15000 }],
      agentListen: [
        { host: '0.0.0.0', port: 15023 },
        { host: '::1', port: 15023 },
      ],
      upstream: 'http://127.0.0.1:15001',
      issuer: 'https://kubernetes.default.svc',
      account: '123456789012',
      root: { accessKeyId: 'lab', secretAccessKey: 'lab' },
      clusterRegion: 'ap-northeast-1',
      cacheTtlMs: 2000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['no kubeconfig', [], /--kubeconfig is required/],
    ['a bad account', ['--kubeconfig=k', '--account=12'], /--account must be 12 digits/],
    [
      'an issuer that is not https',
      ['--kubeconfig=k', '--issuer=http://x'],
      /--issuer must be an https:\/\/ URL/,
    ],
    ['a bad upstream', ['--kubeconfig=k', '--upstream=nope'], /--upstream "nope" is not a URL/],
    ['a bad address', ['--kubeconfig=k', '--listen=15000'], /--listen: "15000" is not host:port/],
    ['an unknown flag', ['--kubeconfig=k', '--nope'], /unknown flag --nope/],
  ])('refuses %s, naming the flag', (_name, argv, message) => {
    expect(() => parseConfig(argv)).toThrow(FlagError);
    expect(() => parseConfig(argv)).toThrow(message);
  });

  it('reads IPv4, IPv6 and host names', () => {
    expect(parseAddresses('127.0.0.1:1, [fd00::23]:80,localhost:2', 'x')).toEqual([
      { host: '127.0.0.1', port: 1 },
      { host: 'fd00::23', port: 80 },
      { host: 'localhost', port: 2 },
    ]);
  });
});
