// Secrets Manager's ListSecrets as AWS checks its input before answering: the filter keys it knows,
// 1 to 10 values per filter, each at most 512 of the characters a filter value may hold (a leading
// `!` negates), MaxResults 1 to 100. moto (5.2.5) answers what passes: name, tag-key and tag-value
// match as prefixes, case-sensitive, `!` negates, pages of MaxResults (default 100) with NextToken,
// secrets scheduled for deletion left out unless IncludePlannedDeletion. moto takes input AWS
// refuses, so the gate refuses it first, and a provider that would fail on AWS fails in the lab.
import { AwsError } from './aws-errors';

const FILTER_KEYS = [
  'description',
  'name',
  'tag-key',
  'tag-value',
  'primary-region',
  'owning-service',
  'all',
];
const FILTER_VALUE = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;
const MAX_FILTER_VALUES = 10;
const MAX_FILTER_VALUE_LENGTH = 512;
export const MAX_LIST_SECRETS_RESULTS = 100;

/** The constraints a ListSecrets request breaks, in AWS's words; empty when it is valid. */
export function listSecretsViolations(params: Readonly<Record<string, unknown>>): string[] {
  const violations: string[] = [];
  const at = (path: string, value: unknown, constraint: string) =>
    violations.push(`Value '${String(value)}' at '${path}' failed to satisfy constraint: ${constraint}`);
  const max = params.MaxResults;
  if (max !== undefined && max !== null) {
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1)
      at('maxResults', max, 'Member must have value greater than or equal to 1');
    else if (max > MAX_LIST_SECRETS_RESULTS)
      at('maxResults', max, `Member must have value less than or equal to ${MAX_LIST_SECRETS_RESULTS}`);
  }
  const filters = params.Filters;
  if (filters === undefined || filters === null) return violations;
  if (!Array.isArray(filters)) {
    at('filters', JSON.stringify(filters), 'Member must be a list');
    return violations;
  }
  filters.forEach((filter: unknown, i) => {
    const path = `filters.${i + 1}.member`;
    const { Key: key, Values: values } = (filter ?? {}) as { Key?: unknown; Values?: unknown };
    if (key !== undefined && !FILTER_KEYS.includes(String(key)))
      at(`${path}.key`, key, `Member must satisfy enum value set: [${FILTER_KEYS.join(', ')}]`);
    if (values === undefined || values === null) return;
    if (!Array.isArray(values) || values.length < 1 || values.length > MAX_FILTER_VALUES) {
      const n = Array.isArray(values) ? values.length : 0;
      at(`${path}.values`, `[${n} values]`, `Member must have length between 1 and ${MAX_FILTER_VALUES}`);
      return;
    }
    values.forEach((value: unknown) => {
      const text = String(value);
      if (text.length > MAX_FILTER_VALUE_LENGTH)
        at(
          `${path}.values`,
          text,
          `Member must have length less than or equal to ${MAX_FILTER_VALUE_LENGTH}`,
        );
      else if (!FILTER_VALUE.test(text))
        at(`${path}.values`, text, `Member must satisfy regular expression pattern: ${FILTER_VALUE.source}`);
    });
  });
  return violations;
}

/** Throws AWS's ValidationException when a ListSecrets request breaks a constraint. */
export function checkListSecrets(params: Readonly<Record<string, unknown>>): void {
  const violations = listSecretsViolations(params);
  if (violations.length === 0) return;
  const n = violations.length;
  throw new AwsError(
    'ValidationException',
    400,
    `${n} validation error${n > 1 ? 's' : ''} detected: ${violations.join('; ')}`,
  );
}
