// For unit tests: a provider on a real Unix socket that answers what the test scripts, per call:
// a MountResponse (well formed or not), a gRPC status, or nothing at all. The provider client's
// tests count its calls; the driver's fuzz test scripts each Mount from the request it received.
import * as grpc from '@grpc/grpc-js';
import type { CSIDriverProviderHandlers, MountRequest__Output, MountResponse } from '@sscsi/proto';
import { loadProvider } from '@sscsi/proto';

import { drainServer, listenOnSocket } from '../grpc-server';
import { Status } from '../status-error';

/** A gRPC status the provider fails the call with. */
export interface ProviderStatus {
  code: Status;
  details: string;
}

/** What the provider does with a Mount: answer it, fail it, or never answer ('hang'). */
export type MountAnswer = MountResponse | ProviderStatus | 'hang';

/** How the fake provider answers; tests change it between calls. */
export interface ProviderBehaviour {
  mount: (request: MountRequest__Output) => MountAnswer | Promise<MountAnswer>;
  version: () => ProviderStatus | 'ok' | 'hang';
}

const isStatus = (answer: MountResponse | ProviderStatus): answer is ProviderStatus => 'code' in answer;

export class FakeProviderServer {
  mountCalls = 0;
  versionCalls = 0;
  private server?: grpc.Server;

  constructor(
    readonly socketPath: string,
    readonly behaviour: ProviderBehaviour,
  ) {}

  async start(): Promise<void> {
    const server = new grpc.Server();
    const handlers: CSIDriverProviderHandlers = {
      Version: (_call, callback) => {
        this.versionCalls++;
        const answer = this.behaviour.version();
        if (answer === 'hang') return;
        if (answer === 'ok')
          callback(null, { version: 'v1alpha1', runtimeName: 'fake', runtimeVersion: '1' });
        else callback(answer as grpc.ServiceError);
      },
      Mount: (call, callback) => {
        this.mountCalls++;
        Promise.resolve()
          .then(() => this.behaviour.mount(call.request))
          .then(
            (answer) => {
              if (answer === 'hang') return;
              if (isStatus(answer)) callback(answer as grpc.ServiceError);
              else callback(null, answer);
            },
            (err: unknown) =>
              callback({
                code: Status.INTERNAL,
                details: `fake provider failed: ${String(err)}`,
              } as grpc.ServiceError),
          );
      },
    };
    server.addService(loadProvider().v1alpha1.CSIDriverProvider.service, handlers);
    await listenOnSocket(server, this.socketPath);
    this.server = server;
  }

  async stop(): Promise<void> {
    if (this.server) await drainServer(this.server, this.socketPath, 0);
    this.server = undefined;
  }
}
