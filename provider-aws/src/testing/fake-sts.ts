// For unit tests: STS AssumeRoleWithWebIdentity and AssumeRole (signed with credentials it issued)
// per region, judged by a function the test gives, answered at once or held until the test
// answers. A call honours its abort signal as the SDK does.
import type {
  AssumeRoleCommand,
  AssumeRoleCommandOutput,
  AssumeRoleWithWebIdentityCommand,
  AssumeRoleWithWebIdentityCommandOutput,
} from '@aws-sdk/client-sts';

import type { AwsCredentials } from '../credentials/credential-cache';

export interface StsCall {
  operation: 'AssumeRoleWithWebIdentity' | 'AssumeRole';
  region: string;
  roleArn: string;
  sessionName: string;
  /** AssumeRoleWithWebIdentity: the pod's token; AssumeRole: ''. */
  token: string;
  /** AssumeRole: the access key it was signed with, and the role that key belongs to. */
  callerKeyId?: string;
  callerRole?: string;
  externalId?: string;
  durationSeconds?: number;
  signal: AbortSignal | undefined;
  /** Answers a held call as `judge` would. */
  answer(): void;
  fail(err: unknown): void;
}

/** An error shaped as the SDK throws it. */
export function awsError(name: string, httpStatus: number, message = `${name} (test)`): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatus >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: httpStatus },
  });
}

export const unavailable = () => awsError('ServiceUnavailable', 503, 'Service is unavailable');

export type StsJudge = (call: StsCall) => void;

export class FakeSts {
  readonly calls: StsCall[] = [];
  /** Hold calls until the test answers them. */
  holding = false;
  private waiters: Array<() => void> = [];
  private issued = 0;
  /** The role of each access key issued. */
  private readonly roleOfKey = new Map<string, string>();

  /**
   * @param judge throws to refuse a call (default: accept every call).
   * @param now clock for the credentials' expiry.
   */
  constructor(
    private readonly judge: StsJudge = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** What AwsClients.sts(region) returns, as far as the provider uses it. */
  sts = (region: string) => ({
    send: (
      command: AssumeRoleWithWebIdentityCommand,
      options?: { abortSignal?: AbortSignal },
    ): Promise<AssumeRoleWithWebIdentityCommandOutput> =>
      this.call(
        {
          operation: 'AssumeRoleWithWebIdentity',
          region,
          roleArn: command.input.RoleArn ?? '',
          sessionName: command.input.RoleSessionName ?? '',
          token: command.input.WebIdentityToken ?? '',
        },
        options?.abortSignal,
      ),
  });

  /** What AwsClients.stsAs(region, credentials) returns. */
  stsAs = (region: string, credentials: AwsCredentials) => ({
    send: (
      command: AssumeRoleCommand,
      options?: { abortSignal?: AbortSignal },
    ): Promise<AssumeRoleCommandOutput> =>
      this.call(
        {
          operation: 'AssumeRole',
          region,
          roleArn: command.input.RoleArn ?? '',
          sessionName: command.input.RoleSessionName ?? '',
          token: '',
          callerKeyId: credentials.accessKeyId,
          callerRole: this.roleOfKey.get(credentials.accessKeyId),
          externalId: command.input.ExternalId,
          durationSeconds: command.input.DurationSeconds,
        },
        options?.abortSignal,
      ),
  });

  private call(
    request: Omit<StsCall, 'signal' | 'answer' | 'fail'>,
    signal: AbortSignal | undefined,
  ): Promise<AssumeRoleCommandOutput> {
    return new Promise((resolve, reject) => {
      const call: StsCall = {
        ...request,
        signal,
        answer: () => {
          try {
            this.judge(call);
            resolve(this.credentials(call));
          } catch (err) {
            reject(err);
          }
        },
        fail: reject,
      };
      if (signal?.aborted) {
        reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        return;
      }
      signal?.addEventListener(
        'abort',
        () => reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
        { once: true },
      );
      this.calls.push(call);
      for (const wake of this.waiters.splice(0)) wake();
      if (!this.holding) setImmediate(call.answer);
    });
  }

  /** The role whose credentials `accessKeyId` is, if this STS issued or was told of it. */
  roleOf(accessKeyId: string): string | undefined {
    return this.roleOfKey.get(accessKeyId);
  }

  /** Credentials issued elsewhere (the Pod Identity agent) that AssumeRole should know the role of. */
  registerKey(accessKeyId: string, roleArn: string): void {
    this.roleOfKey.set(accessKeyId, roleArn);
  }

  /** Resolves once `count` calls have arrived. */
  async received(count: number): Promise<StsCall[]> {
    while (this.calls.length < count) await new Promise<void>((wake) => this.waiters.push(wake));
    return this.calls;
  }

  private credentials(call: StsCall): AssumeRoleCommandOutput {
    this.issued++;
    const accessKeyId = `ASIA${call.region.replace(/-/g, '').toUpperCase()}${this.issued}`;
    this.roleOfKey.set(accessKeyId, call.roleArn);
    return {
      $metadata: {},
      Credentials: {
        AccessKeyId: accessKeyId,
        SecretAccessKey: 'secret-key',
        SessionToken: 'session-token',
        Expiration: new Date(this.now() + (call.durationSeconds ?? 3600) * 1000),
      },
    };
  }
}
