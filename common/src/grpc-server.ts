// gRPC servers on Unix sockets: stale sockets removed at start, graceful drain on stop.
import * as grpc from '@grpc/grpc-js';
import fs from 'node:fs';
import path from 'node:path';

/**
 * `unix:///tmp/csi.sock`, `unix://tmp/csi.sock` (upstream's default spelling, relative to `/`),
 * `unix:/tmp/csi.sock` or a bare absolute path -> `/tmp/csi.sock`.
 */
export function socketPathFromEndpoint(endpoint: string): string {
  const rest = endpoint.startsWith('unix://')
    ? endpoint.slice(7)
    : endpoint.startsWith('unix:')
      ? endpoint.slice(5)
      : endpoint;
  const absolute = endpoint.startsWith('unix://') && !rest.startsWith('/') ? `/${rest}` : rest;
  if (absolute.startsWith('/') && absolute.length > 1) return path.normalize(absolute);
  throw new Error(`unsupported endpoint "${endpoint}": want unix:///absolute/path.sock`);
}

/**
 * Removes a socket left by an earlier process. Anything else at that path (a file, a folder) is an
 * error: we never delete what we did not create.
 */
export function removeStaleSocket(socketPath: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  fs.unlinkSync(socketPath);
}

/** Binds `server` to a Unix socket at `socketPath`, creating its folder if needed. */
export async function listenOnSocket(server: grpc.Server, socketPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

/**
 * Stops accepting calls, lets running calls finish for up to `graceMs`, then cancels the rest; and
 * removes the socket file so that no stale socket stays behind.
 */
export async function drainServer(
  server: grpc.Server,
  socketPath: string | undefined,
  graceMs: number,
): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  if (socketPath) {
    try {
      removeStaleSocket(socketPath);
    } catch {
      // Something else took the path meanwhile; leave it alone.
    }
  }
}
