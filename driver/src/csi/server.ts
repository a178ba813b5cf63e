// The CSI gRPC server: Identity, Node and the one Controller call csi-sanity needs. Handlers are
// thin: they turn the call into NodeServer work, and every error goes through toServiceError.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@sscsi/common';
import { unary } from '@sscsi/common';
import type { ControllerHandlers, IdentityHandlers, NodeHandlers } from '@sscsi/proto';
import { loadCsi } from '@sscsi/proto';

import type { NodeServer } from './node-server';

export interface CsiServerOptions {
  driverName: string;
  vendorVersion: string;
  nodeId: string;
  node: Pick<NodeServer, 'publishVolume' | 'unpublishVolume'>;
  logger: Logger;
}

/**
 * Runs `work` with a signal aborted when the kubelet cancels the call. grpc-js also reports every
 * call as cancelled once its answer is sent, so the signal is let go of when `work` ends: aborting
 * it then cost an Error per call and kept the call's objects alive through whatever still held
 * the signal (a kept-alive connection's first request).
 */
async function withCallSignal<T>(
  call: grpc.ServerUnaryCall<unknown, unknown>,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const cancel = () => controller.abort(new Error('call cancelled by the client'));
  call.once('cancelled', cancel);
  try {
    return await work(controller.signal);
  } finally {
    call.removeListener('cancelled', cancel);
  }
}

/** The kubelet's deadline for the call, if it set one. */
function callDeadline(call: grpc.ServerUnaryCall<unknown, unknown>): Date | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

export function createCsiServer(o: CsiServerOptions): grpc.Server {
  const csi = loadCsi().csi.v1;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });

  const identity: IdentityHandlers = {
    GetPluginInfo: unary(o.logger, 'GetPluginInfo', async () => ({
      name: o.driverName,
      vendorVersion: o.vendorVersion,
    })),
    // No CONTROLLER_SERVICE: the driver only serves nodes.
    GetPluginCapabilities: unary(o.logger, 'GetPluginCapabilities', async () => ({ capabilities: [] })),
    // Ready once serving, as upstream. The liveness probe restarts a driver that is not ready, and
    // nothing waits to be ready: a class the informer has not seen yet is read from the API server.
    Probe: unary(o.logger, 'Probe', async () => ({ ready: { value: true } })),
  };

  const node: NodeHandlers = {
    NodePublishVolume: unary(o.logger, 'NodePublishVolume', async (request, call) => {
      await withCallSignal(call, (signal) => o.node.publishVolume(request, callDeadline(call), signal));
      return {};
    }),
    NodeUnpublishVolume: unary(o.logger, 'NodeUnpublishVolume', async (request, call) => {
      await withCallSignal(call, (signal) => o.node.unpublishVolume(request, callDeadline(call), signal));
      return {};
    }),
    // VOLUME_MOUNT_GROUP: the kubelet then sends the pod's fsGroup, which the files' group follows.
    NodeGetCapabilities: unary(o.logger, 'NodeGetCapabilities', async () => ({
      capabilities: [{ rpc: { type: 'VOLUME_MOUNT_GROUP' } }],
    })),
    NodeGetInfo: unary(o.logger, 'NodeGetInfo', async () => ({ nodeId: o.nodeId, maxVolumesPerNode: '0' })),
  };

  const controller: ControllerHandlers = {
    // csi-sanity's node tests require a non-empty list; UNKNOWN advertises nothing.
    ControllerGetCapabilities: unary(o.logger, 'ControllerGetCapabilities', async () => ({
      capabilities: [{ rpc: { type: 'UNKNOWN' } }],
    })),
  };

  server.addService(csi.Identity.service, identity);
  server.addService(csi.Node.service, node);
  server.addService(csi.Controller.service, controller);
  return server;
}
