// Filling a pod's volume: its SecretProviderClass read and checked, the provider asked for the
// objects, the files written, and the SecretProviderClassPodStatus recorded. The same steps serve a
// first publish, the refill of an empty mount and a rotation; what differs is what is known of the
// volume before (the object versions it holds).
import type {
  PayloadFile,
  ProviderGateway,
  SecretProviderClass,
  SecretProviderClassObject,
} from '@sscsi/common';
import {
  describeKubeFailure,
  FileOwnershipAttr,
  PayloadError,
  statusOfKubeFailure,
  writePayload,
} from '@sscsi/common';

import { DriverError, driverErrorOfProviderCall } from '../errors';
import type { VolumeOwnership } from '../files/file-ownership';
import { volumeOwnership } from '../files/file-ownership';
import { providerOfClass } from '../kube/class-spec';
import type { PodStatusStore } from '../kube/pod-status';
import type { SecretProviderClassSource } from '../kube/secret-provider-classes';
import type { PhaseTimer } from './phase-timer';
import type { PublishRequest } from './publish-request';
import { Attr } from './publish-request';

/** The pod's SecretProviderClass, with what the driver decided from it for this volume. */
export type VolumeClass = SecretProviderClass & { provider: string; ownership: VolumeOwnership };

export interface FilledVolume {
  /** The object versions the provider reported, now recorded in the pod status. */
  objects: SecretProviderClassObject[];
  /** The files changed, or (when the provider wrote them itself) the versions did. */
  changed: boolean;
}

export interface VolumeFillerOptions {
  nodeId: string;
  providers: ProviderGateway;
  classes: SecretProviderClassSource;
  podStatus: PodStatusStore;
}

function sameObjects(
  a: readonly SecretProviderClassObject[],
  b: readonly SecretProviderClassObject[],
): boolean {
  if (a.length !== b.length) return false;
  const versions = new Map(a.map((o) => [o.id, o.version]));
  return b.every((o) => versions.get(o.id) === o.version);
}

export class VolumeFiller {
  constructor(private readonly o: VolumeFillerOptions) {}

  /** The pod's class, checked as the driver requires before it asks a provider anything. */
  async classOf(req: PublishRequest, signal?: AbortSignal): Promise<VolumeClass> {
    const { namespace } = req.pod;
    let spc: SecretProviderClass | undefined;
    try {
      spc = await this.o.classes.get(namespace, req.spcName, signal);
    } catch (err) {
      throw new DriverError(
        'FailedToReadSecretProviderClass',
        `failed to get secretproviderclass ${namespace}/${req.spcName}, error: cannot read SecretProviderClass "${req.spcName}" in namespace "${namespace}": ${describeKubeFailure(err)}`,
        { cause: err, code: statusOfKubeFailure(err) },
      );
    }
    if (!spc) {
      throw new DriverError(
        'SecretProviderClassNotFound',
        // Upstream's words first: alerts and upstream's own tests grep the pod's FailedMount event for them.
        `failed to get secretproviderclass ${namespace}/${req.spcName}, error: SecretProviderClass "${req.spcName}" not found in namespace "${namespace}" (a pod can only use a class of its own namespace)`,
      );
    }
    // The same check secrets-store-csi-lint makes before deploy.
    const provider = providerOfClass(spc.spec, namespace, req.spcName);
    const ownership = volumeOwnership(
      spc.spec.parameters,
      req.volumeContext,
      req.volumeMountGroup,
      `${namespace}/${req.spcName}`,
    );
    return { ...spc, provider, ownership };
  }

  /**
   * Asks the provider for the volume's objects, writes its files and records the pod status when
   * the versions changed. `current` is what the volume holds; undefined when that is not known (a
   * volume filled from nothing), and then the status is always recorded.
   */
  async fill(
    req: PublishRequest,
    volumeClass: VolumeClass,
    current: readonly SecretProviderClassObject[] | undefined,
    deadline: Date,
    timer: PhaseTimer,
    signal?: AbortSignal,
  ): Promise<FilledVolume> {
    const content = await this.callProvider(req, volumeClass, current ?? [], deadline, signal);
    timer.lap('providerMs');
    const filesChanged = await this.writeFiles(req.targetPath, content.files, volumeClass.ownership);
    timer.lap('writeMs');
    const versionsChanged = current === undefined || !sameObjects(current, content.objects);
    if (versionsChanged) await this.recordStatus(req, content.objects, signal);
    timer.lap('statusMs');
    return { objects: content.objects, changed: filesChanged ?? versionsChanged };
  }

  /**
   * The attributes sent to the provider: the class's parameters overlaid with the pod's volume
   * context, and the group that owns the files (from fsGroup too), for a provider that writes them.
   */
  private attributes(volumeClass: VolumeClass, req: PublishRequest): string {
    const attributes: Record<string, string> = { ...volumeClass.spec.parameters, ...req.volumeContext };
    if (req.serviceAccountTokens) attributes[Attr.serviceAccountTokens] = req.serviceAccountTokens;
    if (volumeClass.ownership.group !== undefined)
      attributes[FileOwnershipAttr.fileGroup] = String(volumeClass.ownership.group);
    return JSON.stringify(attributes);
  }

  /** The driver's one call to a provider: its failures get the driver's reasons here. */
  private async callProvider(
    req: PublishRequest,
    volumeClass: VolumeClass,
    current: readonly SecretProviderClassObject[],
    deadline: Date,
    signal?: AbortSignal,
  ) {
    try {
      return await this.o.providers.mount(
        volumeClass.provider,
        {
          attributes: this.attributes(volumeClass, req),
          secrets: Object.keys(req.secrets).length > 0 ? JSON.stringify(req.secrets) : 'null',
          targetPath: req.targetPath,
          permission: String(volumeClass.ownership.defaultMode),
          currentObjectVersion: current.map((o) => ({ id: o.id, version: o.version })),
        },
        deadline,
        signal,
      );
    } catch (err) {
      throw driverErrorOfProviderCall(err);
    }
  }

  /** Writes the provider's files; an empty list means the provider wrote them itself (undefined). */
  private async writeFiles(
    targetPath: string,
    files: PayloadFile[],
    ownership: VolumeOwnership,
  ): Promise<boolean | undefined> {
    if (files.length === 0) return undefined;
    try {
      return writePayload(targetPath, files, { group: ownership.group }).changed;
    } catch (err) {
      const what =
        err instanceof PayloadError ? 'the provider sent an invalid file' : 'failed to write the files';
      throw new DriverError('FileWriteError', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async recordStatus(
    req: PublishRequest,
    objects: SecretProviderClassObject[],
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.o.podStatus.record(
        {
          podName: req.pod.name,
          podUid: req.pod.uid,
          namespace: req.pod.namespace,
          secretProviderClassName: req.spcName,
          targetPath: req.targetPath,
          nodeId: this.o.nodeId,
          objects,
        },
        signal,
      );
    } catch (err) {
      throw new DriverError(
        'FailedToUpdateStatus',
        `failed to record SecretProviderClassPodStatus: ${describeKubeFailure(err)}`,
        { cause: err, code: statusOfKubeFailure(err) },
      );
    }
  }
}
