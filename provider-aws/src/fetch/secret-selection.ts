// The secrets an objects entry selects by name prefix and/or tags: ListSecrets, page after page,
// narrowed by AWS with its filters and then checked here exactly (AWS matches filter values as
// prefixes, and a tag-key and a tag-value filter need not meet on one tag). Secrets scheduled for
// deletion are not listed. The listing gives each match's current version, so a remount reads
// only the matches that changed.
import type { Filter, SecretsManagerClient, SecretListEntry } from '@aws-sdk/client-secrets-manager';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';

import { LIST_FILTER_VALUE } from '../parameters/descriptors';

export interface SelectionRequest {
  namePrefix: string | undefined;
  tags: Readonly<Record<string, string>>;
  /** Stop and throw `tooMany()` once more than this many secrets match. */
  maxMatches: number;
  tooMany(): Error;
  /**
   * Stop and throw `tooManyListed()` before listing more than this many secrets, matches or not
   * (AWS filters by prefix and by one tag only: the filters may let through far more than match).
   */
  maxListed: number;
  tooManyListed(): Error;
}

export interface SecretMatch {
  name: string;
  /** The version carrying AWSCURRENT, when the listing says. */
  currentVersion: string | undefined;
}

/** ListSecrets' page size at most. */
export const LIST_SECRETS_PAGE = 100;

/** The filters that narrow the listing; every match is checked again by `selects`. */
export function selectionFilters(req: Pick<SelectionRequest, 'namePrefix' | 'tags'>): Filter[] {
  const filters: Filter[] = [];
  if (req.namePrefix !== undefined) filters.push({ Key: 'name', Values: [req.namePrefix] });
  const tag = Object.entries(req.tags).find(([key]) => LIST_FILTER_VALUE.test(key));
  if (tag) {
    filters.push({ Key: 'tag-key', Values: [tag[0]] });
    if (LIST_FILTER_VALUE.test(tag[1])) filters.push({ Key: 'tag-value', Values: [tag[1]] });
  }
  return filters;
}

/** Whether a listed secret is one the entry selects: its name starts with the prefix, it has every tag. */
export function selects(req: Pick<SelectionRequest, 'namePrefix' | 'tags'>, entry: SecretListEntry): boolean {
  const name = entry.Name ?? '';
  if (name === '' || (req.namePrefix !== undefined && !name.startsWith(req.namePrefix))) return false;
  const tags = new Map((entry.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  return Object.entries(req.tags).every(([key, value]) => tags.get(key) === value);
}

const currentOf = (entry: SecretListEntry): string | undefined =>
  Object.entries(entry.SecretVersionsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0];

/** The secrets selected, in name order. */
export async function listSelectedSecrets(
  client: Pick<SecretsManagerClient, 'send'>,
  req: SelectionRequest,
  signal?: AbortSignal,
): Promise<SecretMatch[]> {
  const filters = selectionFilters(req);
  const matches = new Map<string, SecretMatch>();
  let nextToken: string | undefined;
  let listed = 0;
  do {
    const out = await client.send(
      new ListSecretsCommand({
        Filters: filters.length > 0 ? filters : undefined,
        MaxResults: LIST_SECRETS_PAGE,
        NextToken: nextToken,
      }),
      { abortSignal: signal },
    );
    listed += out.SecretList?.length ?? 0;
    for (const entry of out.SecretList ?? []) {
      if (!selects(req, entry)) continue;
      const name = entry.Name as string;
      matches.set(name, { name, currentVersion: currentOf(entry) });
    }
    if (matches.size > req.maxMatches) throw req.tooMany();
    nextToken = out.NextToken || undefined;
    if (nextToken && listed >= req.maxListed) throw req.tooManyListed();
  } while (nextToken);
  return [...matches.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A match's name inside the entry's directory: what follows the prefix's last `/`. */
export function nameInSelection(namePrefix: string | undefined, name: string): string {
  const folder = namePrefix === undefined ? 0 : namePrefix.lastIndexOf('/') + 1;
  return name.slice(folder);
}
