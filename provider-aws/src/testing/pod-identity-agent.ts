// For unit tests: an EKS Pod Identity agent on 127.0.0.1, answering as the test says, that records
// the Authorization header (the pod's token) of each request it gets.
import type http from 'node:http';

import { type LoopbackServer, serveOnLoopback } from '@sscsi/common/testing';

export class PodIdentityAgentOnLoopback {
  readonly authorizations: string[] = [];
  private server: LoopbackServer | undefined;

  constructor(private readonly answer: (token: string, res: http.ServerResponse) => void) {}

  /** Starts listening; the agent's credentials URL. */
  async start(): Promise<string> {
    this.server = await serveOnLoopback((req, res) => {
      const token = String(req.headers.authorization ?? '');
      this.authorizations.push(token);
      this.answer(token, res);
    });
    return `${this.server.url}/v1/credentials`;
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }
}
