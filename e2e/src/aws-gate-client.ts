// A client of the lab's AWS gate (e2e/aws-gate/, the lab's AWS endpoint, started by
// e2e/lab/lab.sh): its control API (faults, call counts, the clock) and the eks Pod Identity
// association API, for tests and benchmarks in other processes.
import type { Association, FaultSpec, SigningCredentials } from '@sscsi/aws-gate';
import { signedHeaders } from '@sscsi/aws-gate';

import type { Lab } from './lab';

export type { Association, FaultSpec as Fault } from '@sscsi/aws-gate';
export { forgeToken, signToken, tokenParts } from '@sscsi/aws-gate';

/** The lab's account root (`AWS_ACCESS_KEY_ID=lab` in `make lab-env`): allowed everything, for set-up. */
export const LAB_ROOT_CREDENTIALS: SigningCredentials = { accessKeyId: 'lab', secretAccessKey: 'lab' };

export interface LabCluster {
  name: string;
  region: string;
  account: string;
  issuer: string;
  arn: string;
}

export class AwsGateError extends Error {
  override name = 'AwsGateError';
}

export class AwsGate {
  constructor(readonly endpoint: string) {}

  static of(lab: Lab): AwsGate {
    return new AwsGate(lab.awsEndpoint);
  }

  /** The lab's AWS endpoint (AWS_ENDPOINT_URL), for the processes a test starts. */
  get url(): string {
    return this.endpoint;
  }

  private async control<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(new URL(path, this.endpoint), {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new AwsGateError(`${method} ${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** Adds a fault on the lab's AWS endpoint; returns a function that removes it. */
  async inject(fault: FaultSpec): Promise<() => Promise<void>> {
    const { id } = await this.control<{ id: string }>('POST', '/gate/faults', fault);
    return async () => {
      await this.control('DELETE', `/gate/faults/${id}`).catch(() => undefined);
    };
  }

  async clearFaults(): Promise<void> {
    await this.control('DELETE', '/gate/faults');
  }

  /** Calls the endpoint saw for an operation (in every region, or one) since the last reset. */
  async count(service: string, operation?: string, region?: string): Promise<number> {
    const query = new URLSearchParams({ service });
    if (operation) query.set('operation', operation);
    if (region) query.set('region', region);
    return (await this.control<{ count: number }>('GET', `/gate/calls?${query}`)).count;
  }

  /** Every call since the last reset, as `service.Operation` -> n. */
  async snapshot(): Promise<Record<string, number>> {
    return (await this.control<{ calls: Record<string, number> }>('GET', '/gate/calls')).calls;
  }

  async resetCounts(): Promise<void> {
    await this.control('DELETE', '/gate/calls');
  }

  /** Moves the gate's clock (sessions and tokens expire by it); 0 puts it back. */
  async setClockOffset(seconds: number): Promise<void> {
    await this.control('PUT', '/gate/clock', { offsetSeconds: seconds });
  }

  /** The lab's EKS cluster, as Pod Identity names it. */
  cluster(): Promise<LabCluster> {
    return this.control<LabCluster>('GET', '/gate/cluster');
  }

  private async eks<T>(
    method: string,
    path: string,
    body: unknown,
    credentials: SigningCredentials,
  ): Promise<T> {
    const cluster = await this.cluster();
    const url = new URL(`/clusters/${cluster.name}${path}`, this.endpoint);
    const payload = Buffer.from(body === undefined ? '' : JSON.stringify(body));
    const headers = signedHeaders(
      {
        method,
        url,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: payload,
      },
      credentials,
      cluster.region,
      'eks',
    );
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : payload });
    const text = await res.text();
    if (!res.ok)
      throw new AwsGateError(
        `eks ${method} ${path}: ${res.headers.get('x-amzn-errortype') ?? res.status}: ${text}`,
      );
    return JSON.parse(text) as T;
  }

  /** `aws eks create-pod-identity-association` for the lab's cluster. */
  async createPodIdentityAssociation(
    o: { namespace: string; serviceAccount: string; roleArn: string },
    credentials = LAB_ROOT_CREDENTIALS,
  ): Promise<Association> {
    return (
      await this.eks<{ association: Association }>('POST', '/pod-identity-associations', o, credentials)
    ).association;
  }

  async deletePodIdentityAssociation(id: string, credentials = LAB_ROOT_CREDENTIALS): Promise<void> {
    await this.eks('DELETE', `/pod-identity-associations/${id}`, undefined, credentials);
  }
}
