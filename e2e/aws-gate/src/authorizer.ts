// Whether an authenticated session may make a request: the request becomes one or more
// (action, resource, context) checks, each judged against the identity policies of the session's
// role as IAM would. The account root (the lab's set-up key) may do anything.
import type { AwsRequest } from './aws-request';
import { refusal } from './aws-errors';
import { ConditionContext } from './condition-context';
import type { IamSource, RoleRecord } from './iam-directory';
import { evaluatePolicies } from './policy-evaluation';
import type { SecretSource } from './secret-directory';
import type { Session } from './sessions';

export interface Check {
  action: string;
  resource: string;
  context: ConditionContext;
}

export interface AuthorizerOptions {
  iam: IamSource;
  secrets: SecretSource;
  account: string;
  now: () => number;
}

/** The request context every check of a session carries: who asks, from where, when. */
export function principalContext(
  session: Session,
  role: RoleRecord | undefined,
  request: AwsRequest | undefined,
  now: number,
): ConditionContext {
  const context = new ConditionContext({
    'aws:PrincipalArn': session.roleArn ?? session.arn,
    'aws:PrincipalAccount': session.account,
    'aws:PrincipalType': session.kind === 'root' ? 'Account' : 'AssumedRole',
    'aws:userid': session.sessionName ? `${role?.name ?? ''}:${session.sessionName}` : session.account,
    'aws:CurrentTime': new Date(now).toISOString(),
    'aws:EpochTime': String(Math.floor(now / 1000)),
    'aws:SecureTransport': 'false',
    'aws:RequestedRegion': request?.region || undefined,
    'aws:SourceIp': request?.sourceIp || undefined,
  });
  // Session tags win over the role's tags of the same key.
  context.setTags('aws:PrincipalTag/', { ...(role?.tags ?? {}), ...session.sessionTags });
  for (const [key, value] of Object.entries(session.context)) context.set(key, value);
  return context;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** `arn:aws:ssm:<region>:<account>:parameter/<name>` for a name, a selector (`name:3`) or an ARN. */
export function parameterArn(nameOrArn: string, region: string, account: string): string {
  if (nameOrArn.startsWith('arn:')) return nameOrArn.split(':').slice(0, 6).join(':');
  const name = nameOrArn.split(':')[0] ?? nameOrArn;
  return `arn:aws:ssm:${region}:${account}:parameter/${name.replace(/^\//, '')}`;
}

export class Authorizer {
  constructor(private readonly o: AuthorizerOptions) {}

  /** Throws the service's AccessDenied error when a check is not allowed. */
  async authorize(request: AwsRequest, session: Session): Promise<void> {
    if (session.kind === 'root') return;
    const role = session.roleName ? await this.o.iam.role(session.roleName) : undefined;
    const base = principalContext(session, role, request, this.o.now());
    for (const check of await this.checksOf(request)) {
      const action = check.action;
      if (!role) {
        throw refusal(
          'access-denied',
          request.protocol,
          `User: ${session.arn} is not authorized to perform: ${action} on resource: ${check.resource} because the role ${session.roleArn ?? ''} no longer exists`,
        );
      }
      const decision = evaluatePolicies(
        role.policies,
        { action, resource: check.resource, context: base.merged(check.context) },
        'identity',
      );
      if (decision.effect === 'Allow') continue;
      const why =
        decision.effect === 'Deny'
          ? 'with an explicit deny in an identity-based policy'
          : `because no identity-based policy allows the ${action} action`;
      const note = decision.unsupported ? ` (${decision.unsupported})` : '';
      throw refusal(
        'access-denied',
        request.protocol,
        `User: ${session.arn} is not authorized to perform: ${action} on resource: ${check.resource} ${why}${note}`,
      );
    }
  }

  /** The checks a request needs; an empty list needs none (GetCallerIdentity). */
  async checksOf(request: AwsRequest): Promise<Check[]> {
    const { service, operation, params, region } = request;
    const action = `${service}:${operation}`;
    const one = (resource: string, context = new ConditionContext()): Check[] => [
      { action, resource, context },
    ];
    switch (service) {
      case 'secretsmanager':
        return this.secretChecks(request);
      case 'ssm': {
        const names = Array.isArray(params.Names) ? params.Names.map(String) : [];
        const name =
          str(params.Name) ?? (params.ResourceType === 'Parameter' ? str(params.ResourceId) : undefined);
        if (names.length > 0)
          return names.map((n) => ({
            action,
            resource: parameterArn(n, region, this.o.account),
            context: new ConditionContext(),
          }));
        if (name) return one(parameterArn(name, region, this.o.account));
        if (str(params.Path)) return one(parameterArn(str(params.Path) as string, region, this.o.account));
        return one('*');
      }
      case 'sts':
        if (operation === 'GetCallerIdentity') return [];
        return one(str(params.RoleArn) ?? '*');
      case 'iam': {
        const roleName = str(params.RoleName);
        if (roleName) return one(`arn:aws:iam::${this.o.account}:role/${roleName}`);
        return one(str(params.PolicyArn) ?? str(params.OpenIDConnectProviderArn) ?? '*');
      }
      case 'eks': {
        const cluster = str(params.clusterName);
        return one(cluster ? `arn:aws:eks:${region}:${this.o.account}:cluster/${cluster}` : '*');
      }
      default:
        return one('*');
    }
  }

  private async secretChecks(request: AwsRequest): Promise<Check[]> {
    const { operation, params, region } = request;
    const action = `secretsmanager:${operation}`;
    const account = this.o.account;
    const secret = async (id: string, op = action): Promise<Check> => {
      const record = await this.o.secrets.describe(region, id);
      const context = new ConditionContext({
        'secretsmanager:SecretId': id,
        'secretsmanager:VersionId': str(params.VersionId),
        'secretsmanager:VersionStage': str(params.VersionStage),
      });
      context.setTags('secretsmanager:ResourceTag/', record?.tags ?? {});
      context.setTags('aws:ResourceTag/', record?.tags ?? {});
      // A secret that does not exist is judged on the ARN its name would have.
      const resource =
        record?.arn ??
        (id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${region}:${account}:secret:${id}`);
      return { action: op, resource, context };
    };
    const secretId = str(params.SecretId);
    if (secretId) return [await secret(secretId)];
    if (operation === 'CreateSecret') {
      const name = str(params.Name) ?? '';
      const tags = Array.isArray(params.Tags) ? (params.Tags as Array<{ Key?: string; Value?: string }>) : [];
      const context = new ConditionContext({
        'secretsmanager:Name': name,
        'aws:TagKeys': tags.map((t) => t.Key ?? ''),
      }).setTags('aws:RequestTag/', Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? ''])));
      return [{ action, resource: `arn:aws:secretsmanager:${region}:${account}:secret:${name}`, context }];
    }
    if (operation === 'BatchGetSecretValue') {
      const ids = Array.isArray(params.SecretIdList) ? params.SecretIdList.map(String) : [];
      const batch: Check = { action, resource: '*', context: new ConditionContext() };
      // Each secret of the batch needs GetSecretValue; with Filters instead of ids, on every secret.
      const each =
        ids.length > 0
          ? await Promise.all(ids.map((id) => secret(id, 'secretsmanager:GetSecretValue')))
          : [{ action: 'secretsmanager:GetSecretValue', resource: '*', context: new ConditionContext() }];
      return [batch, ...each];
    }
    return [{ action, resource: '*', context: new ConditionContext() }];
  }
}
