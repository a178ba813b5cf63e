// The provider's metrics (upstream's provider has none): AWS calls by service, operation and
// outcome, mount durations, and how often cached credentials saved an STS or agent call.
import { Counter, Histogram, type Registry } from 'prom-client';

export class ProviderMetrics {
  private readonly calls: Counter<'service' | 'operation' | 'status'>;
  private readonly mounts: Histogram<'outcome'>;
  private readonly cacheHits: Counter<'kind'>;
  private readonly cacheMisses: Counter<'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.calls = new Counter({
      name: 'aws_api_calls_total',
      help: 'AWS API calls (each attempt), by service, operation and status (success or the AWS error code)',
      labelNames: ['service', 'operation', 'status'],
      registers,
    });
    this.mounts = new Histogram({
      name: 'aws_provider_mount_duration_seconds',
      help: 'Time to answer a Mount request, by outcome (success or the failure reason)',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.cacheHits = new Counter({
      name: 'aws_provider_credential_cache_hits_total',
      help: 'Mounts served with cached credentials after verifying the pod token locally',
      labelNames: ['kind'],
      registers,
    });
    this.cacheMisses = new Counter({
      name: 'aws_provider_credential_cache_misses_total',
      help: 'Mounts that needed a call to STS or the Pod Identity agent',
      labelNames: ['kind'],
      registers,
    });
  }

  awsCall(service: string, operation: string, status: string): void {
    this.calls.inc({ service, operation, status });
  }

  mounted(outcome: string, seconds: number): void {
    this.mounts.observe({ outcome }, seconds);
  }

  credentialCache(kind: 'irsa' | 'podidentity', hit: boolean): void {
    (hit ? this.cacheHits : this.cacheMisses).inc({ kind });
  }
}
