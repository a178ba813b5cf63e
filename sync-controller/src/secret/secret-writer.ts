// Where the Secret is written: a server-side apply of the whole Secret, as upstream's, with its field
// manager and without force (a field someone else owns with another value is a conflict, not taken):
// named after the SecretSync, in its namespace, with the user's labels and annotations, upstream's
// label, one owner reference to the SecretSync (garbage collection deletes the Secret with it), the
// data and the type. Nothing here ever deletes a Secret.
//
// Never taking over a Secret that is not ours, whatever the cluster's admission policies: before a
// SecretSync's first sync (status.syncHash empty) a dry-run create asks whether the Secret could be
// created. A refusal by admission or validation is the error upstream's first apply (also a CREATE)
// would get. AlreadyExists means a Secret of that name exists: a dry-run empty patch shows its owner
// references; if they hold this SecretSync's uid the Secret is ours (an earlier sync whose status
// write failed) and is applied, otherwise nothing is written. The controller needs only create and
// patch on Secrets for this. What remains: a Secret created by someone else between the dry run and
// the apply (milliseconds) gets our label and owner reference merged in, and its data where no other
// manager owns it, as upstream's apply would.
import type { KubeApi, OwnerReference, Secret } from '@sscsi/common';
import { isAlreadyExists, KubeApiError, Resources, resourcePath } from '@sscsi/common';

import type { SecretSync } from '../api/secret-sync';
import { SECRET_SYNC_API_VERSION, SECRET_SYNC_KIND } from '../api/secret-sync';
import { SyncFailure } from '../sync/failure';
import { goSortedKeys } from '../sync/go-json';
import type { SecretData } from './secret-data';

export const FIELD_MANAGER = 'secrets-store-sync-controller';
/** How the API server names a denial by one of the chart's admission policies. */
const CHART_POLICY = "ValidatingAdmissionPolicy 'secrets-store-sync-controller-";
/** Upstream's label on every Secret it writes, with an empty value. */
export const SYNC_LABEL = 'secrets-store.sync.x-k8s.io';

/** An object with its keys in Go's order (JSON keeps insertion order, Go sorts map keys). */
function sorted<V>(map: Iterable<[string, V]>): Record<string, V> {
  const entries = new Map(map);
  return Object.fromEntries(goSortedKeys(entries.keys()).map((k) => [k, entries.get(k) as V]));
}

/**
 * The applied Secret, its fields in upstream's order (Go's struct order, empty ones left out), so
 * that its JSON is upstream's byte for byte (Go escapes `<>&` in strings; the data is the same).
 */
/** A Secret as applied: a data value is null for empty contents, as upstream's nil. */
export type AppliedSecret = Omit<Secret, 'data'> & { data?: Record<string, string | null> };

export function secretApplyBody(ss: SecretSync, data: SecretData): AppliedSecret {
  const { name, namespace, uid } = ss.metadata;
  const object = ss.spec.secretObject;
  const owner: OwnerReference = {
    apiVersion: SECRET_SYNC_API_VERSION,
    kind: SECRET_SYNC_KIND,
    name: name ?? '',
    uid: uid ?? '',
  };
  const metadata: Secret['metadata'] = {
    name,
    namespace,
    labels: sorted([...Object.entries(object.labels ?? {}), [SYNC_LABEL, '']]),
  };
  const annotations = Object.entries(object.annotations ?? {});
  if (annotations.length > 0) metadata.annotations = sorted(annotations);
  metadata.ownerReferences = [owner];
  const body: AppliedSecret = {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata,
  };
  if (data.size > 0)
    body.data = sorted(
      [...data].map(([k, v]): [string, string | null] => [k, v ? v.toString('base64') : null]),
    );
  if (object.type) body.type = object.type;
  return body;
}

export type SecretApi = Pick<KubeApi, 'create' | 'patch'>;

/** The API's own message, as client-go's errors read. */
function detailOf(err: unknown): string {
  if (err instanceof KubeApiError) return err.detail;
  return err instanceof Error ? err.message : String(err);
}

export class SecretWriter {
  constructor(private readonly kube: SecretApi) {}

  /**
   * Applies the Secret of `ss`; `firstSync` (no syncHash yet) checks first that it is not someone
   * else's. A refusal is a SyncFailure (ControllerPatchError) with the API's message.
   */
  async write(ss: SecretSync, data: SecretData, firstSync: boolean, signal?: AbortSignal): Promise<void> {
    const namespace = ss.metadata.namespace ?? '';
    const name = ss.metadata.name ?? '';
    const body = secretApplyBody(ss, data);
    const refused = (err: unknown): never => {
      if (err instanceof SyncFailure) throw err;
      throw new SyncFailure(
        { kind: 'secret-write', secretName: name, detail: detailOf(err) },
        { cause: err },
      );
    };
    if (firstSync) await this.checkNotSomeoneElses(ss, body, signal).catch(refused);
    await this.kube
      .patch(resourcePath(Resources.secrets, namespace, name), body, 'apply', {
        query: { fieldManager: FIELD_MANAGER },
        signal,
      })
      .catch(refused);
  }

  private async checkNotSomeoneElses(
    ss: SecretSync,
    body: AppliedSecret,
    signal?: AbortSignal,
  ): Promise<void> {
    const namespace = ss.metadata.namespace ?? '';
    const name = ss.metadata.name ?? '';
    const dryRun = { dryRun: 'All', fieldManager: FIELD_MANAGER };
    try {
      await this.kube.create(resourcePath(Resources.secrets, namespace), body, { query: dryRun, signal });
      return;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const notOurs = (cause?: unknown) =>
      new SyncFailure(
        { kind: 'secret-not-ours', namespace, secretName: name, ssUid: ss.metadata.uid ?? '' },
        { cause },
      );
    // The answer holds the Secret's data: only its owner references are read, nothing is kept.
    const existing = await this.kube
      .patch<Secret>(resourcePath(Resources.secrets, namespace, name), {}, 'merge', {
        query: dryRun,
        signal,
      })
      .catch((err: unknown) => {
        // The chart's Secret policies let this controller update only a Secret it wrote (its one
        // SecretSync owner, its label); refusing even this empty update (403 or 422, by whichever
        // policy the API server names) means another's. Their words here would not say so: one is
        // a CEL error about the missing ownerReferences.
        if (err instanceof KubeApiError && err.detail.includes(CHART_POLICY)) throw notOurs(err);
        throw err;
      });
    const ours = (existing.metadata.ownerReferences ?? []).some((o) => o.uid === ss.metadata.uid);
    if (!ours) throw notOurs();
  }
}
