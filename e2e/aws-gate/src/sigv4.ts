// AWS Signature Version 4, both ways: the gate recomputes the signature of each request from the
// secret key it knows for the access key (as AWS does, so a known key ID without its secret gets
// nowhere), and the gate's client signs the few calls no SDK client here makes (the eks API).
import crypto from 'node:crypto';

export interface AuthorizationHeader {
  accessKeyId: string;
  /** YYYYMMDD of the credential scope. */
  date: string;
  region: string;
  service: string;
  signedHeaders: readonly string[];
  signature: string;
}

/** The parts of an HTTP request that the signature covers, as they came over the wire. */
export interface WireRequest {
  method: string;
  /** Path and query as sent, still percent-encoded. */
  url: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  body: Buffer;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

export function parseAuthorization(value: string | undefined): AuthorizationHeader | undefined {
  if (!value?.startsWith(`${ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const i = part.indexOf('=');
    if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const scope = (fields.get('Credential') ?? '').split('/');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !signedHeaders || !signature) return undefined;
  const [accessKeyId, date, region, service] = scope as [string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The path as every SDK but S3's signs it: normalized, then encoded once more. */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return escapeUri(`/${segments.join('/')}${trailing}`).replace(/%2F/g, '/');
}

function canonicalQuery(query: string): string {
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=');
      const key = decode(i >= 0 ? pair.slice(0, i) : pair);
      const value = decode(i >= 0 ? pair.slice(i + 1) : '');
      return [escapeUri(key), escapeUri(value)] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : 1) : ak < bk ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function headerValue(value: string | readonly string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(',') : String(value ?? '');
  return text.trim().replace(/\s+/g, ' ');
}

const sha256 = (data: string | Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => crypto.createHmac('sha256', key).update(data).digest();

export function computeSignature(
  request: WireRequest,
  secretAccessKey: string,
  scope: Pick<AuthorizationHeader, 'date' | 'region' | 'service' | 'signedHeaders'>,
): string {
  const queryAt = request.url.indexOf('?');
  const path = queryAt >= 0 ? request.url.slice(0, queryAt) : request.url;
  const query = queryAt >= 0 ? request.url.slice(queryAt + 1) : '';
  const payloadHash = headerValue(request.headers['x-amz-content-sha256']) || sha256(request.body);
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(path || '/'),
    canonicalQuery(query),
    ...scope.signedHeaders.map((name) => `${name}:${headerValue(request.headers[name])}`),
    '',
    scope.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [
    ALGORITHM,
    headerValue(request.headers['x-amz-date']),
    credentialScope,
    sha256(canonicalRequest),
  ].join('\n');
  let key = hmac(`AWS4${secretAccessKey}`, scope.date);
  for (const part of [scope.region, scope.service, 'aws4_request']) key = hmac(key, part);
  return crypto.createHmac('sha256', key).update(stringToSign).digest('hex');
}

/** Whether the request's signature is the one `secretAccessKey` makes. */
export function signatureMatches(
  request: WireRequest,
  authorization: AuthorizationHeader,
  secretAccessKey: string,
): boolean {
  if (!authorization.signedHeaders.includes('host')) return false;
  // The signature covers the payload's hash as the client states it: that must be the body's.
  const statedHash = headerValue(request.headers['x-amz-content-sha256']);
  if (statedHash && statedHash !== sha256(request.body)) return false;
  const expected = Buffer.from(computeSignature(request, secretAccessKey, authorization));
  const given = Buffer.from(authorization.signature);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Headers that sign a request (host, x-amz-date, the session token and the Authorization). */
export function signedHeaders(
  o: { method: string; url: URL; headers?: Record<string, string>; body?: Buffer },
  credentials: SigningCredentials,
  region: string,
  service: string,
  now = new Date(),
): Record<string, string> {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(o.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    host: o.url.host,
    'x-amz-date': amzDate,
  };
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const scope = { date: amzDate.slice(0, 8), region, service, signedHeaders: names };
  const signature = computeSignature(
    { method: o.method, url: `${o.url.pathname}${o.url.search}`, headers, body: o.body ?? Buffer.alloc(0) },
    credentials.secretAccessKey,
    scope,
  );
  headers.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope.date}/${region}/${service}/aws4_request, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}
