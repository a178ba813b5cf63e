// The provider's metrics (upstream's provider has none): AWS calls by service, operation and
// outcome, mount durations, how often cached credentials saved an STS or agent call, how often a
// mount used another mount's AWS answer, optional objects found missing, and the size of the value
// cache. Mounts and credentials
// are labelled by requester: `pod` (the CSI driver, for a pod's volume) or `serviceaccount` (the
// sync controller, for a SecretSync); `unknown` for a request that did not parse.
import { counter, gauge, histogram, type RegisteredMetrics, registerMetrics } from '@sscsi/common';
import type { Registry } from 'prom-client';

import type { Requester } from './credentials/requester';

const METRICS = {
  calls: counter(
    'aws_api_calls_total',
    'AWS API calls (each attempt), by service, operation and status (success or the AWS error code)',
    ['service', 'operation', 'status'],
  ),
  mounts: histogram(
    'aws_provider_mount_duration_seconds',
    'Time to answer a Mount request, by outcome (success or the failure reason) and requester (pod, serviceaccount or unknown)',
    ['outcome', 'requester'],
    [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  ),
  cacheHits: counter(
    'aws_provider_credential_cache_hits_total',
    'Mounts served with cached credentials after verifying the token locally, by kind (irsa, podidentity) and requester (pod, serviceaccount)',
    ['kind', 'requester'],
  ),
  cacheMisses: counter(
    'aws_provider_credential_cache_misses_total',
    'Mounts that needed a call to STS or the Pod Identity agent, by kind and requester',
    ['kind', 'requester'],
  ),
  valueEvictions: counter(
    'aws_provider_value_cache_evictions_total',
    'Secret values dropped from the value cache, by reason: idle (unused too long) or size (over --value-cache-max-bytes)',
    ['reason'],
  ),
  sharedAnswers: counter(
    'aws_provider_shared_answers_total',
    'AWS answers a mount took from a call made (or kept) for another mount of the same identity, by operation; for GetParameters, per parameter',
    ['operation'],
  ),
  optionalMissing: counter(
    'aws_provider_optional_objects_missing_total',
    'Optional objects a mount found missing (not found, or a secret scheduled for deletion) and mounted without, by type (secretsmanager, ssmparameter) and requester',
    ['type', 'requester'],
  ),
};

export class ProviderMetrics {
  private readonly m: RegisteredMetrics<typeof METRICS>;

  constructor(private readonly registry: Registry) {
    this.m = registerMetrics(registry, METRICS);
  }

  /** A mount got an AWS answer from a call made for another mount of the same identity. */
  awsAnswerShared(operation: string): void {
    this.m.sharedAnswers.inc({ operation });
  }

  /** Reports the value cache's size, read at each scrape. */
  watchValueCache(cache: { readonly size: number; readonly bytes: number }): void {
    registerMetrics(this.registry, {
      entries: gauge('aws_provider_value_cache_entries', 'Secret values kept for remounts', [], (g) =>
        g.set(cache.size),
      ),
      bytes: gauge(
        'aws_provider_value_cache_bytes',
        'Estimated bytes held by the value cache (values, keys and bookkeeping)',
        [],
        (g) => g.set(cache.bytes),
      ),
    });
  }

  valueCacheEvicted(reason: 'idle' | 'size'): void {
    this.m.valueEvictions.inc({ reason });
  }

  /** A mount went on without an optional object AWS said is not there. */
  optionalObjectMissing(type: string, requester: Requester): void {
    this.m.optionalMissing.inc({ type, requester });
  }

  awsCall(service: string, operation: string, status: string): void {
    this.m.calls.inc({ service, operation, status });
  }

  mounted(outcome: string, requester: Requester | 'unknown', seconds: number): void {
    this.m.mounts.observe({ outcome, requester }, seconds);
  }

  credentialCache(kind: 'irsa' | 'podidentity', requester: Requester, hit: boolean): void {
    (hit ? this.m.cacheHits : this.m.cacheMisses).inc({ kind, requester });
  }
}
