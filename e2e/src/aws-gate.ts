// The AWS gate: a small HTTP proxy in front of moto, on 127.0.0.1. It counts calls per service,
// operation and region (moto cannot), injects throttling, server errors and latency on demand, and
// (see ./iam-policy) enforces each assumed role's IAM policy resources, which moto does not.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { PolicyDecision, PolicyEnforcer } from './iam-policy';

export interface AwsRequestInfo {
  service: string;
  operation: string;
  region: string;
  accessKeyId: string;
  body: Buffer;
}

export interface Fault {
  service?: string;
  operation?: string;
  region?: string;
  kind: 'throttle' | 'server-error' | 'latency';
  latencyMs?: number;
  /** How many matching requests it affects; unlimited when absent. */
  times?: number;
}

const JSON_TARGET_PREFIX: Record<string, string> = { secretsmanager: 'secretsmanager', AmazonSSM: 'ssm' };

/** Service, operation and region of a signed AWS request. */
export function describeRequest(headers: http.IncomingHttpHeaders, body: Buffer): AwsRequestInfo {
  const auth = String(headers.authorization ?? '');
  const credential = /Credential=([^/]+)\/\d+\/([^/]+)\/([^/]+)\//.exec(auth);
  const target = String(headers['x-amz-target'] ?? '');
  let operation = target.includes('.') ? target.slice(target.indexOf('.') + 1) : '';
  if (!operation) operation = new URLSearchParams(body.toString('utf8')).get('Action') ?? 'unknown';
  const fromTarget = JSON_TARGET_PREFIX[target.split('.')[0] ?? ''];
  // AssumeRoleWithWebIdentity is not signed: no credential scope names its service.
  const fromAction = /^(AssumeRole|GetCallerIdentity|GetSessionToken)/.test(operation) ? 'sts' : undefined;
  return {
    accessKeyId: credential?.[1] ?? '',
    region: credential?.[2] ?? '',
    service: credential?.[3] ?? fromTarget ?? fromAction ?? 'unknown',
    operation,
    body,
  };
}

function errorAnswer(
  service: string,
  status: number,
  code: string,
  message: string,
): { status: number; type: string; body: string } {
  if (service === 'sts' || service === 'iam') {
    const body = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>gate</RequestId></ErrorResponse>`;
    return { status, type: 'text/xml', body };
  }
  return { status, type: 'application/x-amz-json-1.1', body: JSON.stringify({ __type: code, message }) };
}

export class AwsGate {
  private server?: http.Server;
  private faults: Fault[] = [];
  private readonly counts = new Map<string, number>();
  /** Set by the policy layer (issue 7); when absent everything is allowed, as in plain moto. */
  policy?: PolicyEnforcer;

  constructor(readonly upstream: string) {}

  /** `host`: 127.0.0.1, or the real node's address so that its pods reach the gate. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    this.server = server;
    return this.url;
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (!address) throw new Error('the AWS gate is not started');
    return `http://${address.address}:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  /** Adds a fault; returns a function that removes it. */
  inject(fault: Fault): () => void {
    const entry = { ...fault };
    this.faults.push(entry);
    return () => {
      this.faults = this.faults.filter((f) => f !== entry);
    };
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Calls seen for an operation, in every region or one. */
  count(service: string, operation: string, region?: string): number {
    let total = 0;
    for (const [key, n] of this.counts) {
      const [s, o, r] = key.split('|');
      if (s === service && o === operation && (region === undefined || r === region)) total += n;
    }
    return total;
  }

  /** All counts, as `service.Operation` -> n over every region. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, n] of this.counts) {
      const [s, o] = key.split('|');
      out[`${s}.${o}`] = (out[`${s}.${o}`] ?? 0) + n;
    }
    return out;
  }

  resetCounts(): void {
    this.counts.clear();
  }

  private matchFault(info: AwsRequestInfo, kind: Fault['kind']): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        f.kind === kind &&
        (f.service === undefined || f.service === info.service) &&
        (f.operation === undefined || f.operation === info.operation) &&
        (f.region === undefined || f.region === info.region) &&
        (f.times === undefined || f.times > 0),
    );
    if (fault?.times !== undefined) fault.times -= 1;
    return fault;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const info = describeRequest(req.headers, body);
    const key = `${info.service}|${info.operation}|${info.region}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);

    const reply = (answer: { status: number; type: string; body: string }) => {
      res.writeHead(answer.status, {
        'Content-Type': answer.type,
        'Content-Length': Buffer.byteLength(answer.body),
      });
      res.end(answer.body);
    };
    const latency = this.matchFault(info, 'latency');
    if (latency) await new Promise((resolve) => setTimeout(resolve, latency.latencyMs ?? 1000));
    if (this.matchFault(info, 'throttle')) {
      return reply(
        errorAnswer(
          info.service,
          400,
          info.service === 'sts' ? 'Throttling' : 'ThrottlingException',
          'Rate exceeded',
        ),
      );
    }
    if (this.matchFault(info, 'server-error')) {
      return reply(errorAnswer(info.service, 500, 'InternalServiceError', 'injected server error'));
    }
    let decision: PolicyDecision = { allowed: true };
    if (this.policy) {
      try {
        decision = await this.policy.decide(info);
      } catch (err) {
        return reply(
          errorAnswer(
            info.service,
            500,
            'InternalServiceError',
            `gate policy error: ${(err as Error).message}`,
          ),
        );
      }
    }
    if (!decision.allowed)
      return reply(errorAnswer(info.service, 400, 'AccessDeniedException', decision.message ?? 'denied'));
    this.forward(req, body, info, res);
  }

  private forward(
    req: http.IncomingMessage,
    body: Buffer,
    info: AwsRequestInfo,
    res: http.ServerResponse,
  ): void {
    const target = new URL(req.url ?? '/', this.upstream);
    const upstream = http.request(target, { method: req.method, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const payload = Buffer.concat(chunks);
        if (this.policy && info.service === 'sts' && (answer.statusCode ?? 0) < 300)
          this.policy.learn(info, payload);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.end(payload);
      });
    });
    upstream.on('error', (err) => {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`gate: upstream error ${err.message}`);
    });
    upstream.end(body);
  }
}
