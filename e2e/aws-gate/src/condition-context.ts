// The request context IAM evaluates conditions and policy variables against: keys such as
// `aws:PrincipalTag/kubernetes-namespace` or `kubernetes.default.svc:sub`. Key names are
// case-insensitive in IAM, values are not.

export type ContextValue = string | readonly string[];

export class ConditionContext {
  private readonly values = new Map<string, ContextValue>();

  constructor(entries: Record<string, ContextValue | undefined> = {}) {
    for (const [key, value] of Object.entries(entries)) if (value !== undefined) this.set(key, value);
  }

  set(key: string, value: ContextValue): this {
    this.values.set(key.toLowerCase(), value);
    return this;
  }

  /** Adds `<prefix><tag>` for each tag, e.g. `aws:PrincipalTag/team`. */
  setTags(prefix: string, tags: Readonly<Record<string, string>>): this {
    for (const [tag, value] of Object.entries(tags)) this.set(`${prefix}${tag}`, value);
    return this;
  }

  /** The values of a key: one for single-valued keys, undefined when the request has no such key. */
  get(key: string): readonly string[] | undefined {
    const value = this.values.get(key.toLowerCase());
    if (value === undefined) return undefined;
    return typeof value === 'string' ? [value] : value;
  }

  /** Single-valued lookup, for policy variables. */
  single(key: string): string | undefined {
    const value = this.values.get(key.toLowerCase());
    return typeof value === 'string' ? value : undefined;
  }

  merged(other: ConditionContext): ConditionContext {
    const out = new ConditionContext();
    for (const [k, v] of this.values) out.values.set(k, v);
    for (const [k, v] of other.values) out.values.set(k, v);
    return out;
  }
}
