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

/** The driver's side of a call: its cancellation and deadline, as one signal. */
export interface CallSignal {
  signal: AbortSignal;
  /** The call is over: stop watching it (no timer or listener outlives the call). */
  done(): void;
}

/** What signalFor needs of a gRPC call. */
export interface CancellableCall {
  on(event: 'cancelled', listener: () => void): unknown;
  removeListener(event: 'cancelled', listener: () => void): unknown;
  getDeadline(): grpc.Deadline;
}

/**
 * One controller and at most one timer per call, both released when the call ends: a signal of
 * AbortSignal.timeout() would keep its timer, and AbortSignal.any() its bookkeeping, until the
 * deadline, long after the answer (2,000 mounts in a minute kept thousands of them).
 */
export function signalFor(call: CancellableCall): CallSignal {
  const controller = new AbortController();
  const cancelled = () => controller.abort(new Error('cancelled by the driver'));
  call.on('cancelled', cancelled);
  const deadline = call.getDeadline();
  const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
  const timer = Number.isFinite(ms)
    ? setTimeout(
        () => controller.abort(new DOMException("the driver's deadline passed", 'TimeoutError')),
        Math.max(0, ms),
      )
    : undefined;
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      call.removeListener('cancelled', cancelled);
    },
  };
}

export function createProviderServer(o: ProviderServerOptions): grpc.Server {
  const server = new grpc.Server({ 'grpc.max_send_message_length': o.maxSendMessageSize ?? -1 });
  const provider: CSIDriverProviderHandlers = {
    Version: unary(o.logger, 'Version', async () => ({
      version: PROVIDER_API_VERSION,
      runtimeName: RUNTIME_NAME,
      runtimeVersion: o.runtimeVersion,
    })),
    Mount: unary(o.logger, 'Mount', async (request, call) => {
      const { signal, done } = signalFor(call);
      try {
        return await o.mount.mount(request, signal);
      } finally {
        done();
      }
    }),
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
