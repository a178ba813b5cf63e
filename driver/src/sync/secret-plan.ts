// What to write to a synced Secret, decided from what it holds now and what one pod's mount says.
//
// Several pods, on one node or many, may sync the same Secret from mounts that disagree (a value
// changed between two pods' mounts, staggered rotations, two classes naming one secretName). If each
// wrote its own view, they would overwrite each other forever. One rule decides instead: the content
// of the mount that changed last wins. The Secret records where its content came from (the pod and
// the time that pod's files last changed) in an annotation; a pod whose mount is older leaves the
// content alone and only adds what is missing (labels, annotations, owners). Its older content wins
// again only when the recorded pod is gone. Ties go to the larger pod uid, so every driver decides
// the same way, and a write happens only when the decision changes what the Secret holds.
import type { OwnerReference, Secret } from '@sscsi/common';

import { SyncError } from './secret-data';

export const MANAGED_LABEL = 'secrets-store.csi.k8s.io/managed';
export const CONTENT_SOURCE_ANNOTATION = 'secrets-store.csi.k8s.io/content-source';

/** Where a Secret's content was read: a pod's mount, and when its files last changed. */
export interface ContentSource {
  podName: string;
  podUid: string;
  /** Milliseconds since the epoch. */
  changedAt: number;
  /**
   * The pod's volume (its SecretProviderClassPodStatus's name: one per pod and class): two volumes
   * of one pod may sync the same Secret. Absent in what earlier versions recorded.
   */
  volume?: string;
}

/** The Secret one pod's mount asks for. `data` is base64, as the API carries it. */
export interface WantedSecret {
  namespace: string;
  name: string;
  type: string;
  data: Record<string, string>;
  /** The class's labels and annotations for it (the managed label is added here). */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  owners: readonly OwnerReference[];
  source: ContentSource;
}

export type SecretPlan =
  | { kind: 'unchanged' }
  | { kind: 'create'; secret: Secret }
  /** `dataChanged`: the content moved to this pod's; otherwise only metadata was added. */
  | { kind: 'update'; secret: Secret; dataChanged: boolean }
  /** The type of a Secret cannot change: delete (at this resourceVersion) and create. */
  | { kind: 'replace'; secret: Secret; resourceVersion: string | undefined };

export function compareSources(a: ContentSource, b: ContentSource): number {
  if (a.changedAt !== b.changedAt) return a.changedAt < b.changedAt ? -1 : 1;
  return a.podUid < b.podUid ? -1 : a.podUid > b.podUid ? 1 : 0;
}

function sameVolume(a: ContentSource, b: ContentSource): boolean {
  return a.podUid !== '' && a.volume !== undefined && a.podUid === b.podUid && a.volume === b.volume;
}

export function formatSource(source: ContentSource): string {
  return JSON.stringify({
    pod: source.podName,
    uid: source.podUid,
    changedAt: new Date(source.changedAt).toISOString(),
    ...(source.volume !== undefined ? { volume: source.volume } : {}),
  });
}

/** The recorded source of a Secret; undefined when there is none or it cannot be read. */
export function parseSource(secret: Secret): ContentSource | undefined {
  const text = secret.metadata.annotations?.[CONTENT_SOURCE_ANNOTATION];
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as { pod?: unknown; uid?: unknown; changedAt?: unknown; volume?: unknown };
    const changedAt = typeof value.changedAt === 'string' ? Date.parse(value.changedAt) : NaN;
    if (typeof value.pod !== 'string' || typeof value.uid !== 'string' || !Number.isFinite(changedAt))
      return undefined;
    return {
      podName: value.pod,
      podUid: value.uid,
      changedAt,
      ...(typeof value.volume === 'string' ? { volume: value.volume } : {}),
    };
  } catch {
    return undefined;
  }
}

const sameMap = (a: Record<string, string> = {}, b: Record<string, string> = {}) => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
};

/** Owners of `existing` followed by the wanted ones it lacks: an update never drops an owner. */
export function mergeOwners(
  existing: readonly OwnerReference[],
  wanted: readonly OwnerReference[],
): OwnerReference[] {
  const uids = new Set(existing.map((o) => o.uid));
  return [...existing, ...wanted.filter((o) => !uids.has(o.uid))];
}

/** What a Secret holds apart from its owners. */
interface SecretView {
  type: string;
  data: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const withoutSource = (annotations: Record<string, string>) => {
  const { [CONTENT_SOURCE_ANNOTATION]: _recorded, ...rest } = annotations;
  return rest;
};

/**
 * The write that brings `existing` in line with `want`.
 * @param isLive whether the pod a Secret's content was recorded from still runs; asked only when
 *   this pod's mount is older and would change something.
 */
export async function planSecret(
  existing: Secret | undefined,
  want: WantedSecret,
  isLive: (source: ContentSource) => Promise<boolean>,
): Promise<SecretPlan> {
  const labels = { ...want.labels, [MANAGED_LABEL]: 'true' };
  const source = formatSource(want.source);
  if (!existing) {
    return {
      kind: 'create',
      secret: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: want.name,
          namespace: want.namespace,
          labels,
          annotations: { ...want.annotations, [CONTENT_SOURCE_ANNOTATION]: source },
          ownerReferences: [...want.owners],
        },
        type: want.type,
        data: want.data,
      },
    };
  }
  if (existing.metadata.labels?.[MANAGED_LABEL] !== 'true') {
    throw new SyncError(
      `a Secret ${want.namespace}/${want.name} exists and is not managed by the driver; rename secretName or delete that Secret`,
    );
  }
  const have = {
    type: existing.type ?? 'Opaque',
    data: existing.data ?? {},
    labels: existing.metadata.labels ?? {},
    annotations: existing.metadata.annotations ?? {},
    owners: existing.metadata.ownerReferences ?? [],
  };
  const owners = mergeOwners(have.owners, want.owners);
  // This pod's view: its content, its labels and annotations over the existing ones.
  const imposed: SecretView = {
    type: want.type,
    data: want.data,
    labels: { ...have.labels, ...labels },
    annotations: { ...withoutSource(have.annotations), ...want.annotations },
  };
  // An older mount's view: the content and whatever is set stay, only what is missing is added.
  const added: SecretView = {
    type: have.type,
    data: have.data,
    labels: { ...labels, ...have.labels },
    annotations: { ...want.annotations, ...withoutSource(have.annotations) },
  };
  const differs = (a: SecretView, b: SecretView) =>
    a.type !== b.type ||
    !sameMap(a.data, b.data) ||
    !sameMap(a.labels, b.labels) ||
    !sameMap(a.annotations, b.annotations);
  const current = { ...have, annotations: withoutSource(have.annotations) };
  const ownersAdded = owners.length !== have.owners.length;
  if (!differs(imposed, current) && !ownersAdded) return { kind: 'unchanged' };

  // Only when the two views disagree does it matter whose mount is newer.
  const recorded = parseSource(existing);
  const wins =
    differs(imposed, added) &&
    (!recorded ||
      // The recorded volume's own mount is its newest content, whatever its files' times say: they
      // are wall clock times, and seem older than the recorded one after the node's clock stepped
      // back. Only the same volume: two volumes of one pod are ordered by time like any two.
      sameVolume(recorded, want.source) ||
      compareSources(want.source, recorded) >= 0 ||
      !(await isLive(recorded)));
  if (!wins) {
    if (!differs(added, current) && !ownersAdded) return { kind: 'unchanged' };
    return {
      kind: 'update',
      dataChanged: false,
      secret: {
        ...existing,
        metadata: {
          ...existing.metadata,
          labels: added.labels,
          annotations: { ...have.annotations, ...added.annotations },
          ownerReferences: owners,
        },
      },
    };
  }
  const labelsAndOwners = {
    labels: imposed.labels,
    annotations: { ...imposed.annotations, [CONTENT_SOURCE_ANNOTATION]: source },
    ownerReferences: owners,
  };
  if (imposed.type !== have.type) {
    const { name, namespace, finalizers, resourceVersion } = existing.metadata;
    return {
      kind: 'replace',
      resourceVersion,
      secret: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace, finalizers, ...labelsAndOwners },
        type: imposed.type,
        data: imposed.data,
      },
    };
  }
  return {
    kind: 'update',
    dataChanged: !sameMap(imposed.data, have.data),
    secret: {
      ...existing,
      metadata: { ...existing.metadata, ...labelsAndOwners },
      type: imposed.type,
      data: imposed.data,
    },
  };
}
