// IAM policy enforcement for the AWS gate. moto checks actions at most, never resources, so it
// cannot say "role A may read secret X but not Y". The gate learns which access key belongs to
// which assumed role from the STS answers it forwards, reads that role's policies from moto's IAM
// API, and allows a Secrets Manager or SSM request only when a statement allows the action on the
// resource and none denies it, answering AccessDeniedException as AWS does otherwise.
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import type { AwsRequestInfo } from './aws-gate';

export interface PolicyDecision {
  allowed: boolean;
  message?: string;
}

export interface PolicyEnforcer {
  learn(info: AwsRequestInfo, responseBody: Buffer): void;
  decide(info: AwsRequestInfo): Promise<PolicyDecision>;
}

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  Resource?: string | string[];
}

interface Session {
  roleArn: string;
  assumedArn: string;
}

const ENFORCED_SERVICES = new Set(['secretsmanager', 'ssm']);
const POLICY_TTL_MS = 2000;

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** IAM wildcard match: `*` any run of characters, `?` one character. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    caseInsensitive ? 'i' : '',
  );
  return re.test(value);
}

function tag(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

export class IamPolicyEnforcer implements PolicyEnforcer {
  private readonly sessions = new Map<string, Session>();
  private readonly policies = new Map<string, { statements: Statement[]; at: number }>();
  private readonly iam: IAMClient;
  private readonly secretsManager = new Map<string, SecretsManagerClient>();

  /** `adminCredentials` read IAM and resolve secret names in moto, bypassing the gate. */
  constructor(
    private readonly upstream: string,
    private readonly adminCredentials = { accessKeyId: 'gate-admin', secretAccessKey: 'gate-admin' },
  ) {
    this.iam = new IAMClient({ region: 'us-east-1', endpoint: upstream, credentials: adminCredentials });
  }

  learn(info: AwsRequestInfo, responseBody: Buffer): void {
    if (info.operation !== 'AssumeRoleWithWebIdentity' && info.operation !== 'AssumeRole') return;
    const xml = responseBody.toString('utf8');
    const accessKeyId = tag(xml, 'AccessKeyId');
    const roleArn = new URLSearchParams(info.body.toString('utf8')).get('RoleArn');
    if (accessKeyId && roleArn)
      this.sessions.set(accessKeyId, { roleArn, assumedArn: tag(xml, 'Arn') ?? roleArn });
  }

  /** The role behind an access key, if the gate saw it being assumed. */
  roleOf(accessKeyId: string): string | undefined {
    return this.sessions.get(accessKeyId)?.roleArn;
  }

  async decide(info: AwsRequestInfo): Promise<PolicyDecision> {
    if (!ENFORCED_SERVICES.has(info.service)) return { allowed: true };
    const session = this.sessions.get(info.accessKeyId);
    // Keys the gate never saw assumed are the tests' own administrator keys.
    if (!session) return { allowed: true };
    const action = `${info.service}:${info.operation}`;
    const statements = await this.statementsOf(session.roleArn);
    for (const resource of await this.resourcesOf(info, session.roleArn)) {
      const applies = (s: Statement) =>
        list(s.Action).some((a) => wildcardMatch(a, action, true)) &&
        list(s.Resource).some((r) => wildcardMatch(r, resource));
      const denied = statements.some((s) => s.Effect === 'Deny' && applies(s));
      const allowed = statements.some((s) => s.Effect === 'Allow' && applies(s));
      if (denied || !allowed) {
        const why = denied
          ? 'with an explicit deny in an identity-based policy'
          : `because no identity-based policy allows the ${action} action`;
        return {
          allowed: false,
          message: `User: ${session.assumedArn} is not authorized to perform: ${action} on resource: ${resource} ${why}`,
        };
      }
    }
    return { allowed: true };
  }

  private async statementsOf(roleArn: string): Promise<Statement[]> {
    const cached = this.policies.get(roleArn);
    if (cached && Date.now() - cached.at < POLICY_TTL_MS) return cached.statements;
    const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
    const documents: string[] = [];
    try {
      const inline = await this.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
      for (const name of inline.PolicyNames ?? []) {
        const p = await this.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
        if (p.PolicyDocument) documents.push(p.PolicyDocument);
      }
      const attached = await this.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }));
      for (const a of attached.AttachedPolicies ?? []) {
        const policy = await this.iam.send(new GetPolicyCommand({ PolicyArn: a.PolicyArn }));
        const version = await this.iam.send(
          new GetPolicyVersionCommand({ PolicyArn: a.PolicyArn, VersionId: policy.Policy?.DefaultVersionId }),
        );
        if (version.PolicyVersion?.Document) documents.push(version.PolicyVersion.Document);
      }
    } catch (err) {
      // A role that does not exist in IAM has no policies: everything is denied.
      if ((err as { name?: string }).name !== 'NoSuchEntity') throw err;
    }
    const statements = documents.flatMap((doc) => {
      const parsed = JSON.parse(decodeURIComponent(doc)) as { Statement: Statement | Statement[] };
      return Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement];
    });
    this.policies.set(roleArn, { statements, at: Date.now() });
    return statements;
  }

  private smClient(region: string): SecretsManagerClient {
    let client = this.secretsManager.get(region);
    if (!client) {
      client = new SecretsManagerClient({
        region,
        endpoint: this.upstream,
        credentials: this.adminCredentials,
      });
      this.secretsManager.set(region, client);
    }
    return client;
  }

  /** The ARNs a request touches. */
  private async resourcesOf(info: AwsRequestInfo, roleArn: string): Promise<string[]> {
    const account = roleArn.split(':')[4] ?? '123456789012';
    const request = JSON.parse(info.body.toString('utf8') || '{}') as {
      SecretId?: string;
      Names?: string[];
      Name?: string;
    };
    if (info.service === 'secretsmanager') {
      const id = request.SecretId ?? '';
      if (id.startsWith('arn:')) return [id];
      try {
        const described = await this.smClient(info.region).send(new DescribeSecretCommand({ SecretId: id }));
        return [described.ARN ?? id];
      } catch {
        // A secret that does not exist: AWS checks the permission on its would-be ARN.
        return [`arn:aws:secretsmanager:${info.region}:${account}:secret:${id}`];
      }
    }
    const names = request.Names ?? (request.Name ? [request.Name] : []);
    return names.map((selector) => {
      // A selector (`:3`, `:label`) follows the name or the ARN's six fields.
      if (selector.startsWith('arn:')) return selector.split(':').slice(0, 6).join(':');
      const name = selector.split(':')[0] ?? selector;
      return `arn:aws:ssm:${info.region}:${account}:parameter/${name.replace(/^\//, '')}`;
    });
  }

  close(): void {
    this.iam.destroy();
    for (const client of this.secretsManager.values()) client.destroy();
  }
}
