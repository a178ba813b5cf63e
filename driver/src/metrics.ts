// The driver's metrics: upstream's names, labels and label values, so that dashboards and alerts
// written for upstream keep working; what we know beyond that goes into metrics of our own.
import { counter, gauge, histogram, type RegisteredMetrics, registerMetrics } from '@sscsi/common';
import type { Registry } from 'prom-client';

const OS_TYPE = process.platform === 'win32' ? 'windows' : 'linux';

/** Upstream's buckets: 11 exponential steps from 100 ms to 2 s. */
const DURATION_BUCKETS = Array.from({ length: 11 }, (_, i) =>
  Number((0.1 * Math.pow(20, i / 10)).toFixed(4)),
);

/** Upstream's metrics, then ours (`*_reason_total`, `*_changed_total`, the health check). */
const METRICS = {
  nodePublish: counter('node_publish_total', 'Total number of node publish calls', ['provider', 'os_type']),
  nodeUnpublish: counter('node_unpublish_total', 'Total number of node unpublish calls', ['os_type']),
  nodePublishError: counter('node_publish_error_total', 'Total number of node publish calls with error', [
    'provider',
    'error_type',
    'os_type',
  ]),
  nodeUnpublishError: counter(
    'node_unpublish_error_total',
    'Total number of node unpublish calls with error',
    ['os_type'],
  ),
  rotation: counter('rotation_reconcile_total', 'Total number of rotation reconciles', [
    'provider',
    'os_type',
    'rotated',
  ]),
  rotationError: counter('rotation_reconcile_error_total', 'Total number of rotation reconciles with error', [
    'provider',
    'os_type',
    'rotated',
    'error_type',
  ]),
  rotationDuration: histogram(
    'rotation_reconcile_duration_sec',
    'Distribution of how long it took to rotate secrets-store content for pods',
    ['os_type'],
    DURATION_BUCKETS,
  ),
  syncSecret: counter('sync_k8s_secret_total', 'Total number of k8s secrets synced', ['provider', 'os_type']),
  syncSecretDuration: histogram(
    'k8s_secret_duration_sec',
    'Distribution of how long it took to sync k8s secret',
    ['os_type'],
    DURATION_BUCKETS,
  ),
  nodePublishErrorReason: counter(
    'node_publish_error_reason_total',
    'Node publish calls with error (counted in node_publish_error_total too), by the driver reason for the failure',
    ['provider', 'reason', 'os_type'],
  ),
  rotationChanged: counter(
    'rotation_reconcile_changed_total',
    'Rotation reconciles (counted in rotation_reconcile_total too) that changed the mounted contents or object versions',
    ['provider', 'os_type'],
  ),
  providerHealth: gauge(
    'provider_health_check_status',
    'Result of the last provider health check (1 healthy, 0 failing)',
    ['provider'],
  ),
};

export class DriverMetrics {
  private readonly m: RegisteredMetrics<typeof METRICS>;

  constructor(registry: Registry) {
    this.m = registerMetrics(registry, METRICS);
  }

  publish(provider: string): void {
    this.m.nodePublish.inc({ provider, os_type: OS_TYPE });
  }

  /** `errorType`: upstream's label; `reason`: ours, finer. */
  publishError(provider: string, errorType: string, reason: string): void {
    this.m.nodePublishError.inc({ provider, error_type: errorType, os_type: OS_TYPE });
    this.m.nodePublishErrorReason.inc({ provider, reason, os_type: OS_TYPE });
  }

  unpublish(): void {
    this.m.nodeUnpublish.inc({ os_type: OS_TYPE });
  }

  unpublishError(): void {
    this.m.nodeUnpublishError.inc({ os_type: OS_TYPE });
  }

  /**
   * A republish that asked the provider. Upstream labels every one rotated="true", changed or
   * not; whether it changed anything is counted apart.
   */
  rotationReconciled(provider: string, changed: boolean, seconds: number): void {
    this.m.rotation.inc({ provider, os_type: OS_TYPE, rotated: 'true' });
    if (changed) this.m.rotationChanged.inc({ provider, os_type: OS_TYPE });
    this.m.rotationDuration.observe({ os_type: OS_TYPE }, seconds);
  }

  /** A failed republish; rotated="true" as upstream labels it. */
  rotationFailed(provider: string, errorType: string): void {
    this.m.rotationError.inc({ provider, os_type: OS_TYPE, rotated: 'true', error_type: errorType });
  }

  secretSynced(provider: string, count: number, seconds: number): void {
    this.m.syncSecret.inc({ provider, os_type: OS_TYPE }, count);
    this.m.syncSecretDuration.observe({ os_type: OS_TYPE }, seconds);
  }

  providerHealthChecked(provider: string, healthy: boolean): void {
    this.m.providerHealth.set({ provider }, healthy ? 1 : 0);
  }
}
