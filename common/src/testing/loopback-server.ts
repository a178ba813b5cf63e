// For unit tests: a real HTTP server on 127.0.0.1 (an API server, an agent, an AWS endpoint
// stand-in), on a free port, closed with whatever connections it still holds open.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoopbackServer {
  readonly server: http.Server;
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens with `handler` (none: requests are held open, never answered). */
export async function serveOnLoopback(handler?: http.RequestListener): Promise<LoopbackServer> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A URL nothing listens on: a port that was free a moment ago. */
export async function closedLoopbackUrl(): Promise<string> {
  const { url, close } = await serveOnLoopback();
  await close();
  return url;
}
