// What a restart on rotation reads of a workload, which the sync controller acts on and the linter
// checks before deploy: the opt-in on its metadata (a wrong value refused in the same words by both)
// and the Secrets its pod template reads.

/** The user's opt-in, on the Deployment's, StatefulSet's or DaemonSet's own metadata. */
export const RESTART_ON_ROTATION_ANNOTATION = 'secrets-store.csi.x-k8s.io/restart-on-rotation';

/** The kinds whose own metadata the opt-in belongs on: those a rolling restart applies to. */
export const RESTARTABLE_KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

export type OptIn = { kind: 'on' } | { kind: 'off' } | { kind: 'invalid'; message: string };

/** The opt-in: `"true"` on, absent or `"false"` off; anything else is refused with a message. */
export function parseOptIn(annotations: Record<string, string> | undefined): OptIn {
  const value = annotations?.[RESTART_ON_ROTATION_ANNOTATION];
  if (value === undefined || value === 'false') return { kind: 'off' };
  if (value === 'true') return { kind: 'on' };
  const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  return {
    kind: 'invalid',
    message: `annotation ${RESTART_ON_ROTATION_ANNOTATION} is ${JSON.stringify(shown)}: want "true" or "false"; no restart on rotation until it is corrected`,
  };
}

type Data = Record<string, unknown>;
const isMap = (v: unknown): v is Data => !!v && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * The names of the Secrets a pod spec reads (env, envFrom, secret and projected volumes, of
 * containers and init containers), sorted. Any shape is read: a linted file's spec is unchecked.
 */
export function secretsReadBy(podSpec: unknown): string[] {
  const names = new Set<string>();
  const add = (name: unknown) => {
    if (typeof name === 'string' && name !== '') names.add(name);
  };
  if (!isMap(podSpec)) return [];
  for (const c of [...list(podSpec.containers), ...list(podSpec.initContainers)]) {
    if (!isMap(c)) continue;
    for (const e of list(c.env))
      if (isMap(e) && isMap(e.valueFrom) && isMap(e.valueFrom.secretKeyRef))
        add(e.valueFrom.secretKeyRef.name);
    for (const e of list(c.envFrom)) if (isMap(e) && isMap(e.secretRef)) add(e.secretRef.name);
  }
  for (const v of list(podSpec.volumes)) {
    if (!isMap(v)) continue;
    if (isMap(v.secret)) add(v.secret.secretName);
    if (isMap(v.projected))
      for (const s of list(v.projected.sources)) if (isMap(s) && isMap(s.secret)) add(s.secret.name);
  }
  return [...names].sort();
}
