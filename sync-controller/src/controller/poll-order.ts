// The order a poll cycle enqueues its SecretSyncs in, so that provider calls that can share AWS
// answers run at the same time. A cycle makes one provider call per namespace, ServiceAccount and
// class (secret-fetcher.ts). Calls of one ServiceAccount for different classes often name the same
// objects, and a provider shares an AWS read among the requests of one identity while it is in
// flight (ours: provider-aws/src/fetch/shared-answers.ts), not after: a SecretSync's call has no
// volume whose versions would make it a remount. So the SecretSyncs of one namespace and
// ServiceAccount go out together, one of each class in turn: the --max-concurrent-reconciles workers
// start those classes' calls at about the same time, and the other SecretSyncs of each class reuse
// the cycle's answer. Only the order changes: every SecretSync is still enqueued once.
import type { SecretSync } from '../api/secret-sync';
import { secretSyncKey } from '../api/secret-sync';

/** The keys of `secretSyncs` (in the informer's order), ordered for a poll cycle. */
export function pollOrder(secretSyncs: readonly SecretSync[]): string[] {
  // Identities in the order they first appear, and in each its classes in that order.
  const identities = new Map<string, Map<string, string[]>>();
  for (const ss of secretSyncs) {
    const identity = JSON.stringify([ss.metadata.namespace ?? '', ss.spec.serviceAccountName]);
    let classes = identities.get(identity);
    if (!classes) identities.set(identity, (classes = new Map()));
    const keys = classes.get(ss.spec.secretProviderClassName);
    if (keys) keys.push(secretSyncKey(ss));
    else classes.set(ss.spec.secretProviderClassName, [secretSyncKey(ss)]);
  }
  const order: string[] = [];
  for (const classes of identities.values()) {
    const lists = [...classes.values()];
    const longest = Math.max(...lists.map((l) => l.length));
    for (let i = 0; i < longest; i++)
      for (const keys of lists) if (i < keys.length) order.push(keys[i] as string);
  }
  return order;
}
