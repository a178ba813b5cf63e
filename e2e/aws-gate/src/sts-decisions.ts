// STS's own checks before it hands out a role's credentials, which moto skips:
// AssumeRoleWithWebIdentity validates the token against a registered OIDC provider (signature by
// the issuer's keys, validity window, audience in the provider's client IDs) and the role's trust
// policy; AssumeRole (role chaining) checks the target's trust policy against the calling role.
import { AwsError } from './aws-errors';
import type { AwsRequest } from './aws-request';
import { principalContext } from './authorizer';
import { ConditionContext } from './condition-context';
import type { IamSource, RoleRecord } from './iam-directory';
import { roleNameOf } from './iam-directory';
import type { IssuerKeys } from './issuer-keys';
import type { DecodedJwt } from './jwt';
import { decodeJwt, MalformedToken, validityProblem } from './jwt';
import type { Caller } from './policy-evaluation';
import { evaluatePolicies } from './policy-evaluation';
import type { Session } from './sessions';

export interface StsDecisionsOptions {
  iam: IamSource;
  keys: IssuerKeys;
  account: string;
  now: () => number;
}

export interface Grant {
  role: RoleRecord;
  sessionName: string;
  /** Session tags the new session carries. */
  sessionTags: Record<string, string>;
  /** Request-context keys the new session carries (aws:FederatedProvider). */
  context: Record<string, string>;
}

const invalidToken = (message: string) => new AwsError('InvalidIdentityToken', 400, message);
const validation = (message: string) => new AwsError('ValidationError', 400, message);

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** Tags.member.N.Key / .Value of a query request. */
function requestTags(params: Readonly<Record<string, unknown>>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (let i = 1; str(params[`Tags.member.${i}.Key`]) !== undefined; i++)
    tags[String(params[`Tags.member.${i}.Key`])] = String(params[`Tags.member.${i}.Value`] ?? '');
  return tags;
}

export class StsDecisions {
  constructor(private readonly o: StsDecisionsOptions) {}

  private required(request: AwsRequest, name: string): string {
    const value = str(request.params[name]);
    if (!value)
      throw validation(
        `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
      );
    return value;
  }

  /** The role's record, for a RoleArn of this account; undefined when there is no such role. */
  private async role(roleArn: string): Promise<RoleRecord | undefined> {
    const name = roleNameOf(roleArn);
    if (!name) throw validation(`${roleArn} is not a valid role ARN`);
    if (roleArn.split(':')[4] !== this.o.account) return undefined;
    return this.o.iam.role(name);
  }

  private durationFits(request: AwsRequest, role: RoleRecord): void {
    const duration = Number(request.params.DurationSeconds ?? 3600);
    if (duration < 900 || duration > role.maxSessionSeconds)
      throw validation(
        `The requested DurationSeconds exceeds the MaxSessionDuration set for this role (${role.maxSessionSeconds} s), or is below 900 s.`,
      );
  }

  async webIdentity(request: AwsRequest): Promise<Grant> {
    const roleArn = this.required(request, 'RoleArn');
    const sessionName = this.required(request, 'RoleSessionName');
    const token = this.required(request, 'WebIdentityToken');
    let jwt: DecodedJwt;
    try {
      jwt = decodeJwt(token);
    } catch (err) {
      if (err instanceof MalformedToken)
        throw invalidToken(`The web identity token is not a valid JWT: ${err.message}`);
      throw err;
    }
    const issuer = jwt.claims.iss ?? '';
    const url = issuer.replace(/^https:\/\//, '');
    const providerArn = `arn:aws:iam::${this.o.account}:oidc-provider/${url}`;
    const provider = issuer.startsWith('https://') ? await this.o.iam.oidcProvider(providerArn) : undefined;
    if (!provider)
      throw invalidToken(`No OpenIDConnect provider found in your account for ${issuer || '(no iss claim)'}`);
    const unreachable = () =>
      new AwsError('IDPCommunicationError', 400, `Couldn't retrieve the verification keys of ${issuer}`);
    if (!(await this.o.keys.verifies(jwt, issuer, unreachable)))
      throw invalidToken(`The web identity token's signature does not verify with the keys of ${issuer}`);
    const problem = validityProblem(jwt.claims, this.o.now() / 1000);
    if (problem === 'expired')
      throw new AwsError(
        'ExpiredTokenException',
        400,
        `Token expired: current date/time ${new Date(this.o.now()).toISOString()} must be before the expiration date/time ${new Date((jwt.claims.exp ?? 0) * 1000).toISOString()}`,
      );
    if (problem)
      throw invalidToken(
        problem === 'no-expiry' ? 'The token has no exp claim' : 'The token is not valid yet (nbf)',
      );
    const audience = jwt.claims.aud.find((a) => provider.clientIds.includes(a));
    if (!audience) throw invalidToken('Incorrect token audience');
    const notAuthorized = () =>
      new AwsError('AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    const role = await this.role(roleArn);
    if (!role) throw notAuthorized();
    const context = new ConditionContext({
      [`${url}:sub`]: jwt.claims.sub,
      [`${url}:aud`]: audience,
      'aws:FederatedProvider': providerArn,
      'sts:RoleSessionName': sessionName,
      'aws:CurrentTime': new Date(this.o.now()).toISOString(),
      'aws:EpochTime': String(Math.floor(this.o.now() / 1000)),
      'aws:SourceIp': request.sourceIp || undefined,
    });
    const trust = evaluatePolicies(
      [role.trust],
      {
        action: 'sts:AssumeRoleWithWebIdentity',
        resource: role.arn,
        context,
        caller: { type: 'Federated', id: providerArn },
      },
      'resource',
    );
    if (trust.effect !== 'Allow') throw notAuthorized();
    this.durationFits(request, role);
    return { role, sessionName, sessionTags: {}, context: { 'aws:FederatedProvider': providerArn } };
  }

  async assumeRole(request: AwsRequest, caller: Session): Promise<Grant> {
    const roleArn = this.required(request, 'RoleArn');
    const sessionName = this.required(request, 'RoleSessionName');
    const tags = requestTags(request.params);
    const notAuthorized = () =>
      new AwsError(
        'AccessDenied',
        403,
        `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      );
    const role = await this.role(roleArn);
    if (!role) throw notAuthorized();
    this.durationFits(request, role);
    // The lab's root key sets things up: it may assume any role (AWS refuses root here).
    if (caller.kind === 'root') return { role, sessionName, sessionTags: tags, context: {} };
    const callerRole = caller.roleName ? await this.o.iam.role(caller.roleName) : undefined;
    const context = principalContext(caller, callerRole, request, this.o.now())
      .set('sts:RoleSessionName', sessionName)
      .set('aws:TagKeys', Object.keys(tags))
      .setTags('aws:RequestTag/', tags);
    // What a cross-account trust policy checks with `"Condition": {"StringEquals": {"sts:ExternalId": ...}}`.
    const externalId = request.params.ExternalId;
    if (typeof externalId === 'string' && externalId) context.set('sts:ExternalId', externalId);
    const arns = [caller.roleArn ?? '', caller.arn];
    const asCaller: Caller = { type: 'AWS', account: caller.account, arns };
    const actions = Object.keys(tags).length > 0 ? ['sts:AssumeRole', 'sts:TagSession'] : ['sts:AssumeRole'];
    for (const action of actions) {
      const trust = evaluatePolicies(
        [role.trust],
        { action, resource: role.arn, context, caller: asCaller },
        'resource',
      );
      if (trust.effect !== 'Allow') throw notAuthorized();
      // A trust policy that names the calling role itself is enough; one that trusts the whole
      // account leaves the decision to the caller's identity policies.
      const named = evaluatePolicies(
        [role.trust],
        { action, resource: role.arn, context, caller: { type: 'AWS', account: '', arns } },
        'resource',
      );
      const identity = evaluatePolicies(
        callerRole?.policies ?? [],
        { action, resource: role.arn, context },
        'identity',
      );
      if (identity.effect === 'Deny') throw notAuthorized();
      if (named.effect !== 'Allow' && identity.effect !== 'Allow') throw notAuthorized();
    }
    return { role, sessionName, sessionTags: tags, context: {} };
  }
}
