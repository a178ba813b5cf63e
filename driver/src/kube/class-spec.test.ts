import { Status } from '@sscsi/common';

import { DriverError } from '../errors';
import { checkProviderName, providerOfClass } from './class-spec';

describe('providerOfClass', () => {
  it('gives the provider of a class with a provider and parameters', () => {
    expect(providerOfClass({ provider: 'aws', parameters: { objects: '[]' } }, 'default', 'db')).toBe('aws');
  });

  it.each([
    ['no spec', undefined, 'SecretProviderClass default/db has no spec.provider'],
    ['no provider', { parameters: { objects: '[]' } }, 'SecretProviderClass default/db has no spec.provider'],
    [
      'a provider that is no string',
      { provider: 7, parameters: { a: 'b' } },
      'SecretProviderClass default/db has no spec.provider',
    ],
    ['no parameters', { provider: 'aws' }, 'SecretProviderClass default/db has no spec.parameters'],
    [
      'empty parameters',
      { provider: 'aws', parameters: {} },
      'SecretProviderClass default/db has no spec.parameters',
    ],
  ])('refuses a class with %s as an invalid class', (_what, spec, message) => {
    let caught: unknown;
    try {
      providerOfClass(spec, 'default', 'db');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DriverError);
    expect(caught).toMatchObject({ reason: 'InvalidSecretProviderClass', message });
  });
});

describe('checkProviderName', () => {
  it.each(['aws', 'azure', 'gcp', 'my_provider-2', 'a'.repeat(30)])('accepts %s', (name) => {
    expect(() => checkProviderName(name)).not.toThrow();
  });

  it.each(['', '../aws', 'aws.sock', 'a'.repeat(31), 'a/b'])(
    'refuses %j as a name no socket can have',
    (name) => {
      expect(() => checkProviderName(name)).toThrow(
        expect.objectContaining({
          reason: 'FailedToLookupProviderGRPCClient',
          code: Status.INVALID_ARGUMENT,
          message: `invalid provider name "${name}": want [a-zA-Z0-9_-]{1,30}`,
        }),
      );
    },
  );
});
