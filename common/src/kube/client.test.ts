import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { describeKubeFailure, Status, statusOfKubeFailure } from '../status-error';
import { KubeClient } from './client';

describe('KubeClient', () => {
  describe('an API server that takes the request and never answers', () => {
    let server: http.Server;
    let client: KubeClient;
    const received: string[] = [];

    beforeAll(async () => {
      // Holds every request open: no status line, no body, the connection stays up.
      server = http.createServer((req) => received.push(`${req.method} ${req.url}`));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      client = new KubeClient({ server: `http://127.0.0.1:${port}` }, { qps: 0 });
    });

    afterAll(async () => {
      client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('fails the request as timed out, which callers answer with DEADLINE_EXCEEDED', async () => {
      const err = (await client
        .get('/api/v1/namespaces/default/pods/p', { timeoutMs: 50 })
        .catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(received).toContain('GET /api/v1/namespaces/default/pods/p');
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toBe(
        'GET /api/v1/namespaces/default/pods/p: no answer from the API server within 50 ms',
      );
      expect(err.code).toBe('ETIMEDOUT');
      expect(statusOfKubeFailure(err)).toBe(Status.DEADLINE_EXCEEDED);
      expect(describeKubeFailure(err)).toMatch(/^the API server is unreachable: GET .*within 50 ms$/);
    });
  });
});
