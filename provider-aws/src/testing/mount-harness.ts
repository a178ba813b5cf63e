// For unit tests of the Mount handler (mount.ts): a MountService with AWS in memory (FakeAws), the
// pod's Kubernetes lookups answered at once, one fixed set of credentials for every pod, warnings
// recorded and log lines kept. Any part can be replaced (a real IdentityResolver over FakeSts,
// wrapped clients, SharedAnswers, the mode), so each test file states only what it is about.
import type { EventRecorder, EventType, ObjectReference } from '@sscsi/common';
import { capturingLogger } from '@sscsi/common/testing';
import type { MountRequest__Output } from '@sscsi/proto';
import { Registry } from 'prom-client';

import { ValueCache } from '../fetch/value-cache';
import { ProviderMetrics } from '../metrics';
import type { MountServiceOptions } from '../mount';
import { MountService } from '../mount';
import { FakeAws } from './fake-aws';

export const REGION = 'us-east-1';
/** The role on every pod's ServiceAccount. */
export const POD_ROLE = 'arn:aws:iam::111122223333:role/app';

/** Records the Events the mount records. */
export class RecordingEvents implements EventRecorder {
  readonly recorded: Array<{ object: ObjectReference; type: EventType; reason: string; message: string }> =
    [];

  record(object: ObjectReference, type: EventType, reason: string, message: string): void {
    this.recorded.push({ object, type, reason, message });
  }
}

export interface MountHarness {
  aws: FakeAws;
  service: MountService;
  valueCache: ValueCache;
  events: RecordingEvents;
  /** The JSON lines the service logged. */
  logs: string[];
  registry: Registry;
}

/** `over` replaces parts of the service; `aws` is the FakeAws behind the default clients. */
export function mountHarness(over: Partial<MountServiceOptions> & { aws?: FakeAws } = {}): MountHarness {
  const { aws = new FakeAws(), ...options } = over;
  const { logger, lines } = capturingLogger();
  const valueCache = options.valueCache ?? new ValueCache();
  const events = new RecordingEvents();
  const registry = new Registry();
  const service = new MountService({
    driverWritesSecrets: true,
    defaultRegion: undefined,
    lookups: { roleArn: async () => POD_ROLE, nodeRegion: async () => REGION },
    identity: {
      credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 't' }),
    },
    clients: aws.clients,
    valueCache,
    metrics: new ProviderMetrics(registry),
    logger,
    events,
    concurrency: 8,
    ...options,
  });
  return { aws, service, valueCache, events, logs: lines, registry };
}

/** The pod of a mount, as the kubelet describes it to the driver. */
export interface MountingPod {
  name: string;
  namespace: string;
  uid: string;
  serviceAccount: string;
}

/** The attributes the driver passes for `pod`: who it is and its ServiceAccount tokens (JSON). */
export function podAttributes(pod: MountingPod, tokens: string): Record<string, string> {
  return {
    'csi.storage.k8s.io/pod.name': pod.name,
    'csi.storage.k8s.io/pod.namespace': pod.namespace,
    'csi.storage.k8s.io/pod.uid': pod.uid,
    'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
    'csi.storage.k8s.io/serviceAccount.tokens': tokens,
  };
}

/** A Mount request as the driver sends it: attributes as JSON, no node-publish secrets, 0644. */
export function mountRequest(
  targetPath: string,
  attributes: Record<string, string>,
  currentObjectVersion: Array<{ id: string; version: string }> = [],
): MountRequest__Output {
  return {
    attributes: JSON.stringify(attributes),
    secrets: 'null',
    targetPath,
    permission: '420',
    currentObjectVersion,
  };
}
