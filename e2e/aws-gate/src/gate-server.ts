// The lab's AWS endpoint. Every request is counted and may meet an injected fault; then it is
// authenticated (a key the gate handed out, its secret, its expiry), authorized against the
// caller's identity policies, and only then answered by moto. STS's own checks and the eks Pod
// Identity API are answered here; so is the control API (/gate/...) and, on its own listener, the
// EKS Pod Identity agent. Refusals are AWS errors in each service's own code and format.
import type { Logger } from '@sscsi/common';
import crypto from 'node:crypto';
import type http from 'node:http';

import type { AwsAnswer } from './aws-errors';
import { AwsError, errorAnswer, refusal } from './aws-errors';
import type { AwsRequest } from './aws-request';
import { describeRequest } from './aws-request';
import type { Authorizer } from './authorizer';
import { handleControl } from './control-api';
import { asAwsAnswers } from './moto-answers';
import type { CallKey, CallCounter, FaultBook, GateClock } from './faults';
import type { CachedIam } from './iam-directory';
import type { EksAuth } from './eks-auth';
import type { Association, LabCluster, PodIdentityAssociations } from './pod-identity';
import { agentCredentials, agentRefusal, agentText, relayedRefusal } from './pod-identity-agent';
import { checkListSecrets } from './list-secrets';
import { PolicyError } from './policy-document';
import type { CachedSecrets } from './secret-directory';
import type { Session, SessionStore } from './sessions';
import { authenticate, credentialsFromStsAnswer } from './sessions';
import type { WireRequest } from './sigv4';
import type { Grant, StsDecisions } from './sts-decisions';
import type { Upstream } from './upstream';

export interface GateParts {
  cluster: LabCluster;
  upstream: Upstream;
  sessions: SessionStore;
  authorizer: Authorizer;
  sts: StsDecisions;
  iam: CachedIam;
  secrets: CachedSecrets;
  associations: PodIdentityAssociations;
  eksAuth: EksAuth;
  faults: FaultBook;
  calls: CallCounter;
  clock: GateClock;
  /** The node's clock: the Pod Identity agent's own token check goes by it, EKS Auth's by `clock`. */
  nodeNow: () => number;
  logger: Logger;
}

/** Reads the request body. */
async function wireOf(req: http.IncomingMessage): Promise<WireRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: req.headers,
    body: Buffer.concat(chunks),
  };
}

function send(
  res: http.ServerResponse,
  answer: AwsAnswer | { status: number; headers: Record<string, string | string[]>; body: Buffer | string },
): void {
  const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
  res.writeHead(answer.status, { ...answer.headers, 'content-length': String(body.length) });
  res.end(body);
}

const json = (status: number, value: unknown) => ({
  status,
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(value),
});

const EKS_ASSOCIATION_OPERATIONS = new Set([
  'CreatePodIdentityAssociation',
  'ListPodIdentityAssociations',
  'DescribePodIdentityAssociation',
  'DeletePodIdentityAssociation',
]);

/** Operations that change what the gate reads back for its decisions. */
const READ_ONLY = /^(Get|List|Describe|BatchGet|Simulate|Generate)/;

export class GateServer {
  constructor(private readonly p: GateParts) {}

  /** A fault of the matching kinds, or undefined: counts the call either way. */
  private async faultFor(call: CallKey): Promise<'throttled' | 'server-error' | undefined> {
    this.p.calls.record(call);
    const latency = this.p.faults.take(call, 'latency');
    if (latency) await new Promise((resolve) => setTimeout(resolve, latency.latencyMs ?? 1000));
    if (this.p.faults.take(call, 'throttle')) return 'throttled';
    if (this.p.faults.take(call, 'server-error')) return 'server-error';
    return undefined;
  }

  /** The AWS endpoint's request handler. */
  handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void this.answer(req)
      .then((answer) => send(res, answer))
      .catch((err: unknown) => {
        this.p.logger.error({ err }, 'gate failure');
        if (!res.headersSent) send(res, json(500, { message: 'gate failure' }));
      });
  };

  private async answer(req: http.IncomingMessage): Promise<Parameters<typeof send>[1]> {
    const wire = await wireOf(req);
    if (wire.url.startsWith('/gate/')) {
      const { status, body } = handleControl(wire, this.p);
      return json(status, body);
    }
    const request = describeRequest(wire, req.socket.remoteAddress ?? '');
    const fault = await this.faultFor(request);
    try {
      if (fault === 'throttled') throw refusal('throttled', request.protocol, 'Rate exceeded');
      if (fault === 'server-error') throw refusal('server-error', request.protocol, 'injected server error');
      return await this.serve(request);
    } catch (err) {
      const error = this.asAwsError(err, request);
      this.p.logger.info(
        {
          service: request.service,
          operation: request.operation,
          region: request.region,
          accessKeyId: request.authorization?.accessKeyId,
          code: error.code,
          status: error.status,
          reason: error.reason ?? error.message,
        },
        'refused',
      );
      return errorAnswer(request.protocol, request.service, error);
    }
  }

  private asAwsError(err: unknown, request: AwsRequest): AwsError {
    if (err instanceof AwsError) return err;
    if (err instanceof PolicyError)
      return refusal('access-denied', request.protocol, `the lab cannot read a policy: ${err.message}`);
    this.p.logger.error({ err, service: request.service, operation: request.operation }, 'gate error');
    return refusal('server-error', request.protocol, `the lab's AWS failed: ${(err as Error).message}`);
  }

  private async serve(request: AwsRequest): Promise<Parameters<typeof send>[1]> {
    if (request.service === 'sts' && request.operation === 'AssumeRoleWithWebIdentity') {
      const grant = await this.p.sts.webIdentity(request);
      return this.forwardAndLearn(request, grant);
    }
    const session = authenticate(request, this.p.sessions, this.p.clock.now());
    if (request.service === 'sts' && request.operation === 'AssumeRole') {
      const grant = await this.p.sts.assumeRole(request, session);
      return this.forwardAndLearn(request, grant);
    }
    await this.p.authorizer.authorize(request, session);
    if (request.service === 'secretsmanager' && request.operation === 'ListSecrets')
      checkListSecrets(request.params);
    if (request.service === 'eks' && EKS_ASSOCIATION_OPERATIONS.has(request.operation))
      return this.associations(request);
    const answer = asAwsAnswers(request, await this.forward(request));
    if (answer.status < 300 && !READ_ONLY.test(request.operation))
      this.invalidateAfterWrite(request, session);
    return answer;
  }

  private async forward(request: AwsRequest) {
    try {
      return await this.p.upstream.forward(request.wire);
    } catch (err) {
      throw refusal(
        'server-error',
        request.protocol,
        `moto behind the gate is unreachable: ${(err as Error).message}`,
      );
    }
  }

  private invalidateAfterWrite(request: AwsRequest, _session: Session): void {
    if (request.service === 'iam') this.p.iam.invalidate();
    if (request.service === 'secretsmanager') this.p.secrets.invalidate();
  }

  /** Forwards an STS AssumeRole* the gate allowed and remembers the session it created. */
  private async forwardAndLearn(request: AwsRequest, grant: Grant) {
    const answer = await this.forward(request);
    const issued = answer.status < 300 ? credentialsFromStsAnswer(answer.body.toString('utf8')) : undefined;
    if (issued) {
      this.p.sessions.add({
        accessKeyId: issued.accessKeyId,
        secretAccessKey: issued.secretAccessKey,
        sessionToken: issued.sessionToken,
        account: this.p.cluster.account,
        kind: 'role',
        arn: issued.arn ?? grant.role.arn,
        roleArn: grant.role.arn,
        roleName: grant.role.name,
        sessionName: grant.sessionName,
        expiresAt: issued.expiresAt,
        sessionTags: grant.sessionTags,
        context: grant.context,
      });
    }
    return answer;
  }

  private associations(request: AwsRequest) {
    const { params } = request;
    const associations = this.p.associations;
    const body = (association: Association) => ({
      association: { ...association, disableSessionTags: false },
    });
    switch (request.operation) {
      case 'CreatePodIdentityAssociation':
        return json(200, body(associations.create(params.clusterName, params)));
      case 'DescribePodIdentityAssociation':
        return json(200, body(associations.describe(params.clusterName, params.associationId)));
      case 'DeletePodIdentityAssociation':
        return json(200, body(associations.delete(params.clusterName, params.associationId)));
      default: {
        const list = associations.list(params.clusterName, {
          namespace: params.namespace,
          serviceAccount: params.serviceAccount,
        });
        return json(200, {
          associations: list.map((a) => ({
            clusterName: a.clusterName,
            namespace: a.namespace,
            serviceAccount: a.serviceAccount,
            associationArn: a.associationArn,
            associationId: a.associationId,
          })),
          nextToken: null,
        });
      }
    }
  }

  /** The EKS Pod Identity agent's handler: GET /v1/credentials with the pod's token. */
  handleAgent = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void this.agentAnswer(req)
      .then((answer) => send(res, answer))
      .catch((err: unknown) => {
        this.p.logger.error({ err }, 'agent failure');
        if (!res.headersSent) send(res, { status: 500, headers: {}, body: 'agent failure' });
      });
  };

  private async agentAnswer(req: http.IncomingMessage): Promise<Parameters<typeof send>[1]> {
    const wire = await wireOf(req);
    if (wire.url.split('?')[0] !== '/v1/credentials') return agentText(404, '404 page not found');
    if (wire.method !== 'GET') return agentText(405, 'Method Not Allowed');
    const token = String(req.headers.authorization ?? '');
    // The agent's own check: what it refuses never reaches EKS Auth (nor its count and faults).
    const refused = agentRefusal(token, this.p.nodeNow() / 1000);
    if (refused !== undefined) {
      this.p.logger.info({ status: 400, reason: refused }, 'agent refused');
      return agentText(400, refused);
    }
    const call = {
      service: 'eks-auth',
      operation: 'AssumeRoleForPodIdentity',
      region: this.p.cluster.region,
    };
    const fault = await this.faultFor(call);
    try {
      if (fault === 'throttled') throw new AwsError('ThrottlingException', 429, 'Rate exceeded');
      if (fault === 'server-error')
        throw new AwsError('InternalServerException', 500, 'injected server error');
      const grant = await this.p.eksAuth.assumeRoleForPodIdentity(this.p.cluster.name, token);
      return json(200, agentCredentials(grant));
    } catch (err) {
      const error =
        err instanceof AwsError ? err : new AwsError('InternalServerException', 500, (err as Error).message);
      if (!(err instanceof AwsError)) this.p.logger.error({ err }, 'agent error');
      this.p.logger.info(
        {
          service: 'eks-auth',
          code: error.code,
          status: error.status,
          reason: error.reason ?? error.message,
        },
        'agent refused',
      );
      return relayedRefusal(error, crypto.randomUUID());
    }
  }
}
