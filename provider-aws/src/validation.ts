// What the AWS provider checks of a Mount request before any network call, for
// secrets-store-csi-lint: the package's `secrets-store-csi-driver-provider-aws/validation` entry. The
// parsers only: nothing here loads the AWS SDK or starts a server (validation.test.ts).
export {
  Attr,
  IRSA_AUDIENCE,
  parseDescriptors,
  parseMountRequest,
  parseTemplates,
  POD_IDENTITY_AUDIENCE,
} from './parameters/mount-request';
export { objectLabel, parseObjects } from './parameters/descriptors';
