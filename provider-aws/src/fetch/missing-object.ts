// An optional object AWS says is not there: a result of the mount, not a failure. Not there is
// what AWS says of a name (or a version, or a label) that does not exist, and of a secret scheduled
// for deletion (Secrets Manager keeps it for its recovery window but answers GetSecretValue with
// InvalidRequestException, telling it apart by the message only). Denied access, a key KMS will
// not use, throttling and faults are never "not there": they fail the mount as for any object.
import { classifyAwsError } from '../aws-errors';
import { ParametersNotFound } from './parameter-store';

/**
 * The version reported to the driver for a missing optional object, recorded in the
 * SecretProviderClassPodStatus; no real version looks like it (Secrets Manager's are UUIDs, SSM's
 * numbers), and it comes back as the mounted version on rotation.
 */
export const MISSING_VERSION = 'missing';

const NOT_THERE = new Set([
  'ResourceNotFoundException',
  'ParameterNotFound',
  'ParameterVersionNotFound',
  'ParameterVersionLabelNotFound',
]);
const SCHEDULED_FOR_DELETION = /marked for deletion/i;

/** The AWS error code that says the object is not there, or undefined for any other failure. */
export function missingCodeOf(err: unknown): string | undefined {
  if (err instanceof ParametersNotFound) return 'ParameterNotFound';
  const { code, message } = classifyAwsError(err);
  if (NOT_THERE.has(code)) return code;
  if (code === 'InvalidRequestException' && SCHEDULED_FOR_DELETION.test(message)) return code;
  return undefined;
}
