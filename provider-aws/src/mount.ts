// Mount: where a request becomes files. Parse and check everything, find the region, get the pod's
// credentials, fetch the objects, and return the files to the driver (or write them here when the
// provider writes secrets itself). A failed mount writes nothing.
import type { EventRecorder, Logger } from '@sscsi/common';
import { podReference, writePayload } from '@sscsi/common';
import type { MountRequest__Output, MountResponse } from '@sscsi/proto';

import type { AwsClients } from './aws-clients';
import type { AwsCredentials } from './credentials/credential-cache';
import type { IdentityResolver } from './credentials/identity';
import { failureOf, MountError } from './errors';
import { fetchObjects } from './fetch/object-fetcher';
import type { MountRound, SharedAnswers } from './fetch/shared-answers';
import type { ValueCache } from './fetch/value-cache';
import type { PodLookups } from './kube-lookups';
import { filesOf } from './layout/files';
import type { MountFile } from './layout/mount-file';
import type { ProviderMetrics } from './metrics';
import type { MountInput } from './parameters/mount-request';
import { parseDescriptors, parseMountRequest } from './parameters/mount-request';

/** The reason of the pod Events that carry warnings about the class. */
export const CLASS_WARNING_REASON = 'SecretProviderClassWarning';
/** One class cannot flood the pod's events; the log has every warning. */
export const MAX_EVENTS_PER_MOUNT = 10;

export interface MountServiceOptions {
  driverWritesSecrets: boolean;
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
   * RBAC on core `events`.
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
   */
  private announceWarnings(input: MountInput): void {
    if (input.warnings.length === 0 || input.currentVersions.size > 0) return;
    const { namespace, name } = input.pod;
    const spc = input.secretProviderClass ? `${namespace}/${input.secretProviderClass}` : 'parameters';
    const messages = input.warnings.map((w) => `SecretProviderClass ${spc}: ${w}`);
    for (const warning of messages)
      this.o.logger.warn(
        { pod: `${namespace}/${name}`, warning },
        'SecretProviderClass accepted with a warning',
      );
    const pod = podReference({ namespace, name, uid: input.pod.uid });
    for (const message of messages.slice(0, MAX_EVENTS_PER_MOUNT))
      this.o.events.record(pod, 'Warning', CLASS_WARNING_REASON, message);
  }

  async mount(req: MountRequest__Output, signal?: AbortSignal): Promise<MountResponse> {
    const started = performance.now();
    let pod = '';
    let round: MountRound | undefined;
    try {
      const input = parseMountRequest(req);
      pod = `${input.pod.namespace}/${input.pod.name}`;
      round = this.o.sharedAnswers?.beginMount(input.targetPath, input.currentVersions.size > 0);
      this.announceWarnings(input);
      const region =
        input.region ??
        this.o.defaultRegion ??
        (await this.o.lookups.nodeRegion(input.pod.namespace, input.pod.name, signal));
      const descriptors = parseDescriptors(input, region);
      const credentials = new Map<string, Promise<AwsCredentials>>();
      const fetched = await fetchObjects(
        {
          clients: this.clientsFor(round),
          valueCache: this.o.valueCache,
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
      const files = filesOf(fetched, input.defaultMode);
      const objectVersion = files.map((f) => ({ id: f.path, version: f.version }));
      if (!this.o.driverWritesSecrets) writeIntoMount(input.targetPath, files, input.fileGroup);
      const seconds = (performance.now() - started) / 1000;
      this.o.metrics.mounted('success', seconds);
      this.o.logger.info(
        {
          pod,
          serviceAccount: input.pod.serviceAccount,
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
        files: this.o.driverWritesSecrets
          ? files.map((f) => ({ path: f.path, mode: f.mode, contents: f.contents }))
          : [],
      };
    } catch (err) {
      const reason = failureOf(err);
      this.o.metrics.mounted(reason, (performance.now() - started) / 1000);
      if (err instanceof MountError) this.o.logger.warn({ pod, reason, err: err.message }, 'mount failed');
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
