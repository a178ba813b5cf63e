// IAM's decision for one request against a set of policies of one account: an explicit Deny in any
// statement wins, else an Allow is needed, else the request is implicitly denied. Identity policies
// (a role's) match Action and Resource; resource policies (a role's trust policy) match the
// Principal too, and a statement without Resource applies to the resource it is attached to.
import type { ConditionContext } from './condition-context';
import { matchesPattern } from './iam-patterns';
import { conditionsHold, UnsupportedCondition } from './policy-conditions';
import type { PolicyDocument, PrincipalBlock, Statement } from './policy-document';

/** Who is asking, as a resource policy's Principal element names it. */
export type Caller =
  /** `arns`: the role and its session (or the account root); `account`: the account ID. */
  | { type: 'AWS'; account: string; arns: readonly string[] }
  | { type: 'Federated'; id: string }
  | { type: 'Service'; id: string };

export interface AccessRequest {
  /** `service:Operation`, e.g. `secretsmanager:GetSecretValue`. */
  action: string;
  /** The ARN the request acts on, or `*`. */
  resource: string;
  context: ConditionContext;
  /** Required for resource policies. */
  caller?: Caller;
}

export interface Decision {
  effect: 'Allow' | 'Deny' | 'ImplicitDeny';
  /** The deciding statement's policy. */
  source?: string;
  /** Conditions the lab cannot evaluate: such an Allow never applies, such a Deny always does. */
  unsupported?: string;
}

export type PolicyKind = 'identity' | 'resource';

function principalMatches(block: PrincipalBlock, caller: Caller | undefined): boolean {
  if (block === '*') return true;
  if (!caller) return false;
  const ids = block[caller.type] ?? [];
  return ids.some((id) => {
    if (id === '*') return true;
    if (caller.type !== 'AWS') return id === caller.id;
    if (/^\d{12}$/.test(id)) return id === caller.account;
    const root = /^arn:aws:iam::(\d{12}):root$/.exec(id);
    if (root) return root[1] === caller.account;
    return caller.arns.includes(id);
  });
}

function anyMatch(patterns: readonly string[], value: string, o: Parameters<typeof matchesPattern>[2]) {
  return patterns.some((p) => matchesPattern(p, value, o));
}

/** Whether the statement's Action, Resource and Principal cover the request (conditions aside). */
function covers(s: Statement, doc: PolicyDocument, request: AccessRequest, kind: PolicyKind): boolean {
  const action = { wildcards: true, caseInsensitive: true };
  if (s.action && !anyMatch(s.action, request.action, action)) return false;
  if (s.notAction && anyMatch(s.notAction, request.action, action)) return false;
  if (!s.action && !s.notAction) return false;
  const resource = { wildcards: true, variables: doc.variables ? request.context : undefined };
  if (s.resource && !anyMatch(s.resource, request.resource, resource)) return false;
  if (s.notResource && anyMatch(s.notResource, request.resource, resource)) return false;
  if (kind === 'identity') return Boolean(s.resource || s.notResource);
  if (s.principal && !principalMatches(s.principal, request.caller)) return false;
  if (s.notPrincipal && principalMatches(s.notPrincipal, request.caller)) return false;
  return Boolean(s.principal || s.notPrincipal);
}

export function evaluatePolicies(
  docs: readonly PolicyDocument[],
  request: AccessRequest,
  kind: PolicyKind,
): Decision {
  let allow: Decision | undefined;
  let unsupported: string | undefined;
  for (const doc of docs) {
    for (const s of doc.statements) {
      if (!covers(s, doc, request, kind)) continue;
      let holds: boolean;
      try {
        holds = s.condition ? conditionsHold(s.condition, request.context, doc.variables) : true;
      } catch (err) {
        if (!(err instanceof UnsupportedCondition)) throw err;
        unsupported = `${doc.source}: ${err.message}`;
        holds = s.effect === 'Deny';
      }
      if (!holds) continue;
      if (s.effect === 'Deny') return { effect: 'Deny', source: doc.source, unsupported };
      allow ??= { effect: 'Allow', source: doc.source };
    }
  }
  return allow ?? { effect: 'ImplicitDeny', unsupported };
}
