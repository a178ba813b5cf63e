// For unit tests: STS AssumeRoleWithWebIdentity per region, judged by a function the test gives,
// answered at once or held until the test answers. A call honours its abort signal as the SDK does.
import type {
  AssumeRoleWithWebIdentityCommand,
  AssumeRoleWithWebIdentityCommandOutput,
} from '@aws-sdk/client-sts';

export interface StsCall {
  region: string;
  roleArn: string;
  sessionName: string;
  token: string;
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
      new Promise((resolve, reject) => {
        const signal = options?.abortSignal;
        const call: StsCall = {
          region,
          roleArn: command.input.RoleArn ?? '',
          sessionName: command.input.RoleSessionName ?? '',
          token: command.input.WebIdentityToken ?? '',
          signal,
          answer: () => {
            try {
              this.judge(call);
              resolve(this.credentials(region));
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
      }),
  });

  /** Resolves once `count` calls have arrived. */
  async received(count: number): Promise<StsCall[]> {
    while (this.calls.length < count) await new Promise<void>((wake) => this.waiters.push(wake));
    return this.calls;
  }

  private credentials(region: string): AssumeRoleWithWebIdentityCommandOutput {
    this.issued++;
    return {
      $metadata: {},
      Credentials: {
        AccessKeyId: `ASIA${region.replace(/-/g, '').toUpperCase()}${this.issued}`,
        SecretAccessKey: 'secret-key',
        SessionToken: 'session-token',
        Expiration: new Date(this.now() + 3600_000),
      },
    };
  }
}
