import * as grpc from '@grpc/grpc-js';
import { listenOnSocket } from '@sscsi/common';
import { silentLogger } from '@sscsi/common/testing';
import type { NodePublishVolumeRequest } from '@sscsi/proto';
import { loadCsi } from '@sscsi/proto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { createCsiServer } from './server';

/** A node server that records the signal of each publish and waits for `release` when told to. */
class RecordingNode {
  readonly signals: AbortSignal[] = [];
  hold?: Promise<void>;
  async publishVolume(_req: NodePublishVolumeRequest, _deadline?: Date, signal?: AbortSignal): Promise<void> {
    if (signal) this.signals.push(signal);
    await this.hold;
  }
  async unpublishVolume(): Promise<void> {}
}

/** Resolves once the event loop has gone round a few times (grpc-js reports the end on a later tick). */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('the CSI server', () => {
  let dir: string;
  let server: grpc.Server;
  let client: grpc.Client & {
    nodePublishVolume(
      request: object,
      callback: (err: grpc.ServiceError | null) => void,
    ): grpc.ClientUnaryCall;
  };
  let socket: string;
  const node = new RecordingNode();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csi-server-'));
    socket = path.join(dir, 'csi.sock');
    server = createCsiServer({
      driverName: 'secrets-store.csi.k8s.io',
      vendorVersion: 'test',
      nodeId: 'node-1',
      node,
      logger: silentLogger(),
    });
    await listenOnSocket(server, socket);
    const Node = loadCsi().csi.v1.Node;
    client = new Node(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as typeof client;
  });

  afterAll(async () => {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function publish(): grpc.ClientUnaryCall & { done: Promise<unknown> } {
    let call!: grpc.ClientUnaryCall;
    const done = new Promise((resolve) => {
      call = client.nodePublishVolume({ volumeId: 'v', targetPath: '/t' }, (err) => resolve(err));
    }) as Promise<unknown>;
    return Object.assign(call, { done });
  }

  it('is not aborted once the call has been answered', async () => {
    node.hold = undefined;
    const before = node.signals.length;
    expect(await publish().done).toBeNull();
    await turns();
    const signal = node.signals[before];
    expect(signal).toBeDefined();
    expect(signal?.aborted).toBe(false);
  });

  it('is aborted when the kubelet cancels the call while it runs', async () => {
    let release!: () => void;
    node.hold = new Promise((resolve) => (release = resolve));
    const before = node.signals.length;
    const call = publish();
    while (node.signals.length === before) await turns(1);
    call.cancel();
    const signal = node.signals[before] as AbortSignal;
    while (!signal.aborted) await turns(1);
    expect((signal.reason as Error).message).toBe('call cancelled by the client');
    release();
    expect((await call.done) as grpc.ServiceError).toMatchObject({ code: grpc.status.CANCELLED });
  });

  it('answers Probe ready once it serves: nothing a publish needs is waited for', async () => {
    const Identity = loadCsi().csi.v1.Identity;
    const identity = new Identity(`unix://${socket}`, grpc.credentials.createInsecure());
    const answer = await new Promise((resolve, reject) =>
      identity.probe({}, (err, res) => (err ? reject(err) : resolve(res))),
    );
    identity.close();
    expect(answer).toEqual({ ready: { value: true } });
  });
});
