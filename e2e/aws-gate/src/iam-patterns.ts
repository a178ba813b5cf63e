// How IAM compares a policy's text with a request's: `*` and `?` wildcards in actions, resources and
// the *Like operators; policy variables such as `${aws:PrincipalTag/team}` (policy version
// 2012-10-17 only), whose values are always taken literally; ARNs compared component by component.
import type { ConditionContext } from './condition-context';

type Token = { kind: 'text'; value: string } | { kind: 'any' } | { kind: 'one' };

export interface PatternOptions {
  /** Treat `*` and `?` as wildcards (actions, resources, *Like operators). */
  wildcards: boolean;
  caseInsensitive?: boolean;
  /** The request context for policy variables; absent when the policy's version has none. */
  variables?: ConditionContext;
}

const ESCAPES: Record<string, string> = { '*': '*', '?': '?', $: '$' };

/** `${key}` or `${key, 'default'}`; undefined when the key has no single value and no default. */
function resolveVariable(body: string, context: ConditionContext): string | undefined {
  const escaped = ESCAPES[body.trim()];
  if (escaped !== undefined) return escaped;
  const match = /^\s*([^,\s]+)\s*(?:,\s*'([^']*)'\s*)?$/.exec(body);
  if (!match) return undefined;
  return context.single(match[1] as string) ?? match[2];
}

function pushText(tokens: Token[], text: string, wildcards: boolean): void {
  for (const ch of text) {
    if (wildcards && ch === '*') tokens.push({ kind: 'any' });
    else if (wildcards && ch === '?') tokens.push({ kind: 'one' });
    else {
      const last = tokens.at(-1);
      if (last?.kind === 'text') last.value += ch;
      else tokens.push({ kind: 'text', value: ch });
    }
  }
}

/** The pattern as tokens; undefined when a policy variable has no value (the pattern matches nothing). */
function tokenize(pattern: string, o: PatternOptions): Token[] | undefined {
  const tokens: Token[] = [];
  let rest = pattern;
  while (rest.length > 0) {
    const start = o.variables ? rest.indexOf('${') : -1;
    const end = start >= 0 ? rest.indexOf('}', start) : -1;
    if (start < 0 || end < 0) {
      pushText(tokens, rest, o.wildcards);
      break;
    }
    pushText(tokens, rest.slice(0, start), o.wildcards);
    const value = resolveVariable(rest.slice(start + 2, end), o.variables as ConditionContext);
    if (value === undefined) return undefined;
    // A variable's value is literal text, even when it holds `*`.
    pushText(tokens, value, false);
    rest = rest.slice(end + 1);
  }
  return tokens;
}

function toRegExp(tokens: readonly Token[], caseInsensitive: boolean): RegExp {
  const source = tokens
    .map((t) =>
      t.kind === 'any' ? '.*' : t.kind === 'one' ? '.' : t.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`, caseInsensitive ? 'is' : 's');
}

export function matchesPattern(pattern: string, value: string, o: PatternOptions): boolean {
  const tokens = tokenize(pattern, o);
  return tokens !== undefined && toRegExp(tokens, o.caseInsensitive ?? false).test(value);
}

/** The value with policy variables substituted (for the exact-match operators). */
export function substituteVariables(text: string, variables?: ConditionContext): string | undefined {
  const tokens = tokenize(text, { wildcards: false, variables });
  return tokens?.map((t) => (t.kind === 'text' ? t.value : '')).join('');
}

/** Splits tokens at the first five `:` of their text: the six components of an ARN. */
function arnComponents(tokens: readonly Token[]): Token[][] {
  const parts: Token[][] = [[]];
  for (const token of tokens) {
    if (token.kind !== 'text') {
      (parts.at(-1) as Token[]).push(token);
      continue;
    }
    let text = token.value;
    while (parts.length < 6 && text.includes(':')) {
      const i = text.indexOf(':');
      if (i > 0) (parts.at(-1) as Token[]).push({ kind: 'text', value: text.slice(0, i) });
      parts.push([]);
      text = text.slice(i + 1);
    }
    if (text) (parts.at(-1) as Token[]).push({ kind: 'text', value: text });
  }
  return parts;
}

/** ArnLike / ArnEquals: each of the six components matched on its own, wildcards within one. */
export function arnMatches(pattern: string, arn: string, variables?: ConditionContext): boolean {
  const tokens = tokenize(pattern, { wildcards: true, variables });
  if (!tokens) return false;
  const patternParts = arnComponents(tokens);
  // Only `*` stands for a whole ARN; any other pattern needs its six components.
  if (patternParts.length < 6) return tokens.every((t) => t.kind === 'any');
  const valueParts = arn.split(':');
  if (valueParts.length < 6) return false;
  const values = [...valueParts.slice(0, 5), valueParts.slice(5).join(':')];
  return patternParts.every((part, i) => toRegExp(part, false).test(values[i] as string));
}
