// The class parameters that chain the pod's own AWS identity into another role (usually in another
// account): assumeRoleArn, assumeRoleExternalId and assumeRoleSessionDuration. Upstream's open pull
// request #555 names the duration assumeRoleDurationSeconds: that spelling is accepted too, so a
// class written for it works here.
import { invalidParameters } from '../errors';
import { parseArn } from './arn';

export interface AssumeRoleTarget {
  roleArn: string;
  externalId: string | undefined;
  /** Undefined: STS's default (one hour). */
  durationSeconds: number | undefined;
}

export const AssumeRoleAttr = {
  roleArn: 'assumeRoleArn',
  externalId: 'assumeRoleExternalId',
  sessionDuration: 'assumeRoleSessionDuration',
  durationSecondsAlias: 'assumeRoleDurationSeconds',
} as const;

/**
 * STS allows 900 s at least; and the pod's own credentials are already a role session (IRSA and
 * Pod Identity both), so this is role chaining, which STS caps at one hour.
 */
export const MIN_SESSION_SECONDS = 900;
export const MAX_CHAINED_SESSION_SECONDS = 3600;

/** What STS takes as an external ID. */
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const DURATION = /^(\d+)(s|m|h)?$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

function parseRoleArn(raw: string): string {
  const arn = parseArn(raw);
  const name = arn?.resource.startsWith('role/') ? arn.resource.slice('role/'.length) : '';
  if (!arn || arn.service !== 'iam' || !name || arn.region !== '' || !/^\d{12}$/.test(arn.accountId)) {
    throw invalidParameters(
      `${AssumeRoleAttr.roleArn} ${JSON.stringify(raw)} is not an IAM role ARN such as arn:aws:iam::111122223333:role/secrets-reader`,
    );
  }
  return raw;
}

function parseDuration(raw: string, name: string): number {
  const match = DURATION.exec(raw.trim());
  const seconds = match
    ? Number(match[1]) * UNIT_SECONDS[(match[2] ?? 's') as keyof typeof UNIT_SECONDS]
    : NaN;
  if (!match) {
    throw invalidParameters(
      `${name} must be a number of seconds or a duration such as 900, 15m or 1h, got ${JSON.stringify(raw)}`,
    );
  }
  if (seconds < MIN_SESSION_SECONDS || seconds > MAX_CHAINED_SESSION_SECONDS) {
    throw invalidParameters(
      `${name} must be between ${MIN_SESSION_SECONDS} and ${MAX_CHAINED_SESSION_SECONDS} seconds, got ${JSON.stringify(raw)}: the pod's own credentials are a role session already, and STS limits a chained session to one hour`,
    );
  }
  return seconds;
}

/** The role to chain into, from the class's parameters (the driver's attributes), or undefined. */
export function parseAssumeRole(attributes: Readonly<Record<string, string>>): AssumeRoleTarget | undefined {
  const roleArn = attributes[AssumeRoleAttr.roleArn] || undefined;
  const externalId = attributes[AssumeRoleAttr.externalId] || undefined;
  const duration = attributes[AssumeRoleAttr.sessionDuration] || undefined;
  const durationAlias = attributes[AssumeRoleAttr.durationSecondsAlias] || undefined;
  if (!roleArn) {
    const stray = [
      externalId && AssumeRoleAttr.externalId,
      duration && AssumeRoleAttr.sessionDuration,
      durationAlias && AssumeRoleAttr.durationSecondsAlias,
    ].filter(Boolean);
    if (stray.length > 0)
      throw invalidParameters(`${stray.join(' and ')} given without ${AssumeRoleAttr.roleArn}`);
    return undefined;
  }
  if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) {
    throw invalidParameters(
      `${AssumeRoleAttr.externalId} must be 2 to 1224 letters, digits or any of _+=,.@:/-`,
    );
  }
  const fromName =
    duration !== undefined ? parseDuration(duration, AssumeRoleAttr.sessionDuration) : undefined;
  const fromAlias =
    durationAlias !== undefined
      ? parseDuration(durationAlias, AssumeRoleAttr.durationSecondsAlias)
      : undefined;
  if (fromName !== undefined && fromAlias !== undefined && fromName !== fromAlias) {
    throw invalidParameters(
      `${AssumeRoleAttr.sessionDuration} (${fromName} s) and ${AssumeRoleAttr.durationSecondsAlias} (${fromAlias} s) disagree: give one`,
    );
  }
  return { roleArn: parseRoleArn(roleArn), externalId, durationSeconds: fromName ?? fromAlias };
}
