// What the driver itself requires of a SecretProviderClass before it asks a provider anything:
// a provider, and parameters to send it (the provider client checks the name). Pure, so that the
// linter (lint/) refuses exactly what a mount would.
import { DriverError } from '../errors';

/**
 * The class's provider, or the error a publish reports for a class without a provider or
 * parameters. `namespace`/`name` name the class in the message.
 */
export function providerOfClass(
  spec: { provider?: unknown; parameters?: unknown } | undefined,
  namespace: string,
  name: string,
): string {
  const provider = spec?.provider;
  if (!provider || typeof provider !== 'string') {
    throw new DriverError(
      'InvalidSecretProviderClass',
      `SecretProviderClass ${namespace}/${name} has no spec.provider`,
    );
  }
  const parameters = spec.parameters;
  if (!parameters || typeof parameters !== 'object' || Object.keys(parameters).length === 0) {
    throw new DriverError(
      'InvalidSecretProviderClass',
      `SecretProviderClass ${namespace}/${name} has no spec.parameters`,
    );
  }
  return provider;
}
