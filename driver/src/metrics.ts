// The driver's metrics: upstream's names, labels and label values, so that dashboards and alerts
// written for upstream keep working; what we know beyond that goes into metrics of our own.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const OS_TYPE = process.platform === 'win32' ? 'windows' : 'linux';

/** Upstream's buckets: 11 exponential steps from 100 ms to 2 s. */
const DURATION_BUCKETS = Array.from({ length: 11 }, (_, i) =>
  Number((0.1 * Math.pow(20, i / 10)).toFixed(4)),
);

export class DriverMetrics {
  private readonly nodePublish: Counter<'provider' | 'os_type'>;
  private readonly nodeUnpublish: Counter<'os_type'>;
  private readonly nodePublishError: Counter<'provider' | 'error_type' | 'os_type'>;
  private readonly nodeUnpublishError: Counter<'os_type'>;
  private readonly rotation: Counter<'provider' | 'os_type' | 'rotated'>;
  private readonly rotationError: Counter<'provider' | 'os_type' | 'rotated' | 'error_type'>;
  private readonly rotationDuration: Histogram<'os_type'>;
  private readonly syncSecret: Counter<'provider' | 'os_type'>;
  private readonly syncSecretDuration: Histogram<'os_type'>;
  private readonly providerHealth: Gauge<'provider'>;
  private readonly nodePublishErrorReason: Counter<'provider' | 'reason' | 'os_type'>;
  private readonly rotationChanged: Counter<'provider' | 'os_type'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.nodePublish = new Counter({
      name: 'node_publish_total',
      help: 'Total number of node publish calls',
      labelNames: ['provider', 'os_type'],
      registers,
    });
    this.nodeUnpublish = new Counter({
      name: 'node_unpublish_total',
      help: 'Total number of node unpublish calls',
      labelNames: ['os_type'],
      registers,
    });
    this.nodePublishError = new Counter({
      name: 'node_publish_error_total',
      help: 'Total number of node publish calls with error',
      labelNames: ['provider', 'error_type', 'os_type'],
      registers,
    });
    this.nodeUnpublishError = new Counter({
      name: 'node_unpublish_error_total',
      help: 'Total number of node unpublish calls with error',
      labelNames: ['os_type'],
      registers,
    });
    this.rotation = new Counter({
      name: 'rotation_reconcile_total',
      help: 'Total number of rotation reconciles',
      labelNames: ['provider', 'os_type', 'rotated'],
      registers,
    });
    this.rotationError = new Counter({
      name: 'rotation_reconcile_error_total',
      help: 'Total number of rotation reconciles with error',
      labelNames: ['provider', 'os_type', 'rotated', 'error_type'],
      registers,
    });
    this.rotationDuration = new Histogram({
      name: 'rotation_reconcile_duration_sec',
      help: 'Distribution of how long it took to rotate secrets-store content for pods',
      labelNames: ['os_type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.syncSecret = new Counter({
      name: 'sync_k8s_secret_total',
      help: 'Total number of k8s secrets synced',
      labelNames: ['provider', 'os_type'],
      registers,
    });
    this.syncSecretDuration = new Histogram({
      name: 'k8s_secret_duration_sec',
      help: 'Distribution of how long it took to sync k8s secret',
      labelNames: ['os_type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.nodePublishErrorReason = new Counter({
      name: 'node_publish_error_reason_total',
      help: 'Node publish calls with error (counted in node_publish_error_total too), by the driver reason for the failure',
      labelNames: ['provider', 'reason', 'os_type'],
      registers,
    });
    this.rotationChanged = new Counter({
      name: 'rotation_reconcile_changed_total',
      help: 'Rotation reconciles (counted in rotation_reconcile_total too) that changed the mounted contents or object versions',
      labelNames: ['provider', 'os_type'],
      registers,
    });
    this.providerHealth = new Gauge({
      name: 'provider_health_check_status',
      help: 'Result of the last provider health check (1 healthy, 0 failing)',
      labelNames: ['provider'],
      registers,
    });
  }

  publish(provider: string): void {
    this.nodePublish.inc({ provider, os_type: OS_TYPE });
  }

  /** `errorType`: upstream's label; `reason`: ours, finer. */
  publishError(provider: string, errorType: string, reason: string): void {
    this.nodePublishError.inc({ provider, error_type: errorType, os_type: OS_TYPE });
    this.nodePublishErrorReason.inc({ provider, reason, os_type: OS_TYPE });
  }

  unpublish(): void {
    this.nodeUnpublish.inc({ os_type: OS_TYPE });
  }

  unpublishError(): void {
    this.nodeUnpublishError.inc({ os_type: OS_TYPE });
  }

  /**
   * A republish that asked the provider. Upstream labels every one rotated="true", changed or
   * not; whether it changed anything is counted apart.
   */
  rotationReconciled(provider: string, changed: boolean, seconds: number): void {
    this.rotation.inc({ provider, os_type: OS_TYPE, rotated: 'true' });
    if (changed) this.rotationChanged.inc({ provider, os_type: OS_TYPE });
    this.rotationDuration.observe({ os_type: OS_TYPE }, seconds);
  }

  /** A failed republish; rotated="true" as upstream labels it. */
  rotationFailed(provider: string, errorType: string): void {
    this.rotationError.inc({ provider, os_type: OS_TYPE, rotated: 'true', error_type: errorType });
  }

  secretSynced(provider: string, count: number, seconds: number): void {
    this.syncSecret.inc({ provider, os_type: OS_TYPE }, count);
    this.syncSecretDuration.observe({ os_type: OS_TYPE }, seconds);
  }

  providerHealthChecked(provider: string, healthy: boolean): void {
    this.providerHealth.set({ provider }, healthy ? 1 : 0);
  }
}
