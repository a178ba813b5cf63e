// What a mount checks in the driver before it asks a provider anything, for secrets-store-csi-lint:
// the package's `secrets-store-csi-driver/validation` entry. Pure parsers only: nothing here starts a
// server or a client, so the linter loads none of the driver's wiring.
export { parsePublishRequest } from './csi/publish-request';
export { volumeOwnership } from './files/file-ownership';
export { providerOfClass } from './kube/class-spec';
export { buildSecretContent } from './sync/secret-data';
