import { Status } from '../status-error';
import { checkProviderName } from './provider-name';

describe('checkProviderName', () => {
  it.each(['aws', 'azure', 'gcp', 'my_provider-2', 'a'.repeat(30)])('accepts %s', (name) => {
    expect(() => checkProviderName(name)).not.toThrow();
  });

  it.each(['', '../aws', 'aws.sock', 'a'.repeat(31), 'a/b'])(
    'refuses %j as a name no socket can have',
    (name) => {
      expect(() => checkProviderName(name)).toThrow(
        expect.objectContaining({
          reason: 'InvalidProviderName',
          code: Status.INVALID_ARGUMENT,
          message: `invalid provider name "${name}": want [a-zA-Z0-9_-]{1,30}`,
        }),
      );
    },
  );
});
