// The provider's gRPC server: the provider API (Version, Mount) and the standard health service,
// on one Unix socket. Errors go through toServiceError, once.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@sscsi/common';
import { unary } from '@sscsi/common';
import type { CSIDriverProviderHandlers, HealthHandlers } from '@sscsi/proto';
import { loadHealth, loadProvider, PROVIDER_API_VERSION } from '@sscsi/proto';

import type { MountService } from './mount';

export const RUNTIME_NAME = 'secrets-store-csi-driver-provider-aws';

export interface ProviderServerOptions {
  mount: MountService;
  runtimeVersion: string;
  logger: Logger;
  /** Largest Mount response; the driver accepts 4 MiB unless told otherwise. */
  maxSendMessageSize?: number;
}

function signalOf(call: grpc.ServerUnaryCall<unknown, unknown>): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new Error('cancelled by the driver')));
  const deadline = call.getDeadline();
  const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
  if (Number.isFinite(ms)) return AbortSignal.any([controller.signal, AbortSignal.timeout(Math.max(0, ms))]);
  return controller.signal;
}

export function createProviderServer(o: ProviderServerOptions): grpc.Server {
  const server = new grpc.Server({ 'grpc.max_send_message_length': o.maxSendMessageSize ?? -1 });
  const provider: CSIDriverProviderHandlers = {
    Version: unary(o.logger, 'Version', async () => ({
      version: PROVIDER_API_VERSION,
      runtimeName: RUNTIME_NAME,
      runtimeVersion: o.runtimeVersion,
    })),
    Mount: unary(o.logger, 'Mount', (request, call) => o.mount.mount(request, signalOf(call))),
  };
  const served = new Set(['', 'v1alpha1.CSIDriverProvider']);
  const health: HealthHandlers = {
    Check: (call, callback) => {
      if (!served.has(call.request.service)) {
        callback({
          code: grpc.status.NOT_FOUND,
          details: `unknown service ${JSON.stringify(call.request.service)}`,
        });
        return;
      }
      callback(null, { status: 'SERVING' });
    },
    Watch: (call) => {
      call.write({ status: served.has(call.request.service) ? 'SERVING' : 'SERVICE_UNKNOWN' });
      // The status never changes while the process runs; the stream stays open until the client leaves.
    },
  };
  server.addService(loadProvider().v1alpha1.CSIDriverProvider.service, provider);
  server.addService(loadHealth().grpc.health.v1.Health.service, health);
  return server;
}
