// SSM parameters: one GetParameters call for up to 10 names, decrypted, with `name:version` or
// `name:label` selectors; or every parameter under a path (GetParametersByPath, page by page).
import type { SSMClient } from '@aws-sdk/client-ssm';

import { ssmSdk } from '../aws-clients';

import type { FetchedValue } from './secrets-manager';

export const SSM_BATCH_SIZE = 10;

export interface ParameterRequest {
  name: string;
  version: string | undefined;
  label: string | undefined;
}

/** The name as sent: `name`, `name:3` or `name:label`. */
export function selectorOf(req: ParameterRequest): string {
  if (req.version !== undefined) return `${req.name}:${req.version}`;
  if (req.label !== undefined) return `${req.name}:${req.label}`;
  return req.name;
}

export class ParametersNotFound extends Error {
  override name = 'ParameterNotFound';

  constructor(readonly names: string[]) {
    super(`parameters not found (or versions or labels that do not exist): ${names.join(', ')}`);
  }
}

/**
 * Fetches at most SSM_BATCH_SIZE parameters, of distinct names, in one call; results in the order
 * asked. Distinct names let answers be matched by name alone: not every SSM implementation returns
 * the Selector field.
 */
export async function fetchParameters(
  client: SSMClient,
  requests: readonly ParameterRequest[],
  signal?: AbortSignal,
): Promise<FetchedValue[]> {
  const names = requests.map(selectorOf);
  const out = await client.send(
    new (ssmSdk().GetParametersCommand)({ Names: [...new Set(names)], WithDecryption: true }),
    {
      abortSignal: signal,
    },
  );
  if (out.InvalidParameters?.length) throw new ParametersNotFound([...new Set(out.InvalidParameters)]);
  const found = new Map<string, FetchedValue>();
  for (const p of out.Parameters ?? []) {
    const fetched = { value: Buffer.from(p.Value ?? '', 'utf8'), version: String(p.Version ?? '') };
    for (const key of [p.Name, p.ARN]) if (key) found.set(key, fetched);
  }
  return requests.map((req, i) => {
    const hit = found.get(req.name);
    if (!hit) throw new ParametersNotFound([names[i] as string]);
    return hit;
  });
}

/** One parameter under a path: its name relative to the path, its value and version. */
export interface ParameterTreeEntry {
  name: string;
  value: Buffer;
  version: string;
}

export interface ParameterTreeRequest {
  path: string;
  recursive: boolean;
  /** Stop and throw `tooMany()` once more than this many parameters came back. */
  maxEntries: number;
  tooMany(): Error;
}

/**
 * Every parameter under `path` (one level, or all levels), decrypted, page after page. Stops as
 * soon as the limit is passed rather than reading a whole oversized tree.
 */
export async function fetchParameterTree(
  client: SSMClient,
  req: ParameterTreeRequest,
  signal?: AbortSignal,
): Promise<ParameterTreeEntry[]> {
  const prefix = req.path.endsWith('/') ? req.path : `${req.path}/`;
  const entries: ParameterTreeEntry[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client.send(
      new (ssmSdk().GetParametersByPathCommand)({
        Path: req.path,
        Recursive: req.recursive,
        WithDecryption: true,
        NextToken: nextToken,
      }),
      { abortSignal: signal },
    );
    for (const p of out.Parameters ?? []) {
      const name = p.Name ?? '';
      entries.push({
        name: name.startsWith(prefix) ? name.slice(prefix.length) : name,
        value: Buffer.from(p.Value ?? '', 'utf8'),
        version: String(p.Version ?? ''),
      });
    }
    if (entries.length > req.maxEntries) throw req.tooMany();
    nextToken = out.NextToken || undefined;
  } while (nextToken);
  return entries;
}
