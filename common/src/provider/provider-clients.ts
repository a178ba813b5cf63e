// The client side of the provider API, for the driver and the sync controller: finds
// `<provider>.sock` in the socket folders, keeps one connection per provider (re-dialled when the
// socket file is replaced), and makes at most 3 attempts at a call while the provider answers
// UNAVAILABLE, as upstream's retry policy does, all within the caller's deadline.
import * as grpc from '@grpc/grpc-js';
import type {
  CSIDriverProviderClient,
  MountRequest,
  MountResponse__Output,
  VersionResponse__Output,
} from '@sscsi/proto';
import { loadProvider, PROVIDER_API_VERSION } from '@sscsi/proto';
import fs from 'node:fs';
import path from 'node:path';

import type { SecretProviderClassObject } from '../kube/types';
import type { Logger } from '../logger';
import type { PayloadFile } from '../payload';
import { Status } from '../status-error';
import { ProviderCallError } from './provider-error';
import { checkProviderName } from './provider-name';

/** A Mount request with every field set (the proto type marks them all optional). */
export type MountCall = Required<MountRequest>;

/** What a provider answered a Mount: the objects' versions, and the files unless it wrote them. */
export interface MountedContent {
  objects: SecretProviderClassObject[];
  files: PayloadFile[];
}

/** What a program needs from providers; small so unit tests can fake it. */
export interface ProviderGateway {
  /** Calls Mount; a failure is a ProviderCallError that names the provider. */
  mount(provider: string, call: MountCall, deadline: Date, signal?: AbortSignal): Promise<MountedContent>;
}

interface Connection {
  provider: string;
  socketPath: string;
  /** `dev:ino` of the socket file when dialled; a new file means a restarted provider. */
  identity: string;
  client: CSIDriverProviderClient;
}

export interface ProviderClientsOptions {
  /** The folders searched for `<provider>.sock`, in order (the sync controller's: /provider). */
  searchPaths: readonly string[];
  maxReceiveMessageSize: number;
  logger: Logger;
  /** Delay before the second attempt (upstream: 1 s); each later one is 1.1 times longer. */
  retryDelayMs?: number;
}

/** Upstream's retry policy: 3 attempts in all, 1 s initial backoff growing by 1.1. */
const MAX_ATTEMPTS = 3;
const DEFAULT_RETRY_DELAY_MS = 1000;
const BACKOFF_MULTIPLIER = 1.1;
/** How long the greeting Version call may take; Mount never waits for it. */
const GREETING_TIMEOUT_MS = 10_000;
const HEALTH_CHECK_TIMEOUT_MS = 5_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Calls wait for the provider's socket to accept connections (until their deadline) instead of
 * failing at once, as upstream's waitForReady: a provider restarting costs no attempt.
 */
const waitForReady = () => new grpc.Metadata({ waitForReady: true });

/** The last failure of a call, with the number of attempts it took. */
class AttemptsMade {
  constructor(
    readonly err: unknown,
    readonly attempts: number,
  ) {}
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return typeof err === 'object' && err !== null && 'code' in err && 'details' in err;
}

/** A gRPC failure as `CODE: details`, for the log. */
function describeGrpc(err: unknown): string {
  if (isServiceError(err)) return `${Status[err.code] ?? err.code}: ${err.details}`;
  return err instanceof Error ? err.message : String(err);
}

function cancelled(provider: string, signal: AbortSignal): ProviderCallError {
  return new ProviderCallError('CallFailed', `call to provider "${provider}" was cancelled`, {
    cause: signal.reason,
    code: Status.CANCELLED,
    provider,
  });
}

/** The objects and files of a Mount answer, or the error the provider reported in it. */
function content(provider: string, response: MountResponse__Output): MountedContent {
  const code = response.error?.code;
  if (code) {
    throw new ProviderCallError(
      'ProviderError',
      `provider "${provider}" failed to mount the objects: error code ${code}`,
      { providerCode: code, provider },
    );
  }
  if (response.objectVersion.length === 0) {
    throw new ProviderCallError(
      'NoObjectVersions',
      `provider "${provider}" returned no object versions; a provider must report at least one object`,
      { provider },
    );
  }
  return {
    objects: response.objectVersion.map((v) => ({ id: v.id, version: v.version })),
    files: response.files.map((f) => ({ path: f.path, mode: f.mode, contents: f.contents })),
  };
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
    checkProviderName(provider);
    const found = this.findSocket(provider);
    const existing = this.connections.get(provider);
    // A provider that is restarting has removed its socket for a moment: the existing channel
    // redials the same path, and the call waits for it.
    if (!found && existing) return existing;
    if (!found) {
      throw new ProviderCallError(
        'ProviderNotFound',
        `provider "${provider}" not found: no ${provider}.sock in ${this.options.searchPaths.join(', ')}; is the provider installed on this node?`,
        { provider },
      );
    }
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
    const connection: Connection = { provider, ...found, client };
    this.connections.set(provider, connection);
    this.greet(connection);
    return connection;
  }

  /**
   * Asks a newly dialled provider for its version, for the log only. Upstream never calls Version
   * before Mount, so nothing waits for this and any failure is tolerated.
   */
  private greet(conn: Connection): void {
    const deadline = new Date(Date.now() + GREETING_TIMEOUT_MS);
    this.version(conn, deadline, waitForReady()).then(
      (hello) =>
        this.options.logger.info(
          { provider: conn.provider, socket: conn.socketPath, ...hello },
          'connected to provider',
        ),
      (err: unknown) =>
        this.options.logger.debug(
          { provider: conn.provider, socket: conn.socketPath, err: describeGrpc(err) },
          'provider did not answer Version; Mount does not need it',
        ),
    );
  }

  /**
   * Calls `fn` on the provider's connection: at most MAX_ATTEMPTS times, again only after an
   * UNAVAILABLE answer, and never starting an attempt the deadline leaves no room for.
   */
  private async withRetries<T>(
    provider: string,
    deadline: Date,
    signal: AbortSignal | undefined,
    fn: (conn: Connection) => Promise<T>,
  ): Promise<T> {
    let delay = this.options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw cancelled(provider, signal);
      try {
        return await fn(this.connection(provider));
      } catch (err) {
        // Jitter spreads the retries of many volumes failing together (throttling, a restart).
        const wait = delay * (0.5 + Math.random() / 2);
        const retriable = isServiceError(err) && err.code === Status.UNAVAILABLE;
        if (!retriable || attempt >= MAX_ATTEMPTS || Date.now() + wait >= deadline.getTime())
          throw new AttemptsMade(err, attempt);
        this.options.logger.debug(
          { provider, attempt, retryInMs: Math.round(wait) },
          'provider unavailable; retrying',
        );
        await sleep(wait, signal);
        delay *= BACKOFF_MULTIPLIER;
      }
    }
  }

  private version(
    conn: Connection,
    deadline: Date,
    metadata = new grpc.Metadata(),
  ): Promise<Partial<VersionResponse__Output>> {
    return new Promise((resolve, reject) => {
      conn.client.version({ version: PROVIDER_API_VERSION }, metadata, { deadline }, (err, res) => {
        if (err) return reject(err);
        resolve({
          runtimeName: res?.runtimeName,
          runtimeVersion: res?.runtimeVersion,
          version: res?.version,
        });
      });
    });
  }

  /** Calls Mount; any failure is a ProviderCallError that names the provider. */
  async mount(
    provider: string,
    call: MountCall,
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<MountedContent> {
    let response: MountResponse__Output;
    try {
      response = await this.withRetries(
        provider,
        deadline,
        signal,
        (conn) =>
          new Promise<MountResponse__Output>((resolve, reject) => {
            const pending = conn.client.mount(call, waitForReady(), { deadline }, (err, res) =>
              err || !res ? reject(err) : resolve(res),
            );
            const cancel = () => pending.cancel();
            signal?.addEventListener('abort', cancel, { once: true });
            pending.on('status', () => signal?.removeEventListener('abort', cancel));
          }),
      );
    } catch (failure) {
      const { err, attempts } =
        failure instanceof AttemptsMade ? failure : { err: failure, attempts: undefined };
      throw this.describe(provider, err, deadline, attempts);
    }
    return content(provider, response);
  }

  private describe(provider: string, err: unknown, deadline: Date, attempts: number | undefined): unknown {
    if (!isServiceError(err)) return err;
    const name = `provider "${provider}"`;
    const about = { cause: err, provider, attempts };
    switch (err.code) {
      case Status.UNAVAILABLE:
        return new ProviderCallError('CallFailed', `${name} is unavailable: ${err.details}`, about);
      case Status.DEADLINE_EXCEEDED: {
        const conn = this.connections.get(provider);
        if (conn && conn.client.getChannel().getConnectivityState(false) !== grpc.connectivityState.READY) {
          return new ProviderCallError(
            'CallFailed',
            `could not connect to ${name} at ${conn.socketPath} before the deadline (${deadline.toISOString()}); is the provider running?`,
            { ...about, code: Status.DEADLINE_EXCEEDED },
          );
        }
        return new ProviderCallError(
          'CallFailed',
          `${name} did not answer before the deadline (${deadline.toISOString()})`,
          { ...about, code: Status.DEADLINE_EXCEEDED },
        );
      }
      case Status.RESOURCE_EXHAUSTED:
        return new ProviderCallError(
          'CallFailed',
          `${name} sent a response larger than --max-call-recv-msg-size (${this.options.maxReceiveMessageSize} bytes)`,
          { ...about, code: Status.RESOURCE_EXHAUSTED },
        );
      case Status.CANCELLED:
        return new ProviderCallError('CallFailed', `call to ${name} was cancelled`, {
          ...about,
          code: Status.CANCELLED,
        });
      default:
        return new ProviderCallError('CallFailed', `${name}: ${err.details}`, { ...about, code: err.code });
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
      const deadline = new Date(Date.now() + HEALTH_CHECK_TIMEOUT_MS);
      try {
        await this.version(this.connection(provider), deadline);
        report(provider, true);
        this.options.logger.debug({ provider }, 'provider health check passed');
      } catch (err) {
        report(provider, false);
        this.options.logger.warn({ provider, err: describeGrpc(err) }, 'provider health check failed');
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
