// For unit tests: Secrets Manager and SSM Parameter Store in memory, behind what AwsClients hands
// out, recording every call. A test may fail or hold the next calls of an operation.
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
} from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, GetParametersCommand } from '@aws-sdk/client-ssm';

import type { AwsClients } from '../aws-clients';

export interface FakeSecretVersion {
  value: string | Uint8Array;
  stages: string[];
}

export interface FakeParameter {
  value: string;
  version: number;
  labels?: string[];
}

export interface FakeCall {
  region: string;
  op: 'GetSecretValue' | 'DescribeSecret' | 'ListSecrets' | 'GetParameters' | 'GetParametersByPath';
  input: Record<string, unknown>;
}

type Op = FakeCall['op'];

export class FakeAws {
  /** Secrets by region, then name. */
  readonly secrets = new Map<string, Map<string, Record<string, FakeSecretVersion>>>();
  /** Secrets' tags by region, then name. */
  readonly secretTags = new Map<string, Map<string, Record<string, string>>>();
  /** Parameters by region, then name. */
  readonly parameters = new Map<string, Map<string, FakeParameter>>();
  /** Secrets scheduled for deletion (in their recovery window), by region and name. */
  private readonly scheduledForDeletion = new Set<string>();
  readonly calls: FakeCall[] = [];
  private readonly failures = new Map<Op, Array<() => Error>>();
  /** Secrets per ListSecrets page at most (AWS: 100). */
  listPageSize = 100;
  /** Parameters per GetParametersByPath page (SSM's default and most is 10). */
  pageSize = 10;
  /** Milliseconds each call waits before answering, to let concurrent mounts interleave. */
  delay: () => number = () => 0;

  putSecret(
    region: string,
    name: string,
    versions: Record<string, FakeSecretVersion>,
    tags: Record<string, string> = {},
  ): void {
    if (!this.secrets.has(region)) this.secrets.set(region, new Map());
    this.secrets.get(region)?.set(name, versions);
    if (!this.secretTags.has(region)) this.secretTags.set(region, new Map());
    this.secretTags.get(region)?.set(name, tags);
  }

  deleteSecret(region: string, name: string): void {
    this.secrets.get(region)?.delete(name);
    this.secretTags.get(region)?.delete(name);
  }

  /** As Secrets Manager: filter values match as prefixes, case-sensitive; `!` negates; name order. */
  private async listSecrets(region: string, command: ListSecretsCommand, signal?: AbortSignal) {
    const input = command.input;
    await this.enter(region, 'ListSecrets', { ...input }, signal);
    const matches = (values: string[] | undefined, candidates: string[]) =>
      (values ?? []).some((v) =>
        v.startsWith('!')
          ? !candidates.some((c) => c.startsWith(v.slice(1)))
          : candidates.some((c) => c.startsWith(v)),
      );
    const names = [...(this.secrets.get(region)?.keys() ?? [])].sort().filter((name) => {
      const tags = this.secretTags.get(region)?.get(name) ?? {};
      return (input.Filters ?? []).every((f) => {
        if (f.Key === 'name') return matches(f.Values, [name]);
        if (f.Key === 'tag-key') return matches(f.Values, Object.keys(tags));
        if (f.Key === 'tag-value') return matches(f.Values, Object.values(tags));
        throw new Error(`FakeAws: filter ${f.Key ?? ''} not faked`);
      });
    });
    const start = Number(input.NextToken ?? 0);
    const page = names.slice(
      start,
      start + Math.min(input.MaxResults ?? this.listPageSize, this.listPageSize),
    );
    const more = start + page.length < names.length;
    return {
      SecretList: page.map((name) => {
        const versions = this.secret(region, name);
        const tags = this.secretTags.get(region)?.get(name) ?? {};
        return {
          Name: name,
          ARN: `arn:aws:secretsmanager:${region}:111122223333:secret:${name}-AbCdEf`,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          SecretVersionsToStages: Object.fromEntries(
            Object.entries(versions).map(([id, v]) => [id, v.stages]),
          ),
        };
      }),
      NextToken: more ? String(start + page.length) : undefined,
    };
  }

  putParameter(region: string, name: string, parameter: FakeParameter): void {
    if (!this.parameters.has(region)) this.parameters.set(region, new Map());
    this.parameters.get(region)?.set(name, parameter);
  }

  /**
   * As DeleteSecret with a recovery window: the secret is kept and described (with DeletedDate),
   * its value refused as AWS refuses it; `restore` as RestoreSecret.
   */
  scheduleDeletion(region: string, name: string, restore = false): void {
    const key = JSON.stringify([region, name]);
    if (restore) this.scheduledForDeletion.delete(key);
    else this.scheduledForDeletion.add(key);
  }

  /** The next call of `op` throws `error()`. */
  failNext(op: Op, error: () => Error): void {
    this.failures.set(op, [...(this.failures.get(op) ?? []), error]);
  }

  count(op: Op): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  private async enter(region: string, op: Op, input: Record<string, unknown>, signal?: AbortSignal) {
    this.calls.push({ region, op, input });
    const wait = this.delay();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    signal?.throwIfAborted();
    const failure = this.failures.get(op)?.shift();
    if (failure) throw failure();
  }

  private secretsManagerCall(region: string) {
    return async (command: unknown, options?: { abortSignal?: AbortSignal }) => {
      if (command instanceof DescribeSecretCommand) {
        await this.enter(region, 'DescribeSecret', { ...command.input }, options?.abortSignal);
        const versions = this.secret(region, command.input.SecretId);
        return {
          VersionIdsToStages: Object.fromEntries(Object.entries(versions).map(([id, v]) => [id, v.stages])),
          DeletedDate: this.deleted(region, command.input.SecretId) ? new Date(0) : undefined,
        };
      }
      if (command instanceof ListSecretsCommand)
        return this.listSecrets(region, command, options?.abortSignal);
      if (command instanceof GetSecretValueCommand) {
        const input = command.input;
        await this.enter(region, 'GetSecretValue', { ...input }, options?.abortSignal);
        const versions = this.secret(region, input.SecretId);
        if (this.deleted(region, input.SecretId))
          throw notFound(
            'InvalidRequestException',
            "You can't perform this operation on the secret because it was marked for deletion.",
          );
        const stage = input.VersionStage ?? (input.VersionId ? undefined : 'AWSCURRENT');
        const found = Object.entries(versions).find(
          ([id, v]) =>
            (input.VersionId === undefined || id === input.VersionId) &&
            (stage === undefined || v.stages.includes(stage)),
        );
        if (!found) throw notFound('ResourceNotFoundException', `no such version of ${input.SecretId}`);
        const [id, v] = found;
        return typeof v.value === 'string'
          ? { VersionId: id, SecretString: v.value }
          : { VersionId: id, SecretBinary: v.value };
      }
      throw new Error('FakeAws: unexpected Secrets Manager command');
    };
  }

  private deleted(region: string, id: string | undefined): boolean {
    return this.scheduledForDeletion.has(JSON.stringify([region, id ?? '']));
  }

  private secret(region: string, id: string | undefined): Record<string, FakeSecretVersion> {
    const versions = this.secrets.get(region)?.get(id ?? '');
    if (!versions) throw notFound('ResourceNotFoundException', `Secrets Manager can't find ${id}`);
    return versions;
  }

  /** As SSM: the names one level (or any levels) under the path, in name order, a page at a time. */
  private async parametersByPath(region: string, command: GetParametersByPathCommand, signal?: AbortSignal) {
    const input = command.input;
    await this.enter(region, 'GetParametersByPath', { ...input }, signal);
    const prefix = (input.Path ?? '').replace(/\/?$/, '/');
    const names = [...(this.parameters.get(region)?.keys() ?? [])]
      .filter((n) => n.startsWith(prefix) && (input.Recursive || !n.slice(prefix.length).includes('/')))
      .sort();
    const start = Number(input.NextToken ?? 0);
    const page = names.slice(start, start + Math.min(input.MaxResults ?? this.pageSize, this.pageSize));
    const more = start + page.length < names.length;
    return {
      Parameters: page.map((name) => {
        const p = this.parameters.get(region)?.get(name) as FakeParameter;
        return { Name: name, Value: p.value, Version: p.version, Type: 'SecureString' };
      }),
      NextToken: more ? String(start + page.length) : undefined,
    };
  }

  private ssmCall(region: string) {
    return async (command: unknown, options?: { abortSignal?: AbortSignal }) => {
      if (command instanceof GetParametersByPathCommand)
        return this.parametersByPath(region, command, options?.abortSignal);
      if (!(command instanceof GetParametersCommand)) throw new Error('FakeAws: unexpected SSM command');
      const names = command.input.Names ?? [];
      await this.enter(region, 'GetParameters', { ...command.input }, options?.abortSignal);
      const Parameters: Array<{ Name: string; Value: string; Version: number; Selector?: string }> = [];
      const InvalidParameters: string[] = [];
      for (const selector of names) {
        const [name = '', wanted] = selector.split(/:(?=[^:]*$)/);
        const p = this.parameters.get(region)?.get(name);
        const ok =
          p && (wanted === undefined || String(p.version) === wanted || (p.labels ?? []).includes(wanted));
        if (ok) Parameters.push({ Name: name, Value: p.value, Version: p.version });
        else InvalidParameters.push(selector);
      }
      return { Parameters, InvalidParameters };
    };
  }

  /** What the provider's fetchers get from AwsClients. */
  get clients(): AwsClients {
    return {
      secretsManager: (region: string) => ({ send: this.secretsManagerCall(region) }),
      ssm: (region: string) => ({ send: this.ssmCall(region) }),
    } as unknown as AwsClients;
  }
}

/** An AWS client error (4xx), as the SDK throws it. */
function notFound(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}
