// Fetches every object of a mount: Secrets Manager objects one call each, SSM parameters ten to a
// call, all in parallel up to a bound. The primary region first; the failover region only when the
// primary fails in a way another region can fix (throttling, 5xx, network), be it the call itself
// or the primary region's STS giving the pod's credentials. Errors name the object, the region and
// the AWS error code, never a value.
import type { AwsClients } from '../aws-clients';
import type { AwsErrorInfo } from '../aws-errors';
import { classifyAwsError } from '../aws-errors';
import type { AwsCredentials } from '../credentials/credential-cache';
import { StsUnavailableError } from '../credentials/identity';
import { MountError } from '../errors';
import type { ObjectDescriptor } from '../parameters/descriptors';
import { objectLabel } from '../parameters/descriptors';
import { toFileName } from '../parameters/file-names';
import {
  MAX_LISTED_SECRETS,
  MAX_TREE_FILES,
  maxFilesOf,
  tooManyFiles,
  tooManyListed,
} from '../parameters/tree-limits';
import { CallSlots } from './call-slots';
import type { FetchedObject, FetchedValue, MissingMatch, ParameterTreeEntry } from './fetched';
import { MISSING_VERSION, missingCodeOf } from './missing-object';
import { fetchParameters, fetchParameterTree, ParametersNotFound } from './parameter-store';
import type { SecretMatch } from './secret-selection';
import { listSelectedSecrets, nameInSelection } from './secret-selection';
import { fetchSecret } from './secrets-manager';
import { parameterBatches } from './ssm-names';
import type { ValueCache } from './value-cache';

export interface FetchContext {
  clients: Pick<AwsClients, 'secretsManager' | 'ssm'>;
  valueCache: Pick<ValueCache, 'get' | 'set'>;
  targetPath: string;
  region: string;
  failoverRegion: string | undefined;
  credentials(region: string): Promise<AwsCredentials>;
  /** Versions currently mounted, by file name. */
  currentVersions: ReadonlyMap<string, string>;
  concurrency: number;
  signal?: AbortSignal;
}

const SERVICE_NAMES = { secretsmanager: 'Secrets Manager', ssmparameter: 'SSM Parameter Store' } as const;

function describe(err: unknown): AwsErrorInfo {
  if (err instanceof ParametersNotFound) {
    return {
      code: 'ParameterNotFound',
      retriable: false,
      status: classifyAwsError({ name: 'ParameterNotFound' }).status,
      message: err.message,
    };
  }
  return classifyAwsError(err);
}

const hintFor = (code: string): string =>
  code === 'AccessDeniedException' || code === 'AccessDenied'
    ? " (the pod's IAM role needs read access to it)"
    : code === 'ResourceNotFoundException' || code === 'ParameterNotFound'
      ? ' (check the name and region in the SecretProviderClass)'
      : '';

/**
 * The error a mount answers with when `what` failed in `region` (and in the failover region): a
 * MountError (credentials) says what failed itself; an AWS error is named by its code. The reason
 * and the gRPC code are those of the last failure.
 */
function fetchError(
  what: string,
  region: string,
  err: unknown,
  failover?: { region: string; err: unknown },
): MountError {
  const inWords = (e: unknown) => {
    if (e instanceof MountError) return e.message;
    const info = describe(e);
    return `${info.code}: ${info.message}`;
  };
  let message =
    err instanceof MountError ? err.message : `failed to fetch ${what} in ${region}: ${inWords(err)}`;
  if (failover) message += `; failover region ${failover.region}: ${inWords(failover.err)}`;
  const last = failover ? failover.err : err;
  if (last instanceof MountError)
    return new MountError(last.reason, message, { cause: last, code: last.code });
  const info = describe(last);
  return new MountError('FetchError', message + hintFor(info.code), { code: info.status });
}

/**
 * Whether the failover region can fix what failed: a fault of AWS in the primary region
 * (throttling, 5xx, network), in the call itself or in the primary region's STS. Errors such as a
 * refused token or a missing object would be the same in any region.
 */
function failoverCanHelp(err: unknown): boolean {
  if (err instanceof StsUnavailableError) return true;
  if (err instanceof MountError) return false;
  return describe(err).retriable;
}

/** Runs `attempt` in the primary region, and in the failover region when that can help. */
async function withFailover<T>(
  ctx: FetchContext,
  what: string,
  attempt: (region: string, failover: boolean) => Promise<T>,
): Promise<T> {
  try {
    return await attempt(ctx.region, false);
  } catch (err) {
    if (!ctx.failoverRegion || !failoverCanHelp(err)) {
      throw err instanceof MountError ? err : fetchError(what, ctx.region, err);
    }
    try {
      return await attempt(ctx.failoverRegion, true);
    } catch (failoverErr) {
      throw fetchError(what, ctx.region, err, { region: ctx.failoverRegion, err: failoverErr });
    }
  }
}

/** An optional object AWS said is not there (`code` says how): no value, no file. */
const missing = (d: ObjectDescriptor, region: string, code: string): FetchedObject => ({
  descriptor: d,
  value: Buffer.alloc(0),
  version: MISSING_VERSION,
  region,
  missing: code,
});

/** The version the volume holds of `d`'s file; none when it was missing. */
function mountedVersion(ctx: FetchContext, d: ObjectDescriptor): string | undefined {
  const version = ctx.currentVersions.get(d.fileName);
  return version === MISSING_VERSION ? undefined : version;
}

async function fetchSecretsManagerObject(ctx: FetchContext, d: ObjectDescriptor): Promise<FetchedObject> {
  const what = `secret ${JSON.stringify(d.objectName)} from ${SERVICE_NAMES.secretsmanager}`;
  return withFailover(ctx, what, async (region, failover) => {
    const source = failover && d.failover ? d.failover : d;
    const secretId = source.objectName;
    const currentVersion = mountedVersion(ctx, d);
    const currentValue =
      currentVersion !== undefined
        ? ctx.valueCache.get(ctx.targetPath, region, secretId, currentVersion)
        : undefined;
    const client = ctx.clients.secretsManager(region, await ctx.credentials(region));
    let fetched: FetchedValue;
    try {
      fetched = await fetchSecret(
        client,
        {
          secretId,
          versionId: source.objectVersion,
          versionStage: source.objectVersionLabel,
          currentVersion,
          currentValue,
          optional: d.optional,
        },
        ctx.signal,
      );
    } catch (err) {
      const code = d.optional ? missingCodeOf(err) : undefined;
      if (code !== undefined) return missing(d, region, code);
      throw err;
    }
    ctx.valueCache.set(ctx.targetPath, region, secretId, fetched);
    return { descriptor: d, ...fetched, region };
  });
}

async function fetchParameterBatch(
  ctx: FetchContext,
  batch: readonly ObjectDescriptor[],
): Promise<FetchedObject[]> {
  const names = batch.map((d) => JSON.stringify(d.objectName)).join(', ');
  const what = `parameter${batch.length > 1 ? 's' : ''} ${names} from ${SERVICE_NAMES.ssmparameter}`;
  return withFailover(ctx, what, async (region, failover) => {
    const client = ctx.clients.ssm(region, await ctx.credentials(region));
    const requests = batch.map((d) => {
      const source = failover && d.failover ? d.failover : d;
      return {
        name: source.objectName,
        version: source.objectVersion,
        label: source.objectVersionLabel,
        optional: d.optional,
      };
    });
    const values = await fetchParameters(client, requests, ctx.signal);
    return values.map((v, i) => {
      const d = batch[i] as ObjectDescriptor;
      return v ? { descriptor: d, ...v, region } : missing(d, region, 'ParameterNotFound');
    });
  });
}

/** Every parameter under the path of an object with parametersUnderPath (or its failoverObject's). */
async function fetchParameterTreeObject(ctx: FetchContext, d: ObjectDescriptor): Promise<FetchedObject> {
  const what = `the parameters under ${JSON.stringify(d.objectName)} from ${SERVICE_NAMES.ssmparameter}`;
  return withFailover(ctx, what, async (region, failover) => {
    const client = ctx.clients.ssm(region, await ctx.credentials(region));
    const path = (failover && d.failover ? d.failover : d).objectName;
    const recursive = d.tree?.kind === 'parametersUnderPath' && d.tree.recursive;
    const tooMany = () => tooManyFiles(d);
    const request = { path, recursive, maxEntries: MAX_TREE_FILES, tooMany };
    const entries = await fetchParameterTree(client, request, ctx.signal);
    // SSM answers an empty list, not an error, for a path with nothing under it.
    if (entries.length === 0 && d.optional) return missing(d, region, 'NoParametersUnderPath');
    return { descriptor: d, value: Buffer.alloc(0), version: '', region, entries };
  });
}

/** A selection's listing failed: ListSecrets is allowed on "*" only, which a user may not know. */
function listingError(d: ObjectDescriptor, region: string, err: unknown): unknown {
  const info = describe(err);
  if (info.retriable) return err;
  const hint =
    info.code === 'AccessDeniedException'
      ? ' (the pod\'s IAM role needs secretsmanager:ListSecrets on resource "*": it cannot be limited to some secrets)'
      : '';
  return new MountError(
    'FetchError',
    `failed to list ${objectLabel(d)} in ${region}: ${info.code}: ${info.message}${hint}`,
    { code: info.status },
  );
}

/** A selection's match, read; or, for an optional entry, found not there since it was listed. */
type MatchRead = { entry: ParameterTreeEntry } | { missing: MissingMatch };

/**
 * One match of a selection, read with GetSecretValue under the pod's own role, or, on a remount
 * whose mounted version is still the listed current one, the value already fetched (no call).
 * A match deleted (or scheduled for deletion) since it was listed is "missing" for an optional
 * entry and fails a required one, as an object named alone would; denied access always fails.
 */
async function fetchMatch(
  ctx: FetchContext,
  d: ObjectDescriptor,
  region: string,
  client: ReturnType<FetchContext['clients']['secretsManager']>,
  match: SecretMatch,
): Promise<MatchRead> {
  const tree = d.tree?.kind === 'secretsSelected' ? d.tree : undefined;
  const name = nameInSelection(tree?.namePrefix, match.name);
  let file: string | undefined;
  try {
    file = `${d.fileName}/${toFileName(name, tree?.pathTranslation ?? '', '')}`;
  } catch {
    file = undefined; // the layout refuses the name, with its message
  }
  const mounted = file === undefined ? undefined : ctx.currentVersions.get(file);
  if (mounted !== undefined && mounted === match.currentVersion) {
    const kept = ctx.valueCache.get(ctx.targetPath, region, match.name, mounted);
    if (kept) return { entry: { name, source: match.name, value: kept, version: mounted } };
  }
  try {
    const request = {
      secretId: match.name,
      versionId: undefined,
      versionStage: undefined,
      currentVersion: undefined,
      currentValue: undefined,
    };
    const fetched = await fetchSecret(client, request, ctx.signal);
    ctx.valueCache.set(ctx.targetPath, region, match.name, fetched);
    return { entry: { name, source: match.name, ...fetched } };
  } catch (err) {
    const code = missingCodeOf(err);
    if (code !== undefined && d.optional) return { missing: { source: match.name, file, code } };
    const info = describe(err);
    if (info.retriable) throw err;
    const hint =
      info.code === 'AccessDeniedException'
        ? " (the pod's IAM role needs secretsmanager:GetSecretValue on every secret the entry selects)"
        : code !== undefined
          ? ' (it was listed, then deleted: the next mount lists again; with optional: true the mount goes on without it)'
          : '';
    throw new MountError(
      'FetchError',
      `failed to read secret ${JSON.stringify(match.name)}, one of ${objectLabel(d)}, in ${region}: ${info.code}: ${info.message}${hint}`,
      { code: info.status },
    );
  }
}

/**
 * The secrets an entry selects by name prefix and/or tags: one listing (a ListSecrets page per 100
 * secrets listed), then a GetSecretValue for each match not already mounted at its current version,
 * each in one of the mount's `slots`.
 * An optional entry that selects nothing readable is missing, as a whole.
 */
async function fetchSelectionObject(
  ctx: FetchContext,
  d: ObjectDescriptor,
  slots: CallSlots,
): Promise<FetchedObject> {
  const tree = d.tree;
  if (tree?.kind !== 'secretsSelected') throw new Error(`${objectLabel(d)} is not a selection`);
  const what = `${objectLabel(d)} from ${SERVICE_NAMES.secretsmanager}`;
  return withFailover(ctx, what, async (region) => {
    const client = ctx.clients.secretsManager(region, await ctx.credentials(region));
    const request = {
      namePrefix: tree.namePrefix,
      tags: tree.tags,
      maxMatches: maxFilesOf(d),
      tooMany: () => tooManyFiles(d),
      maxListed: MAX_LISTED_SECRETS,
      tooManyListed: () => tooManyListed(d),
    };
    let matches: SecretMatch[];
    try {
      matches = await slots.run(() => listSelectedSecrets(client, request, ctx.signal));
    } catch (err) {
      throw err instanceof MountError ? err : listingError(d, region, err);
    }
    const read = await Promise.all(
      matches.map((m) => slots.run(() => fetchMatch(ctx, d, region, client, m))),
    );
    const entries = read.flatMap((r) => ('entry' in r ? [r.entry] : []));
    const missingMatches = read.flatMap((r) => ('missing' in r ? [r.missing] : []));
    // ListSecrets answers an empty list, not an error, when nothing matches.
    if (entries.length === 0 && d.optional)
      return missing(d, region, missingMatches[0]?.code ?? 'NoSecretSelected');
    const found: FetchedObject = { descriptor: d, value: Buffer.alloc(0), version: '', region, entries };
    return missingMatches.length > 0 ? { ...found, missingMatches } : found;
  });
}

export async function fetchObjects(
  ctx: FetchContext,
  descriptors: readonly ObjectDescriptor[],
): Promise<FetchedObject[]> {
  const selection = (d: ObjectDescriptor) => d.tree?.kind === 'secretsSelected';
  const secrets = descriptors.filter((d) => d.objectType === 'secretsmanager' && !selection(d));
  const underPath = (d: ObjectDescriptor) => d.tree?.kind === 'parametersUnderPath';
  const parameters = descriptors.filter((d) => d.objectType === 'ssmparameter' && !underPath(d));
  const trees = descriptors.filter(underPath);
  // One bound for the whole mount: a selection takes a slot for its listing and one per match read.
  const slots = new CallSlots(ctx.concurrency);
  const inSlot = (unit: () => Promise<FetchedObject[]>) => () => slots.run(unit);
  const units: Array<() => Promise<FetchedObject[]>> = secrets.map((d) =>
    inSlot(async () => [await fetchSecretsManagerObject(ctx, d)]),
  );
  for (const d of trees) units.push(inSlot(async () => [await fetchParameterTreeObject(ctx, d)]));
  for (const batch of parameterBatches(parameters)) units.push(inSlot(() => fetchParameterBatch(ctx, batch)));
  for (const d of descriptors.filter(selection))
    units.push(async () => [await fetchSelectionObject(ctx, d, slots)]);
  const results = await Promise.all(units.map((unit) => unit()));
  const byDescriptor = new Map(results.flat().map((f) => [f.descriptor, f]));
  // In the order of the class, whatever order the calls finished in.
  return descriptors.map((d) => byDescriptor.get(d) as FetchedObject);
}
