// The one metrics module: a prom-client registry with the process's own metrics, served over HTTP.
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

import { type HttpEndpoint, serveHttp } from './http-endpoint';

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

export type MetricsServer = HttpEndpoint;

/**
 * Serves `/metrics` from the registry, and `/healthz` answered by `healthy` (200 or 503).
 */
export function serveMetrics(
  registry: Registry,
  listenAddress: string,
  healthy: () => boolean | Promise<boolean> = () => true,
): Promise<MetricsServer> {
  return serveHttp(listenAddress, async (path) => {
    if (path === '/metrics')
      return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
    if (path === '/healthz') {
      const ok = await healthy();
      return { status: ok ? 200 : 503, contentType: 'text/plain', body: ok ? 'ok' : 'not ready' };
    }
    return undefined;
  });
}
