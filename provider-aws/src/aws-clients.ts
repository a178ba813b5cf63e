// Every AWS SDK client the provider uses is made here: the SDK's standard settings (AWS_ENDPOINT_URL
// and its per-service variants, AWS_USE_FIPS_ENDPOINT) apply, retries use the standard mode with
// backoff, the user agent names the provider, and each attempt is counted in the metrics.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import type { DeserializeMiddleware, MiddlewareStack } from '@smithy/types';
import { createRequire } from 'node:module';

import type { AwsCredentials } from './credentials/credential-cache';
import type { ProviderMetrics } from './metrics';
import type * as SsmSdk from './ssm-sdk';

export interface AwsClientOptions {
  userAgent: string;
  metrics: ProviderMetrics;
  /** Attempts per call, first included; the SDK backs off between them. */
  maxAttempts: number;
  /** How long one attempt may wait for a connection, and for a byte on it (defaults below). */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
}

/**
 * An attempt that waits this long for a TCP connection, or this long with no byte on it, fails and
 * is retried. Without them (the SDK sets neither) an attempt on a connection that a firewall or NAT
 * holds open but silent never ends: a shared credential fetch waited on by every later mount then
 * held them all until the longest caller's deadline (minutes, for the sync controller's calls),
 * well after STS answered again (e2e/tests/faults-node.test.ts, STS unreachable). STS, Secrets
 * Manager and SSM answer within a second; 10 s leaves room for a slow one.
 */
const CONNECT_TIMEOUT_MS = 3_000;
const IDLE_TIMEOUT_MS = 10_000;

type Client = SecretsManagerClient | SSMClient | STSClient;

const requireHere = createRequire(__filename);
let ssmPackage: typeof SsmSdk | undefined;

/** Where the SSM part is, beside this module both in dist/ and in the bundle (scripts/bundle.mjs). */
const SSM_SDK = './ssm-sdk';

/**
 * The SSM package, loaded when the first mount asks for a parameter. Its one file holds the schemas
 * of all of SSM's operations: 4-6 MiB of the provider's RSS (docs/benchmarks.md), saved for good
 * where a cluster reads only Secrets Manager; loading it takes about 35 ms once.
 */
export function ssmSdk(): typeof SsmSdk {
  ssmPackage ??= requireHere(SSM_SDK) as typeof SsmSdk;
  return ssmPackage;
}

function countCalls(client: Client, service: string, metrics: ProviderMetrics): void {
  // The deserialize step runs once per attempt, inside the SDK's retry loop.
  const stack = client.middlewareStack as unknown as MiddlewareStack<object, object>;
  stack.add(
    ((next, context) => async (args) => {
      const operation = String((context as { commandName?: string }).commandName ?? 'unknown').replace(
        /Command$/,
        '',
      );
      try {
        const result = await next(args);
        metrics.awsCall(service, operation, 'success');
        return result;
      } catch (err) {
        metrics.awsCall(service, operation, (err as { name?: string }).name ?? 'Error');
        throw err;
      }
    }) as DeserializeMiddleware<object, object>,
    { step: 'deserialize', name: 'secretsStoreCallMetrics', priority: 'high' },
  );
}

const MAX_CACHED_CLIENTS = 256;

export class AwsClients {
  private readonly cache = new Map<string, Client>();

  constructor(private readonly o: AwsClientOptions) {
    // The SSM part is loaded on first use; that it is there is checked now, at start.
    requireHere.resolve(SSM_SDK);
  }

  private common(region: string) {
    return {
      region,
      maxAttempts: this.o.maxAttempts,
      retryMode: 'standard',
      customUserAgent: this.o.userAgent,
      requestHandler: {
        connectionTimeout: this.o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
        socketTimeout: this.o.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      },
    } as const;
  }

  private cached<T extends Client>(key: string, make: () => T): T {
    const hit = this.cache.get(key) as T | undefined;
    if (hit) {
      // Most recently used last: the first entry is the one to drop.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const client = make();
    this.cache.set(key, client);
    if (this.cache.size > MAX_CACHED_CLIENTS) {
      const [oldestKey, oldest] = this.cache.entries().next().value as [string, Client];
      this.cache.delete(oldestKey);
      oldest.destroy();
    }
    return client;
  }

  /** STS for AssumeRoleWithWebIdentity: a regional endpoint, no credentials needed. */
  sts(region: string): STSClient {
    return this.cached(`sts|${region}`, () => {
      const client = new STSClient(this.common(region));
      countCalls(client, 'sts', this.o.metrics);
      return client;
    });
  }

  /** STS signed with `credentials`: AssumeRole, for a class's assumeRoleArn. */
  stsAs(region: string, credentials: AwsCredentials): STSClient {
    return this.cached(`sts|${region}|${credentials.accessKeyId}`, () => {
      const client = new STSClient({ ...this.common(region), credentials });
      countCalls(client, 'sts', this.o.metrics);
      return client;
    });
  }

  secretsManager(region: string, credentials: AwsCredentials): SecretsManagerClient {
    return this.cached(`sm|${region}|${credentials.accessKeyId}`, () => {
      const client = new SecretsManagerClient({ ...this.common(region), credentials });
      countCalls(client, 'secretsmanager', this.o.metrics);
      return client;
    });
  }

  ssm(region: string, credentials: AwsCredentials): SSMClient {
    return this.cached(`ssm|${region}|${credentials.accessKeyId}`, () => {
      const client = new (ssmSdk().SSMClient)({ ...this.common(region), credentials });
      countCalls(client, 'ssm', this.o.metrics);
      return client;
    });
  }

  destroy(): void {
    for (const client of this.cache.values()) client.destroy();
    this.cache.clear();
  }
}
