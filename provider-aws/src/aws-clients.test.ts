import { AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import fs from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { Registry } from 'prom-client';

import { AwsClients } from './aws-clients';
import type * as AwsClientsModule from './aws-clients';
import { ProviderMetrics } from './metrics';
import type * as MetricsModule from './metrics';

const credentials = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'not-a-secret', sessionToken: 'session' };

/** The provider's own modules that main.ts wires together, as main.ts names them. */
function modulesMainImports(): string[] {
  const main = fs.readFileSync(path.join(__dirname, 'main.ts'), 'utf8');
  return [...main.matchAll(/from '(\.\/[^']+)'/g)].map((m) => m[1] as string);
}

describe('the SSM package', () => {
  it('is loaded by the first SSM client, not by the process or its Secrets Manager mounts', () => {
    const loads: string[] = [];
    jest.isolateModules(() => {
      jest.doMock('@aws-sdk/client-ssm', () => {
        loads.push('@aws-sdk/client-ssm');
        return jest.requireActual<object>('@aws-sdk/client-ssm');
      });
      expect(fs.readFileSync(path.join(__dirname, 'main.ts'), 'utf8')).not.toContain('@aws-sdk/client-ssm');
      const wired = modulesMainImports();
      expect(wired).toEqual(expect.arrayContaining(['./aws-clients', './mount', './fetch/shared-answers']));
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- inside isolateModules
      for (const m of wired) require(m);
      expect(loads).toEqual([]);

      // eslint-disable-next-line @typescript-eslint/no-require-imports -- inside isolateModules
      const { AwsClients } = require('./aws-clients') as typeof AwsClientsModule;
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- inside isolateModules
      const { ProviderMetrics } = require('./metrics') as typeof MetricsModule;
      const clients = new AwsClients({
        userAgent: 'test',
        metrics: new ProviderMetrics(new Registry()),
        maxAttempts: 1,
      });
      try {
        clients.secretsManager('us-east-1', credentials);
        clients.sts('us-east-1');
        expect(loads).toEqual([]);

        const first = clients.ssm('us-east-1', credentials);
        const again = clients.ssm('eu-west-1', credentials);
        expect(first.config.serviceId).toBe('SSM');
        expect(again).not.toBe(first);
        expect(loads).toEqual(['@aws-sdk/client-ssm']);
      } finally {
        clients.destroy();
      }
    });
  });
});

describe('an AWS endpoint that accepts connections and never answers', () => {
  const saved = process.env.AWS_ENDPOINT_URL;
  let server: net.Server;
  const sockets: net.Socket[] = [];

  beforeAll(async () => {
    // Each connection held open and silent, as a firewall or NAT that drops traffic after the handshake.
    server = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
    else process.env.AWS_ENDPOINT_URL = saved;
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails each attempt after the idle timeout and retries, instead of waiting forever', async () => {
    const clients = new AwsClients({
      userAgent: 'test',
      metrics: new ProviderMetrics(new Registry()),
      maxAttempts: 2,
      idleTimeoutMs: 300,
    });
    try {
      const call = clients.sts('us-east-1').send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: 'arn:aws:iam::1:role/r',
          RoleSessionName: 's',
          WebIdentityToken: 't',
        }),
      );
      await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
      // Both attempts reached the endpoint: the first one's timeout was retried.
      expect(sockets).toHaveLength(2);
    } finally {
      clients.destroy();
    }
  }, 20_000);
});
