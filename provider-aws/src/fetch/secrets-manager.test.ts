// The remount shortcut of Secrets Manager objects: which calls a remount makes, and that a value
// kept from an earlier mount is only ever returned for the version it belongs to.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';

import type { SecretRequest } from './secrets-manager';
import { fetchSecret } from './secrets-manager';

interface Secret {
  versions: Record<string, { value: string | Uint8Array; stages: string[] }>;
  describeError?: Error;
}

/** A Secrets Manager holding one secret, recording every call. */
function fakeSecretsManager(secret: Secret) {
  const calls: Array<{ op: string; input: Record<string, unknown>; signal?: AbortSignal }> = [];
  const send = async (command: unknown, options?: { abortSignal?: AbortSignal }) => {
    if (command instanceof DescribeSecretCommand) {
      calls.push({ op: 'DescribeSecret', input: { ...command.input }, signal: options?.abortSignal });
      if (secret.describeError) throw secret.describeError;
      return {
        VersionIdsToStages: Object.fromEntries(
          Object.entries(secret.versions).map(([id, v]) => [id, v.stages]),
        ),
      };
    }
    if (command instanceof GetSecretValueCommand) {
      const input = command.input;
      calls.push({ op: 'GetSecretValue', input: { ...input }, signal: options?.abortSignal });
      const stage = input.VersionStage ?? (input.VersionId ? undefined : 'AWSCURRENT');
      const found = Object.entries(secret.versions).find(
        ([id, v]) =>
          (input.VersionId === undefined || id === input.VersionId) &&
          (stage === undefined || v.stages.includes(stage)),
      );
      if (!found) throw Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' });
      const [id, v] = found;
      return typeof v.value === 'string'
        ? { VersionId: id, SecretString: v.value }
        : { VersionId: id, SecretBinary: v.value };
    }
    throw new Error('unexpected command');
  };
  return { client: { send } as unknown as SecretsManagerClient, calls };
}

const rotated: Secret = {
  versions: {
    v1: { value: 'old', stages: ['AWSPREVIOUS'] },
    v2: { value: 'new', stages: ['AWSCURRENT'] },
  },
};
const unchanged: Secret = { versions: { v1: { value: 'same', stages: ['AWSCURRENT'] } } };

const request = (over: Partial<SecretRequest> = {}): SecretRequest => ({
  secretId: 'db',
  versionId: undefined,
  versionStage: undefined,
  currentVersion: undefined,
  currentValue: undefined,
  ...over,
});
const remount = (over: Partial<SecretRequest> = {}) =>
  request({ currentVersion: 'v1', currentValue: Buffer.from('same'), ...over });

describe('fetchSecret: first mount', () => {
  it('reads the current version with one GetSecretValue', async () => {
    const sm = fakeSecretsManager(rotated);
    const got = await fetchSecret(sm.client, request());
    expect([got.version, got.value.toString()]).toEqual(['v2', 'new']);
    expect(sm.calls.map((c) => c.op)).toEqual(['GetSecretValue']);
  });

  it('returns SecretBinary as raw bytes', async () => {
    const bytes = Uint8Array.from([0, 1, 254, 255]);
    const sm = fakeSecretsManager({ versions: { b1: { value: bytes, stages: ['AWSCURRENT'] } } });
    const got = await fetchSecret(sm.client, request());
    expect([...got.value]).toEqual([0, 1, 254, 255]);
  });
});

describe('fetchSecret: the remount shortcut', () => {
  it('makes one DescribeSecret and no GetSecretValue when the mounted version is still current', async () => {
    const sm = fakeSecretsManager(unchanged);
    const got = await fetchSecret(sm.client, remount());
    expect([got.version, got.value.toString()]).toEqual(['v1', 'same']);
    expect(sm.calls.map((c) => c.op)).toEqual(['DescribeSecret']);
    expect(sm.calls[0]?.input).toEqual({ SecretId: 'db' });
  });

  it('reads the new value when the stage moved to another version', async () => {
    const sm = fakeSecretsManager(rotated);
    const got = await fetchSecret(sm.client, remount({ currentValue: Buffer.from('old') }));
    expect([got.version, got.value.toString()]).toEqual(['v2', 'new']);
    expect(sm.calls.map((c) => c.op)).toEqual(['DescribeSecret', 'GetSecretValue']);
  });

  it('checks the wanted objectVersionLabel, not AWSCURRENT', async () => {
    const sm = fakeSecretsManager(rotated);
    const got = await fetchSecret(
      sm.client,
      remount({ versionStage: 'AWSPREVIOUS', currentValue: Buffer.from('old') }),
    );
    expect([got.version, got.value.toString()]).toEqual(['v1', 'old']);
    expect(sm.calls.map((c) => c.op)).toEqual(['DescribeSecret']);
  });

  it('makes no call at all for a pinned objectVersion already mounted', async () => {
    const sm = fakeSecretsManager(rotated);
    const got = await fetchSecret(sm.client, remount({ versionId: 'v1', currentValue: Buffer.from('old') }));
    expect(got.value.toString()).toBe('old');
    expect(sm.calls).toEqual([]);
  });

  it('reads a newly pinned objectVersion', async () => {
    const sm = fakeSecretsManager(rotated);
    const got = await fetchSecret(sm.client, remount({ versionId: 'v2', currentValue: Buffer.from('old') }));
    expect([got.version, got.value.toString()]).toEqual(['v2', 'new']);
    expect(sm.calls.map((c) => [c.op, c.input.VersionId])).toEqual([['GetSecretValue', 'v2']]);
  });

  it('reads the value again when the provider no longer has it (restarted, or dropped from the cache)', async () => {
    const sm = fakeSecretsManager(unchanged);
    const got = await fetchSecret(sm.client, remount({ currentValue: undefined }));
    expect(got.value.toString()).toBe('same');
    expect(sm.calls.map((c) => c.op)).toEqual(['GetSecretValue']);
  });

  it('falls back to GetSecretValue when the role may not call DescribeSecret', async () => {
    const denied = Object.assign(new Error('not authorized to perform secretsmanager:DescribeSecret'), {
      name: 'AccessDeniedException',
    });
    const sm = fakeSecretsManager({ ...unchanged, describeError: denied });
    const got = await fetchSecret(sm.client, remount());
    expect(got.value.toString()).toBe('same');
    expect(sm.calls.map((c) => c.op)).toEqual(['DescribeSecret', 'GetSecretValue']);
  });

  it('does not serve the kept value when DescribeSecret fails otherwise (throttled): the error surfaces', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const sm = fakeSecretsManager({ ...unchanged, describeError: throttled });
    await expect(fetchSecret(sm.client, remount())).rejects.toThrow('Rate exceeded');
    expect(sm.calls.map((c) => c.op)).toEqual(['DescribeSecret']);
  });

  it('passes the mount request signal to every call', async () => {
    const sm = fakeSecretsManager(rotated);
    const signal = new AbortController().signal;
    await fetchSecret(sm.client, remount({ currentValue: Buffer.from('old') }), signal);
    expect(sm.calls.map((c) => c.signal)).toEqual([signal, signal]);
  });
});
