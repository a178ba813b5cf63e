// The health probes on --health-probe-bind-address (plain HTTP), at controller-runtime's paths:
// /healthz (and /healthz/healthz) answers while the process serves; /readyz (and /readyz/readyz)
// once the informers have filled their caches. Upstream's /readyz is a plain ping; ours says
// whether this replica could reconcile (a replica that cannot reach the API server is not ready).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { parseListenAddress } from '@sscsi/common';

export interface ProbeServer {
  readonly address: string;
  close(): Promise<void>;
}

export async function serveProbes(listenAddress: string, ready: () => boolean): Promise<ProbeServer> {
  const { host, port } = parseListenAddress(listenAddress);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (ok: boolean, failure: string) => {
      res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(ok ? 'ok' : failure);
    };
    if (path === '/healthz' || path === '/healthz/healthz') return answer(true, '');
    if (path === '/readyz' || path === '/readyz/readyz')
      return answer(
        ready(),
        '[-]readyz failed: the SecretSync and SecretProviderClass caches are not filled yet',
      );
    res.writeHead(404);
    res.end();
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
