import fs from 'node:fs';
import path from 'node:path';

import { Registry } from 'prom-client';

import type * as AwsClientsModule from './aws-clients';
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
