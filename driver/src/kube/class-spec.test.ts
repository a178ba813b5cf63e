import { thrownBy } from '@sscsi/common/testing';

import { DriverError } from '../errors';
import { providerOfClass } from './class-spec';

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
    const caught = thrownBy(() => providerOfClass(spec, 'default', 'db'), DriverError);
    expect(caught).toMatchObject({ reason: 'InvalidSecretProviderClass', message });
  });
});
