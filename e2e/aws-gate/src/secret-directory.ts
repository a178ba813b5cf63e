// Secrets as IAM sees them: a request names a secret by name or ARN, a policy by its full ARN (with
// the random suffix Secrets Manager adds) and by its tags (secretsmanager:ResourceTag/...). Read
// back from moto's Secrets Manager, cached briefly, dropped after writes through the gate.
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { LoadingCache } from './loading-cache';

export interface SecretRecord {
  arn: string;
  name: string;
  tags: Readonly<Record<string, string>>;
}

export interface SecretSource {
  describe(region: string, secretId: string): Promise<SecretRecord | undefined>;
}

export class MotoSecrets implements SecretSource {
  private readonly clients = new Map<string, SecretsManagerClient>();

  constructor(
    private readonly upstream: string,
    private readonly credentials: { accessKeyId: string; secretAccessKey: string },
  ) {}

  private client(region: string): SecretsManagerClient {
    let client = this.clients.get(region);
    if (!client) {
      client = new SecretsManagerClient({
        region,
        endpoint: this.upstream,
        credentials: this.credentials,
        maxAttempts: 2,
      });
      this.clients.set(region, client);
    }
    return client;
  }

  async describe(region: string, secretId: string): Promise<SecretRecord | undefined> {
    try {
      const out = await this.client(region).send(new DescribeSecretCommand({ SecretId: secretId }));
      if (!out.ARN) return undefined;
      return {
        arn: out.ARN,
        name: out.Name ?? secretId,
        tags: Object.fromEntries((out.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
      };
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  }

  close(): void {
    for (const client of this.clients.values()) client.destroy();
  }
}

export class CachedSecrets implements SecretSource {
  private readonly cache: LoadingCache<SecretRecord | undefined>;

  constructor(
    private readonly source: SecretSource,
    o: { ttlMs: number; now?: () => number },
  ) {
    this.cache = new LoadingCache({ ttlMs: o.ttlMs, maxEntries: 10_000, now: o.now });
  }

  describe(region: string, secretId: string): Promise<SecretRecord | undefined> {
    return this.cache.get(`${region}|${secretId}`, () => this.source.describe(region, secretId));
  }

  invalidate(): void {
    this.cache.invalidate();
  }
}
