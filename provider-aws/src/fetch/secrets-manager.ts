// One Secrets Manager object: GetSecretValue (version id and stage), or, on a remount whose current
// version still carries the wanted stage, DescribeSecret and the value already fetched; a pinned
// version already fetched needs no call at all.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';

import { classifyAwsError } from '../aws-errors';
import type { FetchedValue } from './fetched';

export interface SecretRequest {
  secretId: string;
  versionId: string | undefined;
  versionStage: string | undefined;
  /** The version currently mounted, if any. */
  currentVersion: string | undefined;
  /** The value fetched earlier for `currentVersion`, if the provider still has it. */
  currentValue: Buffer | undefined;
  /**
   * An optional object: a secret scheduled for deletion is read again (and found missing) rather
   * than served from the value kept. For any other, as before: DescribeSecret still lists its stages.
   */
  optional?: boolean;
}

const CURRENT_STAGE = 'AWSCURRENT';

export async function fetchSecret(
  client: SecretsManagerClient,
  req: SecretRequest,
  signal?: AbortSignal,
): Promise<FetchedValue> {
  if (req.currentVersion !== undefined && req.currentValue !== undefined) {
    if (req.versionId !== undefined && req.versionId === req.currentVersion) {
      return { value: req.currentValue, version: req.currentVersion };
    }
    if (req.versionId === undefined && (await stillCurrent(client, req, signal))) {
      return { value: req.currentValue, version: req.currentVersion };
    }
  }
  const out = await client.send(
    new GetSecretValueCommand({
      SecretId: req.secretId,
      VersionId: req.versionId,
      VersionStage: req.versionStage,
    }),
    { abortSignal: signal },
  );
  const value =
    out.SecretString !== undefined
      ? Buffer.from(out.SecretString, 'utf8')
      : Buffer.from(out.SecretBinary ?? new Uint8Array());
  return { value, version: out.VersionId ?? '' };
}

/** True when the mounted version still carries the wanted stage. A denied DescribeSecret means "fetch". */
async function stillCurrent(
  client: SecretsManagerClient,
  req: SecretRequest,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    const out = await client.send(new DescribeSecretCommand({ SecretId: req.secretId }), {
      abortSignal: signal,
    });
    if (req.optional && out.DeletedDate !== undefined) return false;
    const stages = out.VersionIdsToStages?.[req.currentVersion ?? ''] ?? [];
    return stages.includes(req.versionStage ?? CURRENT_STAGE);
  } catch (err) {
    if (classifyAwsError(err).code === 'AccessDeniedException') return false;
    throw err;
  }
}
