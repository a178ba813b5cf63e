// The programs' plain-HTTP endpoints (/metrics, /healthz, the sync controller's probes): one small
// server that answers GETs by path, on an address given as a flag.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Parses `host:port`, `:port` (all interfaces, as upstream) or `[v6]:port`. */
export function parseListenAddress(addr: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!match) throw new Error(`invalid listen address "${addr}": want host:port or :port`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`invalid listen address "${addr}": port out of range`);
  const host = match[1] ?? match[2];
  return { host: host ? host : undefined, port };
}

export interface HttpEndpoint {
  /** Where it listens, with the real port when 0 was asked for. */
  readonly address: string;
  close(): Promise<void>;
}

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

/**
 * Serves `answer(path)` (the query left out); a path it has no answer for is a 404, and an answer
 * that fails a 500 without a body.
 */
export async function serveHttp(
  listenAddress: string,
  answer: (path: string) => HttpAnswer | undefined | Promise<HttpAnswer | undefined>,
): Promise<HttpEndpoint> {
  const { host, port } = parseListenAddress(listenAddress);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    Promise.resolve()
      .then(() => answer(path))
      .then(
        (found) => {
          if (!found) {
            res.writeHead(404);
            res.end();
            return;
          }
          res.writeHead(found.status, { 'Content-Type': found.contentType });
          res.end(found.body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
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
