import { Registry } from 'prom-client';

import { ValueCache } from './fetch/value-cache';
import { ProviderMetrics } from './metrics';

describe('ProviderMetrics: the value cache', () => {
  it('exports its entries and bytes as they are at scrape time, and its evictions by reason', async () => {
    const registry = new Registry();
    const metrics = new ProviderMetrics(registry);
    let now = 0;
    const cache = new ValueCache({
      maxBytes: 2000,
      idleMs: 1000,
      now: () => now,
      onEvict: (reason) => metrics.valueCacheEvicted(reason),
    });
    metrics.watchValueCache(cache);
    cache.set('/a', 'r', 's', { version: 'v1', value: Buffer.alloc(900) });
    cache.set('/b', 'r', 's', { version: 'v1', value: Buffer.alloc(900) });
    const gauge = async (name: string) =>
      (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? Number.NaN;
    expect(await gauge('aws_provider_value_cache_entries')).toBe(1);
    expect(await gauge('aws_provider_value_cache_bytes')).toBe(cache.bytes);
    now = 5000;
    cache.sweep();
    expect(await gauge('aws_provider_value_cache_entries')).toBe(0);
    expect(await gauge('aws_provider_value_cache_bytes')).toBe(0);
    const text = await registry.metrics();
    expect(text).toContain('aws_provider_value_cache_evictions_total{reason="size"} 1');
    expect(text).toContain('aws_provider_value_cache_evictions_total{reason="idle"} 1');
  });
});
