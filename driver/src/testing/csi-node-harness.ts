// For tests of the driver as the kubelet meets it: its CSI gRPC server on a real Unix socket, with
// the real NodeServer and the system mounter (real tmpfs mounts, so root), a provider on a socket
// of its own answering what the test scripts (common's FakeProviderServer), and the
// SecretProviderClasses and pod statuses in the in-memory API (FakeKube). Everything lives in one
// temporary folder; `nodeRoot` is the part the test may fill with kubelet folders.
import * as grpc from '@grpc/grpc-js';
import type { EventRecorder, SecretProviderClass } from '@sscsi/common';
import { listenOnSocket, ProviderClients, Resources, Status } from '@sscsi/common';
import type { MountAnswer } from '@sscsi/common/testing';
import { FakeKube, FakeProviderServer, silentLogger } from '@sscsi/common/testing';
import type { MountRequest__Output } from '@sscsi/proto';
import { loadCsi } from '@sscsi/proto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';

import { NodeServer } from '../csi/node-server';
import { createCsiServer } from '../csi/server';
import { KubePodStatusStore } from '../kube/pod-status';
import { SecretProviderClassCache } from '../kube/secret-provider-classes';
import { DriverMetrics } from '../metrics';
import { systemMounter } from '../mount/mounter';
import { mountsBelow } from './mountinfo';

/** The gRPC status a call ended with (OK included), as the kubelet sees it. */
export interface CallStatus {
  code: Status;
  details: string;
  /** How long the call took, in milliseconds. */
  ms: number;
}

export interface CsiNodeHarnessOptions {
  /** The provider's name: its socket is `<provider>.sock` in the provider folder. */
  provider: string;
  /** Classes stored in the API before the driver starts. */
  classes: SecretProviderClass[];
  /** Largest provider answer the driver accepts (--max-call-recv-msg-size). */
  maxProviderMessageBytes: number;
}

type NodeClient = InstanceType<ReturnType<typeof loadCsi>['csi']['v1']['Node']>;
type IdentityClient = InstanceType<ReturnType<typeof loadCsi>['csi']['v1']['Identity']>;

export class CsiNodeHarness {
  /** Where the test makes kubelet folders; symlinks resolved, as the kernel names mount points. */
  readonly nodeRoot: string;
  readonly kube = new FakeKube();
  readonly provider: FakeProviderServer;
  /** What the provider answers a Mount; the test replaces it before each call. */
  answer: (request: MountRequest__Output) => MountAnswer | Promise<MountAnswer> = () => ({
    code: Status.UNIMPLEMENTED,
    details: 'no answer scripted',
  });
  /** Events the driver recorded (rotation failures), by reason. */
  readonly events = new Map<string, number>();
  private readonly dir: string;
  private readonly server: grpc.Server;
  private readonly providers: ProviderClients;
  private readonly node: NodeClient;
  private readonly identity: IdentityClient;
  /** The node server's calls still running, also those whose caller gave up. */
  private readonly running = new Set<Promise<unknown>>();

  private constructor(options: CsiNodeHarnessOptions) {
    this.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'csi-node-')));
    this.nodeRoot = path.join(this.dir, 'node');
    fs.mkdirSync(this.nodeRoot);
    const providerDir = path.join(this.dir, 'providers');
    this.provider = new FakeProviderServer(path.join(providerDir, `${options.provider}.sock`), {
      mount: (request) => this.answer(request),
      version: () => 'ok',
    });
    for (const spc of options.classes) this.kube.put(Resources.secretProviderClasses.plural, spc);
    const logger = silentLogger();
    this.providers = new ProviderClients({
      searchPaths: [providerDir],
      maxReceiveMessageSize: options.maxProviderMessageBytes,
      logger,
      retryDelayMs: 1,
    });
    const events: EventRecorder = {
      record: (_object, _type, reason) => this.events.set(reason, (this.events.get(reason) ?? 0) + 1),
    };
    const node = new NodeServer({
      nodeId: 'node-1',
      rotationEnabled: true,
      // Every republish asks the provider: each one is a rotation the fuzzer can script.
      rotationPollIntervalMs: 0,
      mounter: systemMounter().mounter,
      providers: this.providers,
      classes: new SecretProviderClassCache(this.kube, logger),
      podStatus: new KubePodStatusStore(this.kube),
      events,
      metrics: new DriverMetrics(new Registry()),
      logger,
    });
    this.server = createCsiServer({
      driverName: 'secrets-store.csi.k8s.io',
      vendorVersion: 'test',
      nodeId: 'node-1',
      node: {
        publishVolume: (...args) => this.track(node.publishVolume(...args)),
        unpublishVolume: (...args) => this.track(node.unpublishVolume(...args)),
      },
      logger,
    });
    const csi = loadCsi().csi.v1;
    const socket = `unix://${path.join(this.dir, 'csi.sock')}`;
    this.node = new csi.Node(socket, grpc.credentials.createInsecure());
    this.identity = new csi.Identity(socket, grpc.credentials.createInsecure());
  }

  static async start(options: CsiNodeHarnessOptions): Promise<CsiNodeHarness> {
    const harness = new CsiNodeHarness(options);
    await harness.provider.start();
    await listenOnSocket(harness.server, path.join(harness.dir, 'csi.sock'));
    return harness;
  }

  /** NodePublishVolume with the kubelet's deadline; never throws: the status is the answer. */
  publish(request: object, timeoutMs: number): Promise<CallStatus> {
    return this.call((options, done) => this.node.nodePublishVolume(request, options, done), timeoutMs);
  }

  unpublish(request: object, timeoutMs: number): Promise<CallStatus> {
    return this.call((options, done) => this.node.nodeUnpublishVolume(request, options, done), timeoutMs);
  }

  /** True when the driver still answers Probe (it did not crash or stall). */
  probe(): Promise<boolean> {
    return new Promise((resolve) =>
      this.identity.probe({}, { deadline: new Date(Date.now() + 5_000) }, (err, res) =>
        resolve(!err && res?.ready?.value === true),
      ),
    );
  }

  /**
   * Resolves once the node server finished every call, also those whose deadline passed; false
   * when some call is still running after `timeoutMs` (a hung driver).
   */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.running]),
        new Promise((resolve) => (timer = setTimeout(resolve, left))),
      ]);
      clearTimeout(timer);
    }
    return true;
  }

  /** Stops everything and removes the folder, unmounting whatever is still mounted in it. */
  async stop(): Promise<void> {
    this.node.close();
    this.identity.close();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.providers.close();
    await this.provider.stop();
    this.unmountAll();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Unmounts everything below the harness's folder, last mounted first, with the umount program
   * (not the code under test); returns what was mounted.
   */
  unmountAll(): string[] {
    const mounts = mountsBelow(this.dir);
    // Lazily: a mount hidden under another one goes with it.
    for (const mountPoint of [...mounts].reverse()) execFileSync('umount', ['-l', mountPoint]);
    return mounts;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
    return work;
  }

  private call(
    start: (options: grpc.CallOptions, done: (err: grpc.ServiceError | null) => void) => void,
    timeoutMs: number,
  ): Promise<CallStatus> {
    const started = Date.now();
    return new Promise((resolve) =>
      start({ deadline: new Date(started + timeoutMs) }, (err) =>
        resolve({
          code: err ? err.code : Status.OK,
          details: err ? err.details : '',
          ms: Date.now() - started,
        }),
      ),
    );
  }
}
