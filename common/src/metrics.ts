// The one metrics module: a prom-client registry with the process's own metrics, served over HTTP.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import { type HttpEndpoint, serveHttp } from './http-endpoint';

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** One metric as dashboards know it (name, help, labels, buckets), made in a registry on demand. */
export interface MetricSpec<M> {
  create(registry: Registry): M;
}

export function counter<L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): MetricSpec<Counter<L>> {
  return { create: (registry) => new Counter({ name, help, labelNames, registers: [registry] }) };
}

export function histogram<L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: readonly number[],
): MetricSpec<Histogram<L>> {
  return {
    create: (registry) =>
      new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [registry] }),
  };
}

/** A gauge set by its program, or, with `read`, read at each scrape. */
export function gauge<L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  read?: (gauge: Gauge<L>) => void,
): MetricSpec<Gauge<L>> {
  return {
    create: (registry) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        ...(read && {
          collect(this: Gauge<L>) {
            read(this);
          },
        }),
      }),
  };
}

/** The metrics made from `S`'s specs, by the same keys. */
export type RegisteredMetrics<S> = { readonly [K in keyof S]: S[K] extends MetricSpec<infer M> ? M : never };

/** Makes each metric of `specs` in the registry, in their order: the program's metrics, by its names. */
export function registerMetrics<S extends Record<string, MetricSpec<unknown>>>(
  registry: Registry,
  specs: S,
): RegisteredMetrics<S> {
  const entries = Object.entries(specs).map(([key, spec]) => [key, spec.create(registry)]);
  return Object.fromEntries(entries) as RegisteredMetrics<S>;
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
