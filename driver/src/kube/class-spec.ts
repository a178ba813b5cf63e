// What the driver itself requires of a SecretProviderClass before it asks a provider anything:
// a provider whose name can be a socket file, and parameters to send it. Pure, so that the linter
// (lint/) refuses exactly what a mount would.
import { Status } from '@sscsi/common';

import { DriverError } from '../errors';

/** Upstream's rule for provider names; it also keeps names from walking out of the socket folders. */
const PROVIDER_NAME = /^[a-zA-Z0-9_-]{1,30}$/;

/** Throws the error a publish reports when `provider` cannot name a provider's socket. */
export function checkProviderName(provider: string): void {
  if (!PROVIDER_NAME.test(provider)) {
    throw new DriverError(
      'FailedToLookupProviderGRPCClient',
      `invalid provider name "${provider}": want [a-zA-Z0-9_-]{1,30}`,
      { code: Status.INVALID_ARGUMENT },
    );
  }
}

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
