// The driver's side of the provider API: finds `<provider>.sock`, keeps one connection per provider
// (re-dialled when the socket file is replaced), says hello with Version, and retries a call only
// while the provider is UNAVAILABLE (restarting), within the caller's deadline.
import * as grpc from '@grpc/grpc-js';
import type {
  CSIDriverProviderClient,
  MountRequest,
  MountResponse__Output,
  VersionResponse__Output,
} from '@sscsi/proto';
import { loadProvider, PROVIDER_API_VERSION } from '@sscsi/proto';
import type { Logger } from '@sscsi/common';
import { Status } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import { DriverError } from '../errors';

/** Upstream's rule for provider names; it also keeps names from walking out of the socket folders. */
const PROVIDER_NAME = /^[a-zA-Z0-9_-]{0,30}$/;

/** A Mount request with every field set (the proto type marks them all optional). */
export type MountCall = Required<MountRequest>;

/** What the node server needs from providers; small so unit tests can fake it. */
export interface ProviderGateway {
  mount(
    provider: string,
    call: MountCall,
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<MountResponse__Output>;
}

interface Connection {
  socketPath: string;
  /** `dev:ino` of the socket file when dialled; a new file means a restarted provider. */
  identity: string;
  client: CSIDriverProviderClient;
  greeted: boolean;
}

export interface ProviderClientsOptions {
  searchPaths: readonly string[];
  maxReceiveMessageSize: number;
  logger: Logger;
  /** First retry delay; doubles up to 2 s. */
  retryDelayMs?: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

function isServiceError(err: unknown): err is grpc.ServiceError {
  return typeof err === 'object' && err !== null && 'code' in err && 'details' in err;
}

export class ProviderClients implements ProviderGateway {
  private readonly connections = new Map<string, Connection>();
  private readonly ClientCtor = loadProvider().v1alpha1.CSIDriverProvider;
  private healthTimer?: NodeJS.Timeout;

  constructor(private readonly options: ProviderClientsOptions) {}

  /** The socket of `provider` in the first search folder that has one. */
  findSocket(provider: string): { socketPath: string; identity: string } | undefined {
    for (const dir of this.options.searchPaths) {
      const socketPath = path.join(dir, `${provider}.sock`);
      try {
        const stat = fs.statSync(socketPath);
        if (stat.isSocket()) return { socketPath, identity: `${stat.dev}:${stat.ino}` };
      } catch {
        // Not in this folder.
      }
    }
    return undefined;
  }

  private connection(provider: string): Connection {
    if (!PROVIDER_NAME.test(provider) || provider === '') {
      throw new DriverError(
        'FailedToLookupProviderGRPCClient',
        `invalid provider name "${provider}": want [a-zA-Z0-9_-]{1,30}`,
        {
          code: Status.INVALID_ARGUMENT,
        },
      );
    }
    const found = this.findSocket(provider);
    if (!found) {
      throw new DriverError(
        'FailedToLookupProviderGRPCClient',
        `provider "${provider}" not found: no ${provider}.sock in ${this.options.searchPaths.join(', ')}; is the provider installed on this node?`,
      );
    }
    const existing = this.connections.get(provider);
    if (existing && existing.socketPath === found.socketPath && existing.identity === found.identity)
      return existing;
    if (existing) {
      this.options.logger.info(
        { provider, socket: found.socketPath },
        'provider socket replaced; reconnecting',
      );
      existing.client.close();
    }
    const client = new this.ClientCtor(`unix://${found.socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': this.options.maxReceiveMessageSize,
      'grpc.default_authority': 'localhost',
      // The provider is local; a quick reconnect after it restarts matters more than backoff.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
    const connection: Connection = { ...found, client, greeted: false };
    this.connections.set(provider, connection);
    return connection;
  }

  /** Calls `fn` on the provider's connection, retrying on UNAVAILABLE until the deadline. */
  private async withRetries<T>(
    provider: string,
    deadline: Date,
    signal: AbortSignal | undefined,
    fn: (conn: Connection) => Promise<T>,
  ): Promise<T> {
    let delay = this.options.retryDelayMs ?? 200;
    for (let attempt = 1; ; attempt++) {
      let conn: Connection | undefined;
      try {
        conn = this.connection(provider);
        if (!conn.greeted) {
          const hello = await this.version(conn, deadline);
          conn.greeted = true;
          this.options.logger.info({ provider, socket: conn.socketPath, ...hello }, 'connected to provider');
        }
        return await fn(conn);
      } catch (err) {
        const retriable =
          isServiceError(err) && err.code === Status.UNAVAILABLE
            ? true
            : err instanceof DriverError && err.reason === 'FailedToLookupProviderGRPCClient' && attempt > 1;
        if (!retriable || signal?.aborted || Date.now() + delay >= deadline.getTime()) throw err;
        this.options.logger.debug({ provider, attempt }, 'provider unavailable; retrying');
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private version(conn: Connection, deadline: Date): Promise<Partial<VersionResponse__Output>> {
    return new Promise((resolve, reject) => {
      conn.client.version({ version: PROVIDER_API_VERSION }, { deadline }, (err, res) => {
        // A provider that predates Version still serves Mount.
        if (err?.code === Status.UNIMPLEMENTED) return resolve({});
        if (err) return reject(err);
        resolve({
          runtimeName: res?.runtimeName,
          runtimeVersion: res?.runtimeVersion,
          version: res?.version,
        });
      });
    });
  }

  /** Calls Mount; translates transport failures into DriverErrors that name the provider. */
  async mount(
    provider: string,
    call: MountCall,
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<MountResponse__Output> {
    try {
      return await this.withRetries(
        provider,
        deadline,
        signal,
        (conn) =>
          new Promise<MountResponse__Output>((resolve, reject) => {
            const pending = conn.client.mount(call, { deadline }, (err, res) =>
              err || !res ? reject(err) : resolve(res),
            );
            signal?.addEventListener('abort', () => pending.cancel(), { once: true });
          }),
      );
    } catch (err) {
      throw this.describe(provider, err, deadline);
    }
  }

  private describe(provider: string, err: unknown, deadline: Date): unknown {
    if (!isServiceError(err)) return err;
    const name = `provider "${provider}"`;
    switch (err.code) {
      case Status.UNAVAILABLE:
        return new DriverError('GRPCProviderError', `${name} is unavailable: ${err.details}`, { cause: err });
      case Status.DEADLINE_EXCEEDED:
        return new DriverError(
          'GRPCProviderError',
          `${name} did not answer before the deadline (${deadline.toISOString()})`,
          {
            cause: err,
            code: Status.DEADLINE_EXCEEDED,
          },
        );
      case Status.RESOURCE_EXHAUSTED:
        return new DriverError(
          'GRPCProviderError',
          `${name} sent a response larger than --max-call-recv-msg-size (${this.options.maxReceiveMessageSize} bytes)`,
          { cause: err, code: Status.RESOURCE_EXHAUSTED },
        );
      case Status.CANCELLED:
        return new DriverError('GRPCProviderError', `call to ${name} was cancelled`, {
          cause: err,
          code: Status.CANCELLED,
        });
      default:
        return new DriverError('GRPCProviderError', `${name}: ${err.details}`, {
          cause: err,
          code: err.code,
        });
    }
  }

  /** Calls Version on every provider socket found, reporting each result. */
  async checkHealth(report: (provider: string, healthy: boolean) => void): Promise<void> {
    const providers = new Set<string>(this.connections.keys());
    for (const dir of this.options.searchPaths) {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) if (name.endsWith('.sock')) providers.add(name.slice(0, -'.sock'.length));
    }
    for (const provider of providers) {
      const deadline = new Date(Date.now() + 5000);
      try {
        await this.withRetries(provider, deadline, undefined, (conn) => this.version(conn, deadline));
        report(provider, true);
        this.options.logger.debug({ provider }, 'provider health check passed');
      } catch (err) {
        report(provider, false);
        this.options.logger.warn({ provider, err: (err as Error).message }, 'provider health check failed');
      }
    }
  }

  startHealthChecks(intervalMs: number, report: (provider: string, healthy: boolean) => void): void {
    this.healthTimer = setInterval(() => {
      this.checkHealth(report).catch((err: unknown) =>
        this.options.logger.warn({ err }, 'provider health check error'),
      );
    }, intervalMs);
    this.healthTimer.unref();
  }

  close(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const conn of this.connections.values()) conn.client.close();
    this.connections.clear();
  }
}
