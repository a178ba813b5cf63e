import { serveProbes } from './probes';

describe('serveProbes', () => {
  it("answers /healthz always and /readyz once ready, at controller-runtime's paths", async () => {
    let ready = false;
    const server = await serveProbes('127.0.0.1:0', () => ready);
    const get = async (path: string) => {
      const res = await fetch(`http://${server.address}${path}`);
      return [res.status, await res.text()];
    };
    try {
      expect(await get('/healthz')).toEqual([200, 'ok']);
      expect(await get('/healthz/healthz')).toEqual([200, 'ok']);
      expect((await get('/readyz'))[0]).toBe(500);
      ready = true;
      expect(await get('/readyz')).toEqual([200, 'ok']);
      expect(await get('/readyz/readyz')).toEqual([200, 'ok']);
      expect((await get('/metrics'))[0]).toBe(404);
    } finally {
      await server.close();
    }
  });
});
