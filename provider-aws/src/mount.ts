// Mount: where a request becomes files. Parse and check everything, find the region, get the
// requester's credentials, fetch the objects, and return the files to the driver (or write them
// here when the provider writes secrets itself). A failed mount writes nothing.
//
// A request is a pod's (the CSI driver mounting a pod's volume) or a ServiceAccount's (the sync
// controller, for a SecretSync): the token tells (credentials/requester.ts). The sync controller
// names its own pod, possibly in another namespace, and has no volume, so for its requests: the
// region is the class's or the provider's AWS_REGION (never the named pod's node), nothing is
// recorded on the named pod, the files are always in the answer (nothing is written), and no
// value is kept for a remount (its target path is the same for every SecretSync).
import type { EventRecorder, Logger } from '@sscsi/common';
import { podReference, writePayload } from '@sscsi/common';
import type { MountRequest__Output, MountResponse } from '@sscsi/proto';

import type { AwsClients } from './aws-clients';
import type { AwsCredentials } from './credentials/credential-cache';
import type { IdentityResolver } from './credentials/identity';
import type { Requester } from './credentials/requester';
import { failureOf, MountError } from './errors';
import { fetchObjects } from './fetch/object-fetcher';
import type { MountRound, SharedAnswers } from './fetch/shared-answers';
import type { ValueCache } from './fetch/value-cache';
import type { PodLookups } from './kube-lookups';
import { MISSING_VERSION } from './fetch/missing-object';
import type { Miss } from './layout/files';
import { filesOf, missesOf, objectVersionsOf } from './layout/files';
import { templatedFilesOf } from './layout/templated-files';
import type { MountFile } from './layout/mount-file';
import type { ProviderMetrics } from './metrics';
import type { MountInput } from './parameters/mount-request';
import { parseDescriptors, parseMountRequest, parseTemplates } from './parameters/mount-request';

/** A SecretSync's request has no volume to remount: its values are not kept. */
const KEEP_NO_VALUES: Pick<ValueCache, 'get' | 'set'> = { get: () => undefined, set: () => undefined };

/** Who a request is for, for the log: the pod, or the SecretSync's ServiceAccount. */
function requesterFields(input: MountInput): Record<string, string> {
  const { namespace, name, serviceAccount } = input.pod;
  return input.requester === 'pod'
    ? { requester: 'pod', pod: `${namespace}/${name}`, serviceAccount }
    : { requester: 'serviceaccount', serviceAccount: `${namespace}/${serviceAccount}` };
}

/** The reason of the pod Events that carry warnings about the class. */
export const CLASS_WARNING_REASON = 'SecretProviderClassWarning';
/** The reason of the pod Events that say an optional object is missing. */
export const OPTIONAL_MISSING_REASON = 'OptionalObjectMissing';
/** One class cannot flood the pod's events; the log has every warning. */
export const MAX_EVENTS_PER_MOUNT = 10;

export interface MountServiceOptions {
  /** A pod's mount answers the files (true) or writes them into its volume; a SecretSync's answers them. */
  driverWritesSecrets: boolean;
  /** The provider's AWS_REGION. */
  defaultRegion: string | undefined;
  lookups: PodLookups;
  identity: Pick<IdentityResolver, 'credentials'>;
  clients: AwsClients;
  valueCache: ValueCache;
  /** AWS answers shared by the mounts of one verified identity; without it every mount asks AWS itself. */
  sharedAnswers?: SharedAnswers;
  metrics: ProviderMetrics;
  logger: Logger;
  /**
   * Where warnings about the class go, as Events on the pod. The provider API has no field for a
   * warning (a Mount answers files or an error), so the provider records them itself, which needs
   * RBAC on core `events`. Only a pod's request records any: the pod a SecretSync's request names
   * is the sync controller's, not the workload's, and may not be in that namespace at all.
   */
  events: EventRecorder;
  /** AWS calls in flight at once for one mount. */
  concurrency: number;
}

/**
 * Provider-writes mode: the same atomic payload swap as the driver's (`..data`), so that a pod
 * sees either all the old files or all the new ones, and a failure midway leaves the old ones.
 * With a group, the files are that group's from the moment they appear (the driver's own writes
 * do the same), so a non-root pod never sees them unreadable, not even during a rotation.
 */
function writeIntoMount(targetPath: string, files: readonly MountFile[], group: number | undefined): void {
  try {
    writePayload(targetPath, files, { group });
  } catch (err) {
    throw new MountError('WriteError', describeWriteFailure(targetPath, group, err), { cause: err });
  }
}

/**
 * The chart runs this provider without CAP_CHOWN, so it can give files only to a group the volume
 * already belongs to: our driver mounts it so (setgid, gid=the group); a driver that does not
 * (upstream's) leaves it root's, and a class's fileGroup cannot be honoured there.
 */
export function describeWriteFailure(targetPath: string, group: number | undefined, err: unknown): string {
  const message = (err as Error).message;
  if (group !== undefined && (err as NodeJS.ErrnoException).code === 'EPERM')
    return (
      `fileGroup ${group}: cannot give the files in ${targetPath} to the group (${message}): the volume ` +
      `does not belong to it, and this provider may not change a file's group; a driver that mounts the ` +
      `volume for the group (this project's) is needed, or leave fileGroup out`
    );
  return `failed to write the files into ${targetPath}: ${message}`;
}

export class MountService {
  constructor(private readonly o: MountServiceOptions) {}

  /**
   * What the class does that upstream accepts but its author probably did not mean: logged, and
   * recorded on the pod, at its first mount only (a remount carries the mounted versions) so that
   * rotation does not repeat them every poll interval. The mount does not wait for the Events.
   * A SecretSync's request is only logged (see `events`); the sync controller polls with no
   * versions, so its every request logs them.
   */
  private announceWarnings(input: MountInput): void {
    if (input.warnings.length === 0 || input.currentVersions.size > 0) return;
    const { namespace, name } = input.pod;
    const spc = input.secretProviderClass ? `${namespace}/${input.secretProviderClass}` : 'parameters';
    const messages = input.warnings.map((w) => `SecretProviderClass ${spc}: ${w}`);
    for (const warning of messages)
      this.o.logger.warn(
        { ...requesterFields(input), warning },
        'SecretProviderClass accepted with a warning',
      );
    if (input.requester !== 'pod') return;
    const pod = podReference({ namespace, name, uid: input.pod.uid });
    for (const message of messages.slice(0, MAX_EVENTS_PER_MOUNT))
      this.o.events.record(pod, 'Warning', CLASS_WARNING_REASON, message);
  }

  /**
   * Optional objects AWS said are not there: logged and counted at every mount; recorded on the
   * pod when the volume did not know it yet (its first mount, or the rotation that removed the
   * file), not at every rotation poll while the object stays missing. With `keptOnVolume`, the
   * answer has no file at all and the driver writes the files: it reads an empty list as files the
   * provider wrote itself (upstream's providers that do rely on it), so the last files stay.
   */
  private announceMissing(input: MountInput, misses: readonly Miss[], keptOnVolume: boolean): void {
    const requester = input.requester;
    const pod = podReference({ namespace: input.pod.namespace, name: input.pod.name, uid: input.pod.uid });
    let recorded = 0;
    for (const { what, object, type, region, code, file, unnamedIn } of misses) {
      this.o.metrics.optionalObjectMissing(type, requester);
      const mounted = input.currentVersions.get(file);
      // A tree's files are under its directory: `<fileName>/<entry>`.
      const mountedBefore = [...input.currentVersions].some(
        ([id, version]) => version !== MISSING_VERSION && (id === file || id.startsWith(`${file}/`)),
      );
      const removed = mountedBefore && !keptOnVolume;
      const message =
        `${what} is missing in ${region} (${code}): ` +
        (unnamedIn !== undefined
          ? `its name makes no file name in directory ${JSON.stringify(unnamedIn)}, so the volume has no file for it`
          : removed
            ? `its file ${JSON.stringify(file)} was removed from the volume`
            : mountedBefore
              ? `its file ${JSON.stringify(file)} stays on the volume with its last value until an object of the volume is present again (every object of the volume is missing, and an answer without files leaves the volume as it is)`
              : `the volume has no file ${JSON.stringify(file)}`);
      this.o.logger.warn(
        {
          ...requesterFields(input),
          object,
          region,
          code,
          removed,
          keptOnVolume: mountedBefore && keptOnVolume,
        },
        'optional object missing',
      );
      if (requester !== 'pod' || mounted === MISSING_VERSION || recorded >= MAX_EVENTS_PER_MOUNT) continue;
      this.o.events.record(pod, 'Warning', OPTIONAL_MISSING_REASON, message);
      recorded++;
    }
  }

  /**
   * The class's region, else the provider's AWS_REGION, else, for a pod, its node's region label.
   * The pod a SecretSync's request names is the sync controller's: its node says nothing.
   */
  private async regionOf(input: MountInput, signal?: AbortSignal): Promise<string> {
    const region = input.region ?? this.o.defaultRegion;
    if (region) return region;
    const { namespace, name, serviceAccount } = input.pod;
    if (input.requester === 'pod') return this.o.lookups.nodeRegion(namespace, name, signal);
    throw new MountError(
      'RegionNotFound',
      `no region for the request of ServiceAccount ${namespace}/${serviceAccount} (a SecretSync's, from the sync controller, whose own pod's node is not used): set "region" in the SecretProviderClass, or AWS_REGION in the environment of the provider next to the sync controller`,
    );
  }

  async mount(req: MountRequest__Output, signal?: AbortSignal): Promise<MountResponse> {
    const started = performance.now();
    let requester: Requester | 'unknown' = 'unknown';
    let fields: Record<string, string> = {};
    let round: MountRound | undefined;
    try {
      const input = parseMountRequest(req);
      requester = input.requester;
      fields = requesterFields(input);
      const forPod = input.requester === 'pod';
      round = this.o.sharedAnswers?.beginMount(input.targetPath, input.currentVersions.size > 0);
      this.announceWarnings(input);
      const region = await this.regionOf(input, signal);
      const descriptors = parseDescriptors(input, region);
      const templates = parseTemplates(input, descriptors);
      const credentials = new Map<string, Promise<AwsCredentials>>();
      const fetched = await fetchObjects(
        {
          clients: this.clientsFor(round),
          valueCache: forPod ? this.o.valueCache : KEEP_NO_VALUES,
          targetPath: input.targetPath,
          region,
          failoverRegion: input.failoverRegion,
          currentVersions: input.currentVersions,
          concurrency: this.o.concurrency,
          signal,
          credentials: (r) => {
            let c = credentials.get(r);
            if (!c) {
              c = this.o.identity.credentials(input, r, signal);
              credentials.set(r, c);
            }
            return c;
          },
        },
        descriptors,
      );
      const misses = missesOf(fetched);
      const objectFiles = filesOf(fetched, input.defaultMode);
      // The sync controller has no volume here: it needs the files in the answer.
      const answerFiles = this.o.driverWritesSecrets || !forPod;
      // A templated file is rendered or fails the mount: with one, no answer is empty.
      const noFileAnswered = answerFiles && objectFiles.length === 0 && templates.length === 0;
      this.announceMissing(input, misses, noFileAnswered);
      const templated = templatedFilesOf(templates, objectFiles, input.defaultMode, misses);
      const files = [...objectFiles, ...templated];
      const objectVersion = objectVersionsOf(files, fetched);
      if (!answerFiles) writeIntoMount(input.targetPath, files, input.fileGroup);
      const seconds = (performance.now() - started) / 1000;
      this.o.metrics.mounted('success', requester, seconds);
      this.o.logger.info(
        {
          ...fields,
          identity: input.usePodIdentity ? 'pod-identity' : 'irsa',
          region,
          objects: descriptors.length,
          files: files.length,
          durationMs: Math.round(seconds * 1000),
        },
        'mount served',
      );
      return {
        objectVersion,
        files: answerFiles ? files.map((f) => ({ path: f.path, mode: f.mode, contents: f.contents })) : [],
      };
    } catch (err) {
      const reason = failureOf(err);
      this.o.metrics.mounted(reason, requester, (performance.now() - started) / 1000);
      if (err instanceof MountError)
        this.o.logger.warn({ ...fields, reason, err: err.message }, 'mount failed');
      throw err;
    } finally {
      round?.end();
    }
  }

  /** The AWS clients of one mount: their reads shared with the other mounts of the same identity. */
  private clientsFor(round: MountRound | undefined): Pick<AwsClients, 'secretsManager' | 'ssm'> {
    const shared = this.o.sharedAnswers;
    if (!shared || !round) return this.o.clients;
    return {
      secretsManager: (region, credentials) =>
        shared.secretsManager(this.o.clients.secretsManager(region, credentials), credentials, region, round),
      ssm: (region, credentials) =>
        shared.ssm(this.o.clients.ssm(region, credentials), credentials, region, round),
    };
  }
}
