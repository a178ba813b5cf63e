// The EKS Pod Identity agent on the node, as the SDK meets it at GET /v1/credentials: what the agent
// refuses itself before it calls EKS Auth, how it relays EKS Auth's refusals, and its credentials
// JSON. Read from aws/eks-pod-identity-agent v0.1.37 (the release; github.com/aws/eks-pod-identity-agent):
// internal/validation/request.go (its own checks), pkg/errors/errors.go (HandleCredentialFetchingError:
// the relayed status and text), pkg/handlers/eks_credential_handler.go (http.Error, the JSON),
// internal/cloud/eksauth/service.go (AccountId from the assumed role's ARN).
//
// Not reproduced: the agent's check that it was called at 169.254.170.23 or [fd00:ec2::23] (HTTP 403
// "Access Denied. Called agent through invalid address ..."); the lab's agent answers on a port of
// its own (e2e/lab/README.md). Nor its credentials cache, which only spares EKS Auth calls.
import type { AwsError } from './aws-errors';
import type { PodIdentityGrant } from './eks-auth';

export interface AgentAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What the real agent answers with: the AWS SDK's container-credentials JSON. */
export interface AgentCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token?: string;
  AccountId: string;
  Expiration?: string;
}

/** Go's http.Error: the text and a newline, as text/plain. */
export function agentText(status: number, message: string): AgentAnswer {
  return {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' },
    body: `${message}\n`,
  };
}

/** The signing methods golang-jwt v5 knows; any other `alg` fails its unverified parse. */
const KNOWN_ALGS = new Set(
  ['HS', 'RS', 'PS', 'ES'].flatMap((f) => ['256', '384', '512'].map((n) => f + n)).concat('EdDSA', 'none'),
);

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function segment(text: string): Record<string, unknown> | 'base64' | 'json' {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return 'base64';
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : 'json';
  } catch {
    return 'json';
  }
}

const isNumber = (v: unknown) => v === undefined || typeof v === 'number';
const isString = (v: unknown) => v === undefined || typeof v === 'string';
const isAudience = (v: unknown) => isString(v) || (Array.isArray(v) && v.every((a) => typeof a === 'string'));

/**
 * Why the agent refuses the token itself with HTTP 400, or undefined when it passes it on to EKS
 * Auth: request.go's validateToken, which only parses the token (golang-jwt's ParseUnverified into
 * its registered claims) and checks exp and nbf by the node's clock, without leeway. Signature,
 * issuer, audience and the rest are EKS Auth's (eks-auth.ts). The parse errors are worded as
 * golang-jwt's, without Go's detail after them.
 */
export function agentRefusal(token: string, nodeNowSeconds: number): string | undefined {
  if (token === '') return 'Service account token cannot be empty';
  const unparsed = (why: string) => `Service account token cannot be parsed: ${why}`;
  const parts = token.split('.');
  if (parts.length !== 3) return unparsed('token is malformed: token contains an invalid number of segments');
  const header = segment(parts[0] ?? '');
  if (typeof header === 'string')
    return unparsed(`token is malformed: could not ${header === 'base64' ? 'base64' : 'JSON'} decode header`);
  const claims = segment(parts[1] ?? '');
  if (typeof claims === 'string')
    return unparsed(`token is malformed: could not ${claims === 'base64' ? 'base64' : 'JSON'} decode claim`);
  const { exp, nbf, iat, iss, sub, aud } = claims;
  if (![exp, nbf, iat].every(isNumber) || ![iss, sub].every(isString) || !isAudience(aud))
    return unparsed('token is malformed: could not JSON decode claim');
  if (typeof header.alg !== 'string')
    return unparsed('token is unverifiable: signing method (alg) is unspecified');
  if (!KNOWN_ALGS.has(header.alg))
    return unparsed('token is unverifiable: signing method (alg) is unavailable');
  const problems: string[] = [];
  if (typeof exp === 'number' && !(nodeNowSeconds < exp)) problems.push('token is expired');
  if (typeof nbf === 'number' && nodeNowSeconds < nbf) problems.push('token is not valid yet');
  return problems.length > 0
    ? `Service account token failed basic claim validations: ${problems.join(', ')}`
    : undefined;
}

/**
 * EKS Auth's refusal as the agent relays it: EKS Auth's HTTP status and
 * `[<request id>]: (<code>): <message>, fault: <client|server>` (errors.go; the fault is smithy's,
 * server for the model's 5xx errors).
 */
export function relayedRefusal(err: AwsError, requestId: string): AgentAnswer {
  const fault = err.status >= 500 ? 'server' : 'client';
  return agentText(err.status, `[${requestId}]: (${err.code}): ${err.message}, fault: ${fault}`);
}

/** The agent's JSON for EKS Auth's credentials; the account is the assumed role's (service.go). */
export function agentCredentials(grant: PodIdentityGrant): AgentCredentials {
  const c = grant.credentials;
  return {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    AccountId: grant.sessionArn.split(':')[4] ?? '',
    Expiration: c.expiresAt !== undefined ? new Date(c.expiresAt).toISOString() : undefined,
  };
}
