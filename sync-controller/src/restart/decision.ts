// Whether a workload is restarted, from what its current pods mount and its record of what they
// were last restarted for. Pure: the controller reads the cluster, this decides.
//   - no record yet: what the pods mount now is recorded, nothing restarted (turning the opt-in on,
//     or this feature, does not restart every workload);
//   - an object or Secret the record does not know (a class or volume added): recorded, no restart;
//   - a version (or a Secret's mark) the record does not hold for its key, that changed under a
//     running pod (its status changed since its mount: rotated in place; a Secret read at start): a
//     restart, recording every version the current pods mount for that key (the new ones and the
//     others still mounted): a version recorded never counts as new again, so two current pods
//     at different versions (one lagging, a paused rollout) give one restart, not one each in
//     turn. Pods of the new template that mount those versions then match the record: no second
//     restart for one change. A version back to an earlier one no pod mounted then is a change too;
//   - a new version that only pods mounting it since their start hold (scaled up, a user's own
//     rollout, a driver without rotation): nothing; those pods already read it. If one of the
//     pods of the older version rotates in place later, that is a change.
// What the record knows and no pod mounts now (scaled to zero) is kept.
import type { Mounted } from './annotations';

export type Decision =
  | { kind: 'unchanged' }
  /** Record these without restarting. */
  | { kind: 'record'; record: Mounted }
  /** Restart, and record this; `changed` are the keys whose versions changed. */
  | { kind: 'restart'; record: Mounted; changed: string[] };

/**
 * `mounted`: what the current pods mount; `changedUnder`: of those, what changed under a running
 * pod (the versions of pods rotated in place, and every Secret's mark).
 */
export function decide(
  record: Mounted | undefined,
  mounted: Mounted,
  changedUnder: Mounted = mounted,
): Decision {
  if (!record) return mounted.size > 0 ? { kind: 'record', record: mounted } : { kind: 'unchanged' };
  const next = new Map(record);
  const changed: string[] = [];
  let added = false;
  for (const [key, versions] of mounted) {
    const known = record.get(key);
    if (!known) {
      next.set(key, versions);
      added = true;
      continue;
    }
    const fresh = new Set([...versions].filter((v) => !known.has(v)));
    if ([...fresh].some((v) => changedUnder.get(key)?.has(v))) {
      changed.push(key);
      next.set(key, new Set(versions));
    }
  }
  if (changed.length > 0) return { kind: 'restart', record: next, changed: changed.sort() };
  return added ? { kind: 'record', record: next } : { kind: 'unchanged' };
}

/**
 * A workload without current pods (scaled to zero): nothing changed under a pod, so nothing is
 * restarted; what the Secrets hold now is recorded, as the pods started later read it.
 */
export function decideWithoutPods(record: Mounted | undefined, mounted: Mounted): Decision {
  if (!record) return mounted.size > 0 ? { kind: 'record', record: mounted } : { kind: 'unchanged' };
  const next = new Map(record);
  let differs = false;
  for (const [key, versions] of mounted) {
    const known = record.get(key);
    if (known?.size === versions.size && [...versions].every((v) => known.has(v))) continue;
    next.set(key, new Set(versions));
    differs = true;
  }
  return differs ? { kind: 'record', record: next } : { kind: 'unchanged' };
}

/** What changed, in an Event's words: the classes' object ids and the Secrets' names, no value. */
export function describeChange(changed: readonly string[]): string {
  const objects = changed.filter((k) => !k.startsWith(SECRET_KEY_PREFIX));
  const secrets = changed
    .filter((k) => k.startsWith(SECRET_KEY_PREFIX))
    .map((k) => k.slice(SECRET_KEY_PREFIX.length));
  const parts: string[] = [];
  if (objects.length > 0) parts.push(`mounted objects changed: ${objects.join(', ')}`);
  if (secrets.length > 0) parts.push(`synced Secrets changed: ${secrets.join(', ')}`);
  return `rolling restart: ${parts.join('; ')}`;
}

export const SECRET_KEY_PREFIX = 'Secret/';

/** The key of a mounted object: its class and its id (the SecretProviderClassPodStatus's). */
export function objectKey(secretProviderClass: string, id: string): string {
  return `${secretProviderClass}/${id}`;
}

export function secretKey(name: string): string {
  return `${SECRET_KEY_PREFIX}${name}`;
}
