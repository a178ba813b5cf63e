// For unit tests of a volume's filling and rotation: a VolumeFiller with a fake provider and pod
// status, the class read through `classes`, and the kubelet's request for a temporary target folder.
import type { SecretProviderClass } from '@sscsi/common';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PhaseTimer } from '../csi/phase-timer';
import type { PublishRequest } from '../csi/publish-request';
import { parsePublishRequest } from '../csi/publish-request';
import type { FilledVolume } from '../csi/volume-filler';
import { VolumeFiller } from '../csi/volume-filler';
import { FakePodStatus } from './fake-pod-status';
import { FakeProvider } from './fake-provider';
import { publishRequest } from './publish-requests';

export interface VolumeFillerHarness {
  /** The target folder: remove it after the test. */
  root: string;
  provider: FakeProvider;
  status: FakePodStatus;
  filler: VolumeFiller;
  req: PublishRequest;
}

export function volumeFillerHarness(
  classes: () => Promise<SecretProviderClass | undefined>,
): VolumeFillerHarness {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volume-filler-'));
  const provider = new FakeProvider();
  const status = new FakePodStatus();
  const filler = new VolumeFiller({
    nodeId: 'node-1',
    providers: provider,
    classes: { get: () => classes() },
    podStatus: status,
  });
  return { root, provider, status, filler, req: parsePublishRequest(publishRequest(root)) };
}

/** Ten seconds from now: the deadline of the kubelet's call. */
export const deadline = (): Date => new Date(Date.now() + 10_000);

/** A first publish of `req`: its class read, nothing held yet. */
export async function fillFromNothing(filler: VolumeFiller, req: PublishRequest): Promise<FilledVolume> {
  return filler.fill(req, await filler.classOf(req), undefined, deadline(), new PhaseTimer());
}
