import crypto from 'node:crypto';

import { AwsError } from './aws-errors';
import { agentCredentials, agentRefusal, relayedRefusal } from './pod-identity-agent';
import { signToken } from './test-tokens';

const NOW = 1_800_000_000;
const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const token = (claims: object, alg: 'RS256' | 'none' = 'RS256') =>
  signToken({ iss: 'https://kubernetes.default.svc', aud: ['pods.eks.amazonaws.com'], ...claims }, key, {
    kid: 'k',
    alg,
  });
const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe("the Pod Identity agent's own check of the token (before EKS Auth)", () => {
  it('passes a parseable token inside its exp and nbf on to EKS Auth, whatever its signature or claims', () => {
    expect(agentRefusal(token({ exp: NOW + 60, nbf: NOW - 60 }), NOW)).toBeUndefined();
    // Signature, issuer, audience, pod binding: EKS Auth's to judge, not the agent's.
    expect(agentRefusal(token({ exp: NOW + 60, aud: 'sts.amazonaws.com' }, 'none'), NOW)).toBeUndefined();
    expect(agentRefusal(token({}), NOW)).toBeUndefined();
  });

  it.each<[string, string, string]>([
    ['no token', '', 'Service account token cannot be empty'],
    [
      'two segments',
      'abc.def',
      'Service account token cannot be parsed: token is malformed: token contains an invalid number of segments',
    ],
    [
      "'Bearer ' before the token",
      `Bearer ${token({ exp: NOW + 60 })}`,
      'Service account token cannot be parsed: token is malformed: could not base64 decode header',
    ],
    [
      'a header that is not JSON',
      `${Buffer.from('{nope').toString('base64url')}.${part({})}.sig`,
      'Service account token cannot be parsed: token is malformed: could not JSON decode header',
    ],
    [
      'claims that are not base64url',
      `${part({ alg: 'RS256' })}.a+b.sig`,
      'Service account token cannot be parsed: token is malformed: could not base64 decode claim',
    ],
    [
      'an exp that is not a number',
      `${part({ alg: 'RS256' })}.${part({ exp: 'tomorrow' })}.sig`,
      'Service account token cannot be parsed: token is malformed: could not JSON decode claim',
    ],
    [
      'no alg',
      `${part({ kid: 'k' })}.${part({})}.sig`,
      'Service account token cannot be parsed: token is unverifiable: signing method (alg) is unspecified',
    ],
    [
      'an alg golang-jwt does not know',
      `${part({ alg: 'XS256' })}.${part({})}.sig`,
      'Service account token cannot be parsed: token is unverifiable: signing method (alg) is unavailable',
    ],
  ])('refuses %s with HTTP 400', (_name, given, message) => {
    expect(agentRefusal(given, NOW)).toBe(message);
  });

  it('refuses a token expired or not valid yet by the node clock, without leeway', () => {
    const failed = 'Service account token failed basic claim validations: ';
    expect(agentRefusal(token({ exp: NOW }), NOW)).toBe(`${failed}token is expired`);
    expect(agentRefusal(token({ exp: NOW + 0.5 }), NOW)).toBeUndefined();
    expect(agentRefusal(token({ nbf: NOW + 1 }), NOW)).toBe(`${failed}token is not valid yet`);
    expect(agentRefusal(token({ exp: NOW - 10, nbf: NOW + 10 }), NOW)).toBe(
      `${failed}token is expired, token is not valid yet`,
    );
  });
});

describe("the agent's answers", () => {
  it("relays EKS Auth's refusal with its status, code and fault", () => {
    const answer = relayedRefusal(
      new AwsError(
        'AccessDeniedException',
        400,
        'Unauthorized Exception! EKS does not have permissions to assume the associated role.',
        'the lab says why in its log only',
      ),
      'b69b1279-d140-4eee-b7ea-b124286f544c',
    );
    expect(answer).toEqual({
      status: 400,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' },
      body: '[b69b1279-d140-4eee-b7ea-b124286f544c]: (AccessDeniedException): Unauthorized Exception! EKS does not have permissions to assume the associated role., fault: client\n',
    });
    expect(relayedRefusal(new AwsError('ServiceUnavailableException', 503, 'try later'), 'id')).toMatchObject(
      {
        status: 503,
        body: '[id]: (ServiceUnavailableException): try later, fault: server\n',
      },
    );
    expect(relayedRefusal(new AwsError('ThrottlingException', 429, 'Rate exceeded'), 'id').body).toMatch(
      /fault: client/,
    );
  });

  it("answers credentials as the SDK's container provider reads them, the account from the role's session", () => {
    expect(
      agentCredentials({
        subject: { namespace: 'default', serviceAccount: 'app' },
        association: { associationArn: 'arn', associationId: 'a-1' },
        sessionArn: 'arn:aws:sts::123456789012:assumed-role/pod-role/eks-lab-app-1-x',
        credentials: {
          accessKeyId: 'ASIA1',
          secretAccessKey: 's',
          sessionToken: 't',
          expiresAt: Date.UTC(2027, 0, 1),
        },
      }),
    ).toEqual({
      AccessKeyId: 'ASIA1',
      SecretAccessKey: 's',
      Token: 't',
      AccountId: '123456789012',
      Expiration: '2027-01-01T00:00:00.000Z',
    });
  });
});
