// The provider's metrics (upstream's provider has none): AWS calls by service, operation and
// outcome, mount durations, how often cached credentials saved an STS or agent call, how often a
// mount used another mount's AWS answer, and the size of the value cache. Mounts and credentials
// are labelled by requester: `pod` (the CSI driver, for a pod's volume) or `serviceaccount` (the
// sync controller, for a SecretSync); `unknown` for a request that did not parse.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { Requester } from './credentials/requester';

export class ProviderMetrics {
  private readonly calls: Counter<'service' | 'operation' | 'status'>;
  private readonly mounts: Histogram<'outcome' | 'requester'>;
  private readonly cacheHits: Counter<'kind' | 'requester'>;
  private readonly cacheMisses: Counter<'kind' | 'requester'>;
  private readonly valueEvictions: Counter<'reason'>;
  private readonly sharedAnswers: Counter<'operation'>;

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.calls = new Counter({
      name: 'aws_api_calls_total',
      help: 'AWS API calls (each attempt), by service, operation and status (success or the AWS error code)',
      labelNames: ['service', 'operation', 'status'],
      registers,
    });
    this.mounts = new Histogram({
      name: 'aws_provider_mount_duration_seconds',
      help: 'Time to answer a Mount request, by outcome (success or the failure reason) and requester (pod, serviceaccount or unknown)',
      labelNames: ['outcome', 'requester'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.cacheHits = new Counter({
      name: 'aws_provider_credential_cache_hits_total',
      help: 'Mounts served with cached credentials after verifying the token locally, by kind (irsa, podidentity) and requester (pod, serviceaccount)',
      labelNames: ['kind', 'requester'],
      registers,
    });
    this.cacheMisses = new Counter({
      name: 'aws_provider_credential_cache_misses_total',
      help: 'Mounts that needed a call to STS or the Pod Identity agent, by kind and requester',
      labelNames: ['kind', 'requester'],
      registers,
    });
    this.valueEvictions = new Counter({
      name: 'aws_provider_value_cache_evictions_total',
      help: 'Secret values dropped from the value cache, by reason: idle (unused too long) or size (over --value-cache-max-bytes)',
      labelNames: ['reason'],
      registers,
    });
    this.sharedAnswers = new Counter({
      name: 'aws_provider_shared_answers_total',
      help: 'AWS answers a mount took from a call made (or kept) for another mount of the same identity, by operation; for GetParameters, per parameter',
      labelNames: ['operation'],
      registers,
    });
  }

  /** A mount got an AWS answer from a call made for another mount of the same identity. */
  awsAnswerShared(operation: string): void {
    this.sharedAnswers.inc({ operation });
  }

  /** Reports the value cache's size, read at each scrape. */
  watchValueCache(cache: { readonly size: number; readonly bytes: number }): void {
    const registers = [this.registry];
    new Gauge({
      name: 'aws_provider_value_cache_entries',
      help: 'Secret values kept for remounts',
      registers,
      collect() {
        this.set(cache.size);
      },
    });
    new Gauge({
      name: 'aws_provider_value_cache_bytes',
      help: 'Estimated bytes held by the value cache (values, keys and bookkeeping)',
      registers,
      collect() {
        this.set(cache.bytes);
      },
    });
  }

  valueCacheEvicted(reason: 'idle' | 'size'): void {
    this.valueEvictions.inc({ reason });
  }

  awsCall(service: string, operation: string, status: string): void {
    this.calls.inc({ service, operation, status });
  }

  mounted(outcome: string, requester: Requester | 'unknown', seconds: number): void {
    this.mounts.observe({ outcome, requester }, seconds);
  }

  credentialCache(kind: 'irsa' | 'podidentity', requester: Requester, hit: boolean): void {
    (hit ? this.cacheHits : this.cacheMisses).inc({ kind, requester });
  }
}
