import { Status } from '@sscsi/common';

import { classifyAwsError } from './aws-errors';

const sdkError = (name: string, http = 400, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: http }, ...extra });

describe('classifyAwsError', () => {
  it.each<[string, unknown, string, boolean, Status]>([
    ['throttling', sdkError('ThrottlingException'), 'ThrottlingException', true, Status.UNAVAILABLE],
    ['STS throttling', sdkError('Throttling'), 'Throttling', true, Status.UNAVAILABLE],
    [
      'a throttling flag',
      sdkError('Whatever', 400, { $retryable: { throttling: true } }),
      'Whatever',
      true,
      Status.UNAVAILABLE,
    ],
    [
      'a server error',
      sdkError('InternalServiceError', 500),
      'InternalServiceError',
      true,
      Status.UNAVAILABLE,
    ],
    ['a server fault', sdkError('Odd', 400, { $fault: 'server' }), 'Odd', true, Status.UNAVAILABLE],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'ECONNREFUSED',
      true,
      Status.UNAVAILABLE,
    ],
    ['a timeout', sdkError('TimeoutError', 0), 'TimeoutError', true, Status.UNAVAILABLE],
    [
      "STS unable to reach the cluster's OIDC provider",
      sdkError('IDPCommunicationError'),
      'IDPCommunicationError',
      true,
      Status.UNAVAILABLE,
    ],
    [
      'access denied',
      sdkError('AccessDeniedException'),
      'AccessDeniedException',
      false,
      Status.PERMISSION_DENIED,
    ],
    [
      'a KMS decryption failure',
      sdkError('DecryptionFailure'),
      'DecryptionFailure',
      false,
      Status.PERMISSION_DENIED,
    ],
    [
      'a missing secret',
      sdkError('ResourceNotFoundException'),
      'ResourceNotFoundException',
      false,
      Status.NOT_FOUND,
    ],
    [
      'a missing parameter version',
      sdkError('ParameterVersionNotFound'),
      'ParameterVersionNotFound',
      false,
      Status.NOT_FOUND,
    ],
    ['a cancelled call', sdkError('AbortError', 0), 'AbortError', false, Status.DEADLINE_EXCEEDED],
    ['anything else', sdkError('ValidationException'), 'ValidationException', false, Status.INTERNAL],
    ['not an error at all', undefined, 'UnknownError', false, Status.INTERNAL],
  ])('%s', (_name, err, code, retriable, status) => {
    const info = classifyAwsError(err);
    expect(info).toMatchObject({ code, retriable, status });
  });

  it('shortens the message to one line', () => {
    const info = classifyAwsError(sdkError(`Access\ndenied ${'x'.repeat(900)}`));
    expect(info.message).not.toContain('\n');
    expect(info.message.length).toBeLessThanOrEqual(600);
  });
});
