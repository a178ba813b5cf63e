// What the gate refuses of a ListSecrets request before moto sees it, as AWS refuses it.
import { AwsError } from './aws-errors';
import { checkListSecrets, listSecretsViolations } from './list-secrets';

describe('ListSecrets input', () => {
  it.each<[string, Record<string, unknown>]>([
    ['no input', {}],
    [
      'a name prefix, a tag key and value, a negation, a full page',
      {
        Filters: [
          { Key: 'name', Values: ['prod/app/'] },
          { Key: 'tag-key', Values: ['team'] },
          { Key: 'tag-value', Values: ['!payments'] },
        ],
        MaxResults: 100,
        NextToken: 'opaque',
      },
    ],
    ['every character a filter value may hold', { Filters: [{ Key: 'all', Values: ['a Z 0:_@/+=.-!'] }] }],
    [
      '10 values of 512 characters',
      { Filters: [{ Key: 'name', Values: Array.from({ length: 10 }, () => 'a'.repeat(512)) }] },
    ],
  ])('accepts %s', (_name, params) => {
    expect(listSecretsViolations(params)).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'MaxResults 0',
      { MaxResults: 0 },
      "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
    ],
    [
      'MaxResults 101',
      { MaxResults: 101 },
      "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100",
    ],
    [
      'an unknown key',
      { Filters: [{ Key: 'path', Values: ['x'] }] },
      "Value 'path' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]",
    ],
    [
      'no values',
      { Filters: [{ Key: 'name', Values: [] }] },
      "Value '[0 values]' at 'filters.1.member.values' failed to satisfy constraint: Member must have length between 1 and 10",
    ],
    [
      'a value too long',
      { Filters: [{ Key: 'name', Values: ['a'.repeat(513)] }] },
      `Value '${'a'.repeat(513)}' at 'filters.1.member.values' failed to satisfy constraint: Member must have length less than or equal to 512`,
    ],
    [
      'a comma',
      { Filters: [{ Key: 'name', Values: ['a', 'b,c'] }] },
      "Value 'b,c' at 'filters.1.member.values' failed to satisfy constraint: Member must satisfy regular expression pattern: ^!?[a-zA-Z0-9 :_@/+=.\\-!]*$",
    ],
  ])('refuses %s', (_name, params, violation) => {
    expect(listSecretsViolations(params)).toEqual([violation]);
  });

  it('names every violation in one ValidationException', () => {
    let caught: unknown;
    try {
      checkListSecrets({ MaxResults: 500, Filters: [{ Key: 'nope', Values: ['x'] }] });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AwsError);
    expect(caught).toMatchObject({ code: 'ValidationException', status: 400 });
    expect((caught as Error).message).toMatch(
      /^2 validation errors detected: Value '500' at 'maxResults'.*; Value 'nope'/,
    );
  });
});
