import { KubeApiError } from './kube';
import {
  describeKubeFailure,
  Status,
  StatusError,
  statusOfKubeFailure,
  toServiceError,
} from './status-error';
import { capturingLogger } from './testing';

const { logger, lines: logged } = capturingLogger();

const apiError = (status: number, reason: string) =>
  new KubeApiError('GET', '/apis/g/v1/namespaces/ns/things/a', status, reason, 'said the API server');

const networkError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('statusOfKubeFailure', () => {
  it.each<[string, unknown, Status]>([
    ['401 Unauthorized', apiError(401, 'Unauthorized'), Status.UNAUTHENTICATED],
    ['403 Forbidden', apiError(403, 'Forbidden'), Status.PERMISSION_DENIED],
    ['404 NotFound', apiError(404, 'NotFound'), Status.NOT_FOUND],
    ['409 Conflict', apiError(409, 'Conflict'), Status.ABORTED],
    ['409 AlreadyExists', apiError(409, 'AlreadyExists'), Status.ALREADY_EXISTS],
    ['422 Invalid', apiError(422, 'Invalid'), Status.INVALID_ARGUMENT],
    ['429 TooManyRequests', apiError(429, 'TooManyRequests'), Status.RESOURCE_EXHAUSTED],
    ['500 InternalError', apiError(500, 'InternalError'), Status.UNAVAILABLE],
    ['503 ServiceUnavailable', apiError(503, 'ServiceUnavailable'), Status.UNAVAILABLE],
    ['504 Timeout', apiError(504, 'Timeout'), Status.DEADLINE_EXCEEDED],
    [
      'connection refused',
      networkError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:443'),
      Status.UNAVAILABLE,
    ],
    ['connection reset', networkError('ECONNRESET', 'socket hang up'), Status.UNAVAILABLE],
    ['no DNS', networkError('ENOTFOUND', 'getaddrinfo ENOTFOUND api'), Status.UNAVAILABLE],
    ['no answer in time', networkError('ETIMEDOUT', 'connect ETIMEDOUT'), Status.DEADLINE_EXCEEDED],
    [
      'the call cancelled',
      Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }),
      Status.CANCELLED,
    ],
    ['anything else', new Error('bug'), Status.INTERNAL],
  ])('%s', (_name, err, code) => {
    expect(statusOfKubeFailure(err)).toBe(code);
  });
});

describe('describeKubeFailure', () => {
  it('keeps the API server answer, which names the request and the reason', () => {
    expect(describeKubeFailure(apiError(403, 'Forbidden'))).toBe(
      'GET /apis/g/v1/namespaces/ns/things/a: 403 Forbidden: said the API server',
    );
  });

  it('says the API server is unreachable for a network failure', () => {
    expect(describeKubeFailure(networkError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:443'))).toBe(
      'the API server is unreachable: connect ECONNREFUSED 10.0.0.1:443',
    );
  });
});

describe('toServiceError', () => {
  beforeEach(() => (logged.length = 0));

  it('keeps the code and message of a StatusError', () => {
    expect(toServiceError(new StatusError(Status.NOT_FOUND, 'no such class'), logger, 'M')).toEqual({
      code: Status.NOT_FOUND,
      details: 'no such class',
    });
  });

  it('maps an API server answer by its HTTP status, with its message', () => {
    expect(toServiceError(apiError(403, 'Forbidden'), logger, 'M')).toEqual({
      code: Status.PERMISSION_DENIED,
      details: 'GET /apis/g/v1/namespaces/ns/things/a: 403 Forbidden: said the API server',
    });
  });

  it('hides an unexpected error behind a generic message, logging it', () => {
    expect(toServiceError(new Error('secret detail'), logger, 'NodePublishVolume')).toEqual({
      code: Status.INTERNAL,
      details: 'NodePublishVolume: internal error (see the log)',
    });
    expect(logged.join('')).toContain('unexpected error');
  });
});
