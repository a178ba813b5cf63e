// SSM parameters: one GetParameters call for up to 10 names, decrypted, with `name:version` or
// `name:label` selectors; or every parameter under a path (GetParametersByPath, page by page).
import type { SSMClient } from '@aws-sdk/client-ssm';

import { ssmSdk } from '../aws-clients';
import type { FetchedValue, ParameterTreeEntry } from './fetched';
import type { ParameterRequest } from './ssm-names';
import { parametersByName, selectorOf } from './ssm-names';

export class ParametersNotFound extends Error {
  override name = 'ParameterNotFound';

  constructor(readonly names: string[]) {
    super(`parameters not found (or versions or labels that do not exist): ${names.join(', ')}`);
  }
}

/**
 * Fetches at most SSM_NAMES_PER_CALL parameters, of distinct names, in one call; results in the
 * order asked, matched by name (ssm-names.ts). A parameter SSM does not have is undefined when its
 * request is optional; any other makes the whole batch fail, naming only those.
 */
export async function fetchParameters(
  client: SSMClient,
  requests: ReadonlyArray<ParameterRequest & { optional?: boolean }>,
  signal?: AbortSignal,
): Promise<Array<FetchedValue | undefined>> {
  const names = requests.map(selectorOf);
  const out = await client.send(
    new (ssmSdk().GetParametersCommand)({ Names: [...new Set(names)], WithDecryption: true }),
    {
      abortSignal: signal,
    },
  );
  const optional = new Set(names.filter((_, i) => requests[i]?.optional));
  const required = (out.InvalidParameters ?? []).filter((n) => !optional.has(n));
  if (required.length) throw new ParametersNotFound([...new Set(required)]);
  const found = parametersByName(out.Parameters);
  return requests.map((req, i) => {
    const hit = found.get(req.name);
    if (!hit) {
      if (req.optional) return undefined;
      throw new ParametersNotFound([names[i] as string]);
    }
    return { value: Buffer.from(hit.Value ?? '', 'utf8'), version: String(hit.Version ?? '') };
  });
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
