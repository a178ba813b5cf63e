// When a replica may start working (or campaign for the Lease): once the providers its SecretSyncs
// need have their sockets. A pod's containers start together, and a provider sidecar (node under a
// 50m CPU limit) may listen seconds after the manager could lead; a replica that took the Lease then
// would fail every SecretSync with "provider not found", write that condition and a Warning Event
// on each, and retry, while a Ready standby with its providers up could have synced them at once.
// The wait is bounded: a provider that never comes (a class naming one that is not installed) must
// not keep every replica from leading, and the others' SecretSyncs from syncing. Once some provider
// listens, the sidecars have started: one still missing 10 s after the last one appeared is not
// coming (a class's typo), and is not waited for the whole 30 s at every start.
import type { Logger } from '@sscsi/common';
import { checkProviderName } from '@sscsi/common';

import type { SecretProviderClassView, SecretSync } from '../api/secret-sync';
import type { Clock } from '../leader/leader-election';
import { realClock } from '../leader/leader-election';

/** How long a replica waits for missing provider sockets before it works without them. */
export const PROVIDER_SOCKETS_WAIT_MS = 30_000;
/** How long a missing socket is waited for after the last of the others appeared. */
export const PROVIDER_SOCKETS_SETTLE_MS = 10_000;
/** How often the sockets are looked for. */
const LOOK_EVERY_MS = 250;

export interface ProviderSocketsOptions {
  /** The filled caches. */
  secretSyncs: { list(): SecretSync[] };
  classes: { get(namespace: string, name: string): SecretProviderClassView | undefined };
  /** Whether `provider`'s socket is there (ProviderClients.findSocket). */
  present(provider: string): boolean;
  logger: Logger;
  waitMs?: number;
  clock?: Clock;
}

/**
 * The providers named by the classes of the SecretSyncs (each class read in its SecretSync's
 * namespace, as a reconcile reads it), sorted; names that cannot name a socket are left out.
 */
export function providersInUse(o: Pick<ProviderSocketsOptions, 'secretSyncs' | 'classes'>): string[] {
  const names = new Set<string>();
  for (const ss of o.secretSyncs.list()) {
    const provider = o.classes.get(ss.metadata.namespace ?? '', ss.spec.secretProviderClassName)?.spec
      .provider;
    if (!provider) continue;
    try {
      checkProviderName(provider);
      names.add(provider);
    } catch {
      // Its reconcile reports the invalid name; there is no socket to wait for.
    }
  }
  return [...names].sort();
}

/**
 * Resolves once every provider in use has its socket, or after the wait (saying which are still
 * missing), or at once when `signal` aborts.
 */
export async function waitForProviderSockets(o: ProviderSocketsOptions, signal: AbortSignal): Promise<void> {
  const clock = o.clock ?? realClock;
  const started = clock.elapsed();
  const deadline = started + (o.waitMs ?? PROVIDER_SOCKETS_WAIT_MS);
  let waiting = false;
  let listening = 0;
  let lastAppeared = started;
  for (;;) {
    if (signal.aborted) return;
    const inUse = providersInUse(o);
    const missing = inUse.filter((p) => !o.present(p));
    if (missing.length === 0) {
      if (waiting) o.logger.info('the providers in use are listening');
      return;
    }
    const now = clock.elapsed();
    if (inUse.length - missing.length > listening) lastAppeared = now;
    listening = inUse.length - missing.length;
    const settled = listening > 0 && now - lastAppeared >= PROVIDER_SOCKETS_SETTLE_MS;
    if (settled || now >= deadline) {
      o.logger.warn(
        { providers: missing, waitedMs: Math.round(now - started) },
        'going on without these providers: their sockets did not appear',
      );
      return;
    }
    if (!waiting) {
      o.logger.info({ providers: missing }, 'waiting for the sockets of the providers in use');
      waiting = true;
    }
    await clock.sleep(Math.min(LOOK_EVERY_MS, Math.max(0, deadline - now)), signal);
  }
}
