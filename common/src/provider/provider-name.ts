// Which names can name a provider: upstream's rule, which also keeps a name from walking out of the
// socket folders. The linter checks class manifests with it before deploy.
import { ProviderCallError } from './provider-error';

const PROVIDER_NAME = /^[a-zA-Z0-9_-]{1,30}$/;

/** Throws the error a call reports when `provider` cannot name a provider's socket. */
export function checkProviderName(provider: string): void {
  if (!PROVIDER_NAME.test(provider)) {
    throw new ProviderCallError(
      'InvalidProviderName',
      `invalid provider name "${provider}": want [a-zA-Z0-9_-]{1,30}`,
      { provider },
    );
  }
}
