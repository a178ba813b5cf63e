// The one metrics module: a prom-client registry with the process's own metrics, served over HTTP.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** A counter of the process's Kubernetes API requests by verb; pass `inc` as KubeClient's onRequest. */
export function kubeRequestCounter(registry: Registry): (verb: string) => void {
  const counter = new Counter({
    name: 'kubernetes_api_requests_total',
    help: 'Requests this process sent to the Kubernetes API server, by verb (WATCH for each watch started)',
    labelNames: ['verb'],
    registers: [registry],
  });
  return (verb) => counter.inc({ verb });
}

/** Parses `host:port`, `:port` (all interfaces, as upstream) or `[v6]:port`. */
export function parseListenAddress(addr: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!match) throw new Error(`invalid listen address "${addr}": want host:port or :port`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`invalid listen address "${addr}": port out of range`);
  const host = match[1] ?? match[2];
  return { host: host ? host : undefined, port };
}

export interface MetricsServer {
  /** Where it listens, with the real port when 0 was asked for. */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` from the registry, and `/healthz` answered by `healthy` (200 or 503).
 */
export async function serveMetrics(
  registry: Registry,
  listenAddress: string,
  healthy: () => boolean | Promise<boolean> = () => true,
): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(listenAddress);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const respond = async () => {
      if (path === '/metrics') {
        const body = await registry.metrics();
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(body);
      } else if (path === '/healthz') {
        const ok = await healthy();
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(ok ? 'ok' : 'not ready');
      } else {
        res.writeHead(404);
        res.end();
      }
    };
    respond().catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const info = server.address() as AddressInfo;
  const shownHost = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  return {
    address: `${shownHost}:${info.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
