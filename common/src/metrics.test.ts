import { Registry } from 'prom-client';

import {
  counter,
  createRegistry,
  gauge,
  histogram,
  kubeRequestCounter,
  registerMetrics,
  serveMetrics,
} from './metrics';

describe('registerMetrics', () => {
  it('makes each metric in the registry as declared, a read gauge read at each scrape', async () => {
    const registry = new Registry();
    let depth = 3;
    const m = registerMetrics(registry, {
      calls: counter('calls_total', 'Calls by verb', ['verb']),
      time: histogram('call_seconds', 'Call time', ['verb'], [0.1, 1]),
      health: gauge('health', 'Health by provider', ['provider']),
      depth: gauge('depth', 'Queue depth', [], (g) => g.set(depth)),
    });
    m.calls.inc({ verb: 'GET' });
    m.time.observe({ verb: 'GET' }, 0.5);
    m.health.set({ provider: 'aws' }, 1);
    depth = 7;
    expect(await registry.metrics()).toBe(
      [
        '# HELP calls_total Calls by verb',
        '# TYPE calls_total counter',
        'calls_total{verb="GET"} 1',
        '',
        '# HELP call_seconds Call time',
        '# TYPE call_seconds histogram',
        'call_seconds_bucket{le="0.1",verb="GET"} 0',
        'call_seconds_bucket{le="1",verb="GET"} 1',
        'call_seconds_bucket{le="+Inf",verb="GET"} 1',
        'call_seconds_sum{verb="GET"} 0.5',
        'call_seconds_count{verb="GET"} 1',
        '',
        '# HELP health Health by provider',
        '# TYPE health gauge',
        'health{provider="aws"} 1',
        '',
        '# HELP depth Queue depth',
        '# TYPE depth gauge',
        'depth 7',
        '',
      ].join('\n'),
    );
  });

  it('refuses a name the registry already has', () => {
    const registry = new Registry();
    registerMetrics(registry, { a: counter('twice_total', 'first') });
    expect(() => registerMetrics(registry, { b: counter('twice_total', 'second') })).toThrow(/twice_total/);
  });
});

describe('serveMetrics', () => {
  it('serves the registry at /metrics and the health at /healthz, nothing else', async () => {
    const registry = createRegistry();
    kubeRequestCounter(registry)('GET');
    let healthy: () => boolean = () => true;
    const server = await serveMetrics(registry, '127.0.0.1:0', () => healthy());
    const get = async (path: string) => {
      const res = await fetch(`http://${server.address}${path}`);
      return [res.status, await res.text()] as const;
    };
    try {
      const [status, body] = await get('/metrics?x=1');
      expect(status).toBe(200);
      expect(body).toContain('kubernetes_api_requests_total{verb="GET"} 1');
      expect(await get('/healthz')).toEqual([200, 'ok']);
      healthy = () => false;
      expect(await get('/healthz')).toEqual([503, 'not ready']);
      healthy = () => {
        throw new Error('the check failed');
      };
      expect(await get('/healthz')).toEqual([500, '']);
      expect(await get('/other')).toEqual([404, '']);
    } finally {
      await server.close();
    }
  });
});
