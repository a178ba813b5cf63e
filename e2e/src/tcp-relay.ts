// A TCP relay a test puts between a pod and a service, to cut that one service off as a network
// would: passing connections through, refusing them (nothing listens: connection refused, and the
// connections open are reset), or holding them unanswered (a black hole: the client's own timeouts
// are all that end its calls). Connections held by the black hole stay held when the relay opens
// again, as a real network's hung connections do.
import net from 'node:net';

export type RelayMode = 'open' | 'refuse' | 'blackhole';

export interface RelayOptions {
  /** Where connections go in `open` mode. */
  target: { host: string; port: number };
  /** Where the relay listens; port 0 picks one, kept across modes. */
  listen: { host: string; port: number };
}

export class TcpRelay {
  private server?: net.Server;
  private mode: RelayMode = 'open';
  private port: number;
  /** Open connections, with their upstream side when passed through. */
  private readonly sockets = new Set<net.Socket>();
  private readonly held = new Set<net.Socket>();
  /** Connections accepted, by what was done with them. */
  readonly accepted = { passed: 0, held: 0 };

  constructor(private readonly o: RelayOptions) {
    this.port = o.listen.port;
  }

  /** Starts listening (open mode); resolves with the port. */
  async start(): Promise<number> {
    await this.listen();
    return this.port;
  }

  get currentMode(): RelayMode {
    return this.mode;
  }

  async setMode(mode: RelayMode): Promise<void> {
    if (mode === this.mode) return;
    const was = this.mode;
    this.mode = mode;
    if (mode === 'refuse') {
      await this.closeAll();
      return;
    }
    if (was === 'refuse') await this.listen();
  }

  /** Stops listening and ends every connection. */
  async stop(): Promise<void> {
    this.mode = 'refuse';
    await this.closeAll();
  }

  private listen(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.o.listen.host, () => {
        server.off('error', reject);
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stops listening and resets every connection (a server waits for them before it is closed). */
  private closeAll(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of [...this.sockets, ...this.held]) s.destroy();
    this.sockets.clear();
    this.held.clear();
    return closed;
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => undefined);
    if (this.mode === 'blackhole') {
      this.accepted.held++;
      this.held.add(socket);
      socket.on('close', () => this.held.delete(socket));
      // Read and drop: the client's request is taken, no answer ever comes.
      socket.resume();
      return;
    }
    this.accepted.passed++;
    const upstream = net.connect(this.o.target.port, this.o.target.host);
    upstream.on('error', () => socket.destroy());
    this.sockets.add(socket);
    this.sockets.add(upstream);
    const forget = () => {
      this.sockets.delete(socket);
      this.sockets.delete(upstream);
      socket.destroy();
      upstream.destroy();
    };
    socket.on('close', forget);
    upstream.on('close', forget);
    socket.pipe(upstream);
    upstream.pipe(socket);
  }
}
