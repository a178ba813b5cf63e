// For unit tests of the Secret sync: the controller against the in-memory API (FakeKube) and real
// files in a temporary kubelet folder, with the events it records and the lines it logs.
import type { Pod, Secret, SecretObject, SecretProviderClassPodStatus } from '@sscsi/common';
import { capturingLogger, FakeKube, until as untilValue } from '@sscsi/common/testing';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { NODE_LABEL } from '../kube/pod-status';
import { SecretProviderClassCache } from '../kube/secret-provider-classes';
import type { SecretSyncOptions } from '../sync/secret-sync';
import { SecretSync } from '../sync/secret-sync';

export const DRIVER = 'secrets-store.csi.k8s.io';
export const NODE = 'node-1';
export const NS = 'default';
export const SECRETS = 'secrets';

export interface RecordedEvent {
  pod: string;
  type: string;
  reason: string;
  message: string;
}

export const dbSecret = (secretName = 'db'): SecretObject => ({
  secretName,
  type: 'Opaque',
  data: [{ objectName: 'password', key: 'password' }],
});

/** Polls `check` until it holds a value; fails naming `what` after `timeoutMs`. */
export const until = <T>(what: string, check: () => T | undefined | false, timeoutMs = 5000): Promise<T> =>
  untilValue(check, timeoutMs, what);

/** The Secret sync of node NODE, its SecretProviderClass cache and the API they share. */
export class Harness {
  readonly events: RecordedEvent[] = [];
  readonly logs: string[];
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-sync-'));
  readonly classes: SecretProviderClassCache;
  readonly sync: SecretSync;

  constructor(
    options: Partial<SecretSyncOptions> = {},
    readonly api = new FakeKube(),
  ) {
    const { logger, lines } = capturingLogger(5);
    this.logs = lines;
    this.classes = new SecretProviderClassCache(this.api, logger);
    this.sync = new SecretSync({
      kube: this.api,
      nodeId: NODE,
      driverName: DRIVER,
      classes: this.classes,
      mounter: { isMountPoint: async (p) => fs.existsSync(p) },
      events: {
        record: (pod, type, reason, message) =>
          this.events.push({ pod: `${pod.namespace}/${pod.name}`, type, reason, message }),
      },
      metrics: { secretSynced: () => undefined },
      logger,
      requeueAfterMs: 20,
      retryBaseDelayMs: 10,
      ...options,
    });
  }

  start(): void {
    this.classes.start();
    this.sync.start();
  }

  async stop(): Promise<void> {
    await this.sync.stop();
    await this.classes.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  addClass(name: string, secretObjects: SecretObject[] = [dbSecret()]): void {
    this.api.put('secretproviderclasses', {
      metadata: { name, namespace: NS },
      spec: { provider: 'test', secretObjects },
    });
  }

  /** A pod on this node with one volume of `spc` holding `files`, last changed at `changedAt`. */
  addPod(
    name: string,
    spc: string,
    files: Record<string, string>,
    o: { changedAt?: number; owner?: string; phase?: string; silently?: boolean } = {},
  ): { pod: Pod; targetPath: string } {
    const pod = this.api.put<Pod>(
      'pods',
      {
        metadata: {
          name,
          namespace: NS,
          ownerReferences: o.owner
            ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: `uid-${o.owner}` }]
            : undefined,
        },
        spec: {
          nodeName: NODE,
          volumes: [
            { name: 'secrets', csi: { driver: DRIVER, volumeAttributes: { secretProviderClass: spc } } },
          ],
        },
        status: { phase: o.phase ?? 'Running' },
      },
      o.silently,
    );
    const targetPath = path.join(
      this.root,
      'pods',
      pod.metadata.uid ?? '',
      'volumes',
      'kubernetes.io~csi',
      'secrets',
      'mount',
    );
    fs.mkdirSync(targetPath, { recursive: true });
    for (const [file, content] of Object.entries(files)) {
      fs.writeFileSync(path.join(targetPath, file), content);
      if (o.changedAt !== undefined) {
        const when = new Date(o.changedAt);
        fs.utimesSync(path.join(targetPath, file), when, when);
      }
    }
    return { pod, targetPath };
  }

  /** The status the driver's publish records for a pod's volume. */
  addStatus(pod: Pod, spc: string, targetPath: string): SecretProviderClassPodStatus {
    return this.api.put<SecretProviderClassPodStatus>('secretproviderclasspodstatuses', {
      metadata: {
        name: `${pod.metadata.name}-${NS}-${spc}`,
        namespace: NS,
        labels: { [NODE_LABEL]: NODE },
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
        ],
      },
      status: {
        podName: pod.metadata.name,
        secretProviderClassName: spc,
        mounted: true,
        targetPath,
        objects: [],
      },
    });
  }

  mountedPod(name: string, spc: string, password: string, o: Parameters<Harness['addPod']>[3] = {}) {
    const { pod, targetPath } = this.addPod(name, spc, { password }, o);
    const status = this.addStatus(pod, spc, targetPath);
    return { pod, targetPath, status };
  }

  secret(name = 'db'): Secret | undefined {
    return this.api.object<Secret>(SECRETS, NS, name);
  }

  password(name = 'db'): string | undefined {
    const value = this.secret(name)?.data?.password;
    return value === undefined ? undefined : Buffer.from(value, 'base64').toString();
  }

  writes(): number {
    return (
      this.api.count('POST', SECRETS) + this.api.count('PUT', SECRETS) + this.api.count('DELETE', SECRETS)
    );
  }
}
