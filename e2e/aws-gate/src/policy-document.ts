// IAM policy documents as the IAM API returns them (JSON, URL-encoded by AWS and by moto), parsed
// into typed statements once, at the boundary.

export type ConditionBlock = Record<string, Record<string, readonly string[]>>;

export type PrincipalBlock = '*' | Record<string, readonly string[]>;

export interface Statement {
  sid?: string;
  effect: 'Allow' | 'Deny';
  action?: readonly string[];
  notAction?: readonly string[];
  resource?: readonly string[];
  notResource?: readonly string[];
  principal?: PrincipalBlock;
  notPrincipal?: PrincipalBlock;
  condition?: ConditionBlock;
}

export interface PolicyDocument {
  /** Where it came from, for messages: `role/x inline policy y`, `arn:aws:iam::...:policy/z`. */
  source: string;
  /** Policy variables are only substituted in version 2012-10-17. */
  variables: boolean;
  statements: readonly Statement[];
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

type Json = Record<string, unknown>;

function strings(value: unknown, field: string, source: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
    throw new PolicyError(`${source}: ${field} must be a string or a list of strings`);
  return list.map(String);
}

function principalBlock(value: unknown, field: string, source: string): PrincipalBlock | undefined {
  if (value === undefined) return undefined;
  if (value === '*') return '*';
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new PolicyError(`${source}: ${field} must be "*" or an object such as {"AWS": "..."}`);
  const out: Record<string, readonly string[]> = {};
  for (const [kind, ids] of Object.entries(value as Json))
    out[kind] = strings(ids, `${field}.${kind}`, source) ?? [];
  return out;
}

function conditionBlock(value: unknown, source: string): ConditionBlock | undefined {
  if (value === undefined) return undefined;
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new PolicyError(`${source}: Condition must be an object of operators`);
  const out: ConditionBlock = {};
  for (const [operator, keys] of Object.entries(value as Json)) {
    if (!keys || typeof keys !== 'object' || Array.isArray(keys))
      throw new PolicyError(`${source}: Condition ${operator} must be an object of condition keys`);
    out[operator] = {};
    for (const [key, values] of Object.entries(keys as Json))
      (out[operator] as Record<string, readonly string[]>)[key] =
        strings(values, `Condition ${operator} ${key}`, source) ?? [];
  }
  return out;
}

function statement(raw: unknown, source: string): Statement {
  if (!raw || typeof raw !== 'object') throw new PolicyError(`${source}: a Statement must be an object`);
  const s = raw as Json;
  if (s.Effect !== 'Allow' && s.Effect !== 'Deny')
    throw new PolicyError(`${source}: Effect must be "Allow" or "Deny"`);
  return {
    sid: typeof s.Sid === 'string' ? s.Sid : undefined,
    effect: s.Effect,
    action: strings(s.Action, 'Action', source),
    notAction: strings(s.NotAction, 'NotAction', source),
    resource: strings(s.Resource, 'Resource', source),
    notResource: strings(s.NotResource, 'NotResource', source),
    principal: principalBlock(s.Principal, 'Principal', source),
    notPrincipal: principalBlock(s.NotPrincipal, 'NotPrincipal', source),
    condition: conditionBlock(s.Condition, source),
  };
}

/** Parses a policy as the IAM API returns it: JSON, possibly URL-encoded. */
export function parsePolicyDocument(text: string, source: string): PolicyDocument {
  let json = text.trim();
  if (json.startsWith('%')) {
    try {
      json = decodeURIComponent(json);
    } catch {
      throw new PolicyError(`${source}: the document is neither JSON nor URL-encoded JSON`);
    }
  }
  let doc: Json;
  try {
    doc = JSON.parse(json) as Json;
  } catch {
    throw new PolicyError(`${source}: the document is not JSON`);
  }
  if (!doc || typeof doc !== 'object') throw new PolicyError(`${source}: the document is not an object`);
  const raw = doc.Statement;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return {
    source,
    variables: doc.Version === '2012-10-17',
    statements: list.map((s) => statement(s, source)),
  };
}
