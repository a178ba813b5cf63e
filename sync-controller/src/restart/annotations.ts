// The annotations of a restart on rotation: the user's opt-in on a workload, the record this
// controller keeps on it of what its pods were last restarted for, and kubectl's restartedAt on its
// pod template (what `kubectl rollout restart` sets, so that a rollout looks the same either way).
// The opt-in is read in common/ (restart-on-rotation.ts: the linter checks it too); the others are
// parsed here, at the boundary.

/**
 * What the workload's pods were last restarted for (or first seen mounting), on the workload's own
 * metadata: writing it changes no pod template, so a first record costs no rollout, and a
 * controller restarted, or a new leader, reads it instead of restarting again.
 */
export const RESTARTED_FOR_ANNOTATION = 'secrets-store.csi.x-k8s.io/restarted-for';
/** kubectl's, on the pod template: the change that rolls the pods. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

/**
 * What a workload's pods mount, by key: `<SecretProviderClass>/<object id>` → the object versions
 * its current pods mount; `Secret/<name>` → the mark of a synced Secret's data it reads.
 */
export type Mounted = ReadonlyMap<string, ReadonlySet<string>>;

/** The record, parsed; undefined when absent or unreadable (edited by hand): then it starts afresh. */
export function parseRecord(annotations: Record<string, string> | undefined): Mounted | undefined {
  const text = annotations?.[RESTARTED_FOR_ANNOTATION];
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = new Map<string, Set<string>>();
  for (const [key, versions] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(versions) || !versions.every((v) => typeof v === 'string')) return undefined;
    record.set(key, new Set(versions as string[]));
  }
  return record;
}

/** The record as written: keys and versions sorted, so the same record is the same text. */
export function formatRecord(record: Mounted): string {
  const keys = [...record.keys()].sort();
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, [...(record.get(k) ?? [])].sort()])));
}
