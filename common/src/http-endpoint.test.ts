import { parseListenAddress } from './http-endpoint';
import { createRegistry, kubeRequestCounter, serveMetrics } from './metrics';

describe('parseListenAddress', () => {
  it.each([
    [':8095', { host: undefined, port: 8095 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
  ])('reads %s', (addr, want) => {
    expect(parseListenAddress(addr)).toEqual(want);
  });

  it.each(['8095', 'host', ':70000', ':-1'])('refuses %s', (addr) => {
    expect(() => parseListenAddress(addr)).toThrow(`invalid listen address "${addr}"`);
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
