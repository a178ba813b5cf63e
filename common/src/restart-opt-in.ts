// The opt-in to a restart on rotation, on a workload's metadata: the sync controller acts on it and
// the linter checks it before deploy, so both read it here and refuse a wrong value in the same words.

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
