// The one place where the gate's refusals become AWS error answers: each service's own error code
// and HTTP status for the same refusal (an unknown key is UnrecognizedClientException to Secrets
// Manager but InvalidClientTokenId to STS), in that service's wire format.
import type { Protocol } from './aws-request';

export class AwsError extends Error {
  override name = 'AwsError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Why, for the gate's log, where AWS's own message does not say (it is never sent). */
    readonly reason?: string,
  ) {
    super(message);
  }
}

export interface AwsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Refusals whose code and status differ by protocol. */
export type Refusal =
  | 'unknown-key'
  | 'expired-key'
  | 'signature'
  | 'missing-authentication'
  | 'access-denied'
  | 'throttled'
  | 'server-error';

const CODES: Record<Refusal, Record<Protocol, [string, number]>> = {
  'unknown-key': {
    query: ['InvalidClientTokenId', 403],
    json: ['UnrecognizedClientException', 400],
    'rest-json': ['UnrecognizedClientException', 403],
  },
  'expired-key': {
    query: ['ExpiredToken', 400],
    json: ['ExpiredTokenException', 400],
    'rest-json': ['ExpiredTokenException', 403],
  },
  signature: {
    query: ['SignatureDoesNotMatch', 403],
    json: ['InvalidSignatureException', 400],
    'rest-json': ['InvalidSignatureException', 403],
  },
  'missing-authentication': {
    query: ['MissingAuthenticationToken', 403],
    json: ['MissingAuthenticationTokenException', 400],
    'rest-json': ['MissingAuthenticationTokenException', 403],
  },
  'access-denied': {
    query: ['AccessDenied', 403],
    json: ['AccessDeniedException', 400],
    'rest-json': ['AccessDeniedException', 403],
  },
  throttled: {
    query: ['Throttling', 400],
    json: ['ThrottlingException', 400],
    'rest-json': ['ThrottlingException', 429],
  },
  'server-error': {
    query: ['InternalFailure', 500],
    json: ['InternalServiceError', 500],
    'rest-json': ['ServerException', 500],
  },
};

export function refusal(kind: Refusal, protocol: Protocol, message: string): AwsError {
  const [code, status] = CODES[kind][protocol];
  return new AwsError(code, status, message);
}

const QUERY_NAMESPACES: Record<string, string> = {
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  iam: 'https://iam.amazonaws.com/doc/2010-05-08/',
};

const xmlEscape = (text: string) =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );

let requestCounter = 0;
function requestId(): string {
  requestCounter = (requestCounter + 1) % 1_000_000;
  return `gate-${Date.now().toString(36)}-${requestCounter}`;
}

export function errorAnswer(protocol: Protocol, service: string, err: AwsError): AwsAnswer {
  const id = requestId();
  if (protocol === 'query') {
    const type = err.status >= 500 ? 'Receiver' : 'Sender';
    const ns = QUERY_NAMESPACES[service] ?? QUERY_NAMESPACES.sts;
    return {
      status: err.status,
      headers: { 'Content-Type': 'text/xml', 'x-amzn-RequestId': id },
      body: `<ErrorResponse xmlns="${ns}"><Error><Type>${type}</Type><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${id}</RequestId></ErrorResponse>`,
    };
  }
  if (protocol === 'rest-json') {
    return {
      status: err.status,
      headers: { 'Content-Type': 'application/json', 'x-amzn-ErrorType': err.code, 'x-amzn-RequestId': id },
      body: JSON.stringify({ message: err.message }),
    };
  }
  return {
    status: err.status,
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': id },
    body: JSON.stringify({ __type: err.code, message: err.message }),
  };
}
