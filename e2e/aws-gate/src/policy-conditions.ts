// A statement's Condition block, evaluated as IAM does: every operator must hold, every key under
// an operator must hold, and a key holds when any of its values matches. Negated operators hold for
// a key the request lacks; `...IfExists` holds for a missing key; `ForAnyValue:`/`ForAllValues:`
// compare multi-valued keys as sets.
import type { ConditionContext } from './condition-context';
import { arnMatches, matchesPattern, substituteVariables } from './iam-patterns';
import type { ConditionBlock } from './policy-document';

export class UnsupportedCondition extends Error {
  override name = 'UnsupportedCondition';
}

/** Compares one request value with one policy value; `variables` when the policy has them. */
type Comparator = (requestValue: string, policyValue: string, variables?: ConditionContext) => boolean;

const exact =
  (caseInsensitive: boolean): Comparator =>
  (value, policy, variables) => {
    const expected = substituteVariables(policy, variables);
    if (expected === undefined) return false;
    return caseInsensitive ? value.toLowerCase() === expected.toLowerCase() : value === expected;
  };

const like: Comparator = (value, policy, variables) =>
  matchesPattern(policy, value, { wildcards: true, variables });

/** Epoch seconds or an ISO 8601 date, in milliseconds. */
function time(text: string): number {
  return /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text);
}

const ORDERINGS: Array<[name: string, test: (a: number, b: number) => boolean, negated: boolean]> = [
  ['Equals', (a, b) => a === b, false],
  ['NotEquals', (a, b) => a === b, true],
  ['LessThan', (a, b) => a < b, false],
  ['LessThanEquals', (a, b) => a <= b, false],
  ['GreaterThan', (a, b) => a > b, false],
  ['GreaterThanEquals', (a, b) => a >= b, false],
];

/**
 * `<kind>Equals`, `<kind>LessThan`, ...: the request's value and the policy's compared as numbers
 * read by `read` (Numeric: numbers, Date: times); a value that does not read never matches.
 */
function orderedOperators(kind: string, read: (text: string) => number) {
  return Object.fromEntries(
    ORDERINGS.map(([name, test, negated]) => {
      const compare: Comparator = (value, policy) => {
        const a = read(value);
        const b = read(policy);
        return !Number.isNaN(a) && !Number.isNaN(b) && test(a, b);
      };
      return [`${kind}${name}`, { compare, negated }];
    }),
  );
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

const inCidr: Comparator = (value, policy) => {
  const [base, bits = '32'] = policy.split('/');
  const address = ipv4(value.replace(/^::ffff:/, ''));
  const network = ipv4(base ?? '');
  if (address === undefined || network === undefined) return value === policy;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(address / size) === Math.floor(network / size);
};

const OPERATORS: Record<string, { compare: Comparator; negated: boolean }> = {
  StringEquals: { compare: exact(false), negated: false },
  StringNotEquals: { compare: exact(false), negated: true },
  StringEqualsIgnoreCase: { compare: exact(true), negated: false },
  StringNotEqualsIgnoreCase: { compare: exact(true), negated: true },
  StringLike: { compare: like, negated: false },
  StringNotLike: { compare: like, negated: true },
  ArnEquals: { compare: (v, p, vars) => arnMatches(p, v, vars), negated: false },
  ArnLike: { compare: (v, p, vars) => arnMatches(p, v, vars), negated: false },
  ArnNotEquals: { compare: (v, p, vars) => arnMatches(p, v, vars), negated: true },
  ArnNotLike: { compare: (v, p, vars) => arnMatches(p, v, vars), negated: true },
  ...orderedOperators('Numeric', Number),
  ...orderedOperators('Date', time),
  Bool: { compare: (v, p) => v.toLowerCase() === p.toLowerCase(), negated: false },
  IpAddress: { compare: inCidr, negated: false },
  NotIpAddress: { compare: inCidr, negated: true },
};

interface ParsedOperator {
  set?: 'ForAnyValue' | 'ForAllValues';
  base: string;
  ifExists: boolean;
}

function parseOperator(name: string): ParsedOperator {
  const set = /^(ForAnyValue|ForAllValues):/.exec(name)?.[1] as ParsedOperator['set'];
  let base = set ? name.slice(set.length + 1) : name;
  const ifExists = base.endsWith('IfExists') && base !== 'IfExists';
  if (ifExists) base = base.slice(0, -'IfExists'.length);
  return { set, base, ifExists };
}

function keyHolds(
  op: ParsedOperator,
  requestValues: readonly string[] | undefined,
  policyValues: readonly string[],
  variables: ConditionContext | undefined,
): boolean {
  if (op.base === 'Null') {
    const wantsAbsent = policyValues.some((v) => v.toLowerCase() === 'true');
    return wantsAbsent === (requestValues === undefined || requestValues.length === 0);
  }
  const operator = OPERATORS[op.base];
  if (!operator) throw new UnsupportedCondition(`condition operator ${op.base} is not supported by the lab`);
  const matchesAny = (value: string) => policyValues.some((p) => operator.compare(value, p, variables));
  const missing = requestValues === undefined || requestValues.length === 0;
  if (op.set === 'ForAllValues') {
    if (missing) return true;
    return requestValues.every((v) => (operator.negated ? !matchesAny(v) : matchesAny(v)));
  }
  if (op.set === 'ForAnyValue') {
    if (missing) return op.ifExists;
    return requestValues.some((v) => (operator.negated ? !matchesAny(v) : matchesAny(v)));
  }
  if (missing) return op.ifExists || operator.negated;
  const anyMatch = requestValues.some(matchesAny);
  return operator.negated ? !anyMatch : anyMatch;
}

/** True when every operator of the block holds for the request. */
export function conditionsHold(
  block: ConditionBlock,
  context: ConditionContext,
  variables: boolean,
): boolean {
  for (const [name, keys] of Object.entries(block)) {
    const op = parseOperator(name);
    for (const [key, policyValues] of Object.entries(keys)) {
      if (!keyHolds(op, context.get(key), policyValues, variables ? context : undefined)) return false;
    }
  }
  return true;
}
