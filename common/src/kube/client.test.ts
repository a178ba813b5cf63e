import { describeKubeFailure, Status, statusOfKubeFailure } from '../status-error';
import { type LoopbackServer, serveOnLoopback } from '../testing/loopback-server';
import { KubeClient } from './client';

/** A KubeClient without throttling, against the API server on loopback. */
function clientOf(server: LoopbackServer): KubeClient {
  return new KubeClient({ server: server.url }, { qps: 0 });
}

describe('KubeClient', () => {
  describe('an API server that takes the request and never answers', () => {
    let server: LoopbackServer;
    let client: KubeClient;
    const received: string[] = [];

    beforeAll(async () => {
      // Holds every request open: no status line, no body, the connection stays up.
      server = await serveOnLoopback((req) => received.push(`${req.method} ${req.url}`));
      client = clientOf(server);
    });

    afterAll(async () => {
      client.close();
      await server.close();
    });

    it('fails the request as timed out, which callers answer with DEADLINE_EXCEEDED', async () => {
      const err = (await client
        .get('/api/v1/namespaces/default/pods/p', { timeoutMs: 500 })
        .catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(received).toContain('GET /api/v1/namespaces/default/pods/p');
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toBe(
        'GET /api/v1/namespaces/default/pods/p: no answer from the API server within 500 ms',
      );
      expect(err.code).toBe('ETIMEDOUT');
      expect(statusOfKubeFailure(err)).toBe(Status.DEADLINE_EXCEEDED);
      expect(describeKubeFailure(err)).toMatch(/^the API server is unreachable: GET .*within 500 ms$/);
    });
  });

  describe('connections to the API server', () => {
    let server: LoopbackServer;
    let client: KubeClient;
    let connections = 0;
    let open = 0;
    let mostOpen = 0;

    beforeAll(async () => {
      // /hang never answers; /watch streams nothing and stays open; anything else answers `{}` once
      // the request after it arrived or 20 ms passed, so that requests overlap.
      server = await serveOnLoopback((req, res) => {
        if (req.url?.startsWith('/hang')) return;
        if (req.url?.includes('watch=true')) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.flushHeaders();
          return;
        }
        setTimeout(() => res.end('{}'), 20);
      });
      server.server.on('connection', (socket) => {
        connections++;
        open++;
        mostOpen = Math.max(mostOpen, open);
        socket.on('close', () => open--);
      });
      client = clientOf(server);
    });

    afterAll(async () => {
      client.close();
      await server.close();
    });

    it('serves 110 requests at once over a few kept connections, every one answered', async () => {
      const before = connections;
      const answers = await Promise.all(
        Array.from({ length: 110 }, (_, i) => client.get<object>(`/api/v1/namespaces/ns/pods/p${i}`)),
      );
      expect(answers).toHaveLength(110);
      expect(answers.every((a) => JSON.stringify(a) === '{}')).toBe(true);
      expect(connections - before).toBeGreaterThan(0);
      expect(connections - before).toBeLessThanOrEqual(8);
      expect(mostOpen).toBeLessThanOrEqual(8);
    });

    it("keeps watches off the requests' connections: ten open watches do not hold a request back", async () => {
      const stop = new AbortController();
      const watches = Array.from({ length: 10 }, (_, i) =>
        client.watch(`/api/v1/namespaces/ns${i}/pods`, {}, () => undefined, stop.signal),
      );
      await expect(client.get('/api/v1/namespaces/ns/pods/after-watches')).resolves.toEqual({});
      stop.abort();
      await Promise.all(watches);
    });

    it('frees the connection of a request that timed out: requests behind hung ones still get through', async () => {
      const hung = Array.from({ length: 8 }, (_, i) =>
        client.get<never>(`/hang/${i}`, { timeoutMs: 100 }).catch((e: unknown) => e as NodeJS.ErrnoException),
      );
      await expect(client.get('/api/v1/namespaces/ns/pods/behind-hung')).resolves.toEqual({});
      for (const err of await Promise.all(hung)) expect(err.code).toBe('ETIMEDOUT');
    });

    /** Eight requests that hold every request connection until `stop` aborts them. */
    function holdAllConnections(stop: AbortController) {
      let settled = 0;
      const hung = Array.from({ length: 8 }, (_, i) =>
        client
          .get<never>(`/hang/held-${i}`, { timeoutMs: 60_000, signal: stop.signal })
          .catch(() => undefined)
          .finally(() => settled++),
      );
      return { settledCount: () => settled, done: () => Promise.all(hung) };
    }

    it('times a request out while it still waits for a connection, not only once it has one', async () => {
      const stop = new AbortController();
      const held = holdAllConnections(stop);
      const err = (await client
        .get('/api/v1/namespaces/ns/pods/queued', { timeoutMs: 100 })
        .catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err.code).toBe('ETIMEDOUT');
      expect(err.message).toBe(
        'GET /api/v1/namespaces/ns/pods/queued: no answer from the API server within 100 ms',
      );
      expect(held.settledCount()).toBe(0);
      stop.abort();
      await held.done();
    });

    it('ends a request aborted while it waits for a connection at once', async () => {
      const stop = new AbortController();
      const held = holdAllConnections(stop);
      const cancel = new AbortController();
      const queued = client
        .get<never>('/api/v1/namespaces/ns/pods/cancelled', { signal: cancel.signal })
        .catch((e: unknown) => e as Error);
      cancel.abort();
      expect((await queued).name).toBe('AbortError');
      expect(held.settledCount()).toBe(0);
      stop.abort();
      await held.done();
      await expect(client.get('/api/v1/namespaces/ns/pods/after-cancel')).resolves.toEqual({});
    });
  });
});
