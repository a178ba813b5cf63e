// Writes of objects as a watch sees them: what a test asserts when it says "written once" or "not
// written at all". Each create, update or delete the API server stores is one event; a write that
// changes nothing (a no-op update or apply) is not stored, and not seen.
import type { KubeClient, KubeObject, ResourceType } from '@sscsi/common';
import { Informer } from '@sscsi/common';

export interface ObjectWrites {
  /** Writes seen since the watch started (or since `reset`), of one object or of all. */
  writes(namespace?: string, name?: string): number;
  /** Writes since the watch started (or since `reset`), by `namespace/name`. */
  written(): Map<string, number>;
  /** Forgets the writes seen so far. */
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Watches a resource's objects from now on (after a first list, which counts as no write): of one
 * namespace (`namespace`), of some (`namespaces`), or of all, with selectors as a list takes them.
 */
export async function watchWrites(
  kube: KubeClient,
  type: ResourceType,
  o: { namespace?: string; namespaces?: string[]; fieldSelector?: string; labelSelector?: string } = {},
): Promise<ObjectWrites> {
  const informer = new Informer<KubeObject>(kube, type, {
    namespace: o.namespace,
    fieldSelector: o.fieldSelector,
    labelSelector: o.labelSelector,
  });
  const counts = new Map<string, number>();
  let listed = false;
  const count = (obj: KubeObject) => {
    const { namespace = '', name = '' } = obj.metadata;
    if (!listed || (o.namespaces && !o.namespaces.includes(namespace))) return;
    const key = `${namespace}/${name}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  informer.addHandlers({ added: count, updated: count, deleted: count });
  informer.start();
  await informer.waitForSync();
  listed = true;
  return {
    writes: (namespace, name) =>
      namespace === undefined
        ? [...counts.values()].reduce((a, b) => a + b, 0)
        : (counts.get(`${namespace}/${name ?? ''}`) ?? 0),
    written: () => new Map(counts),
    reset: () => counts.clear(),
    stop: () => informer.stop(),
  };
}
