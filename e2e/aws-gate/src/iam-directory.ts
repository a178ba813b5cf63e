// The IAM state the gate decides with, read back from moto's IAM API where Terraform, the AWS CLI
// or the tests put it (CreateRole, PutRolePolicy, AttachRolePolicy, CreateOpenIDConnectProvider):
// a role's trust policy, identity policies and tags, and the OIDC providers' client IDs.
import {
  GetOpenIDConnectProviderCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';

import { LoadingCache } from './loading-cache';
import type { PolicyDocument } from './policy-document';
import { parsePolicyDocument } from './policy-document';

export interface RoleRecord {
  name: string;
  arn: string;
  trust: PolicyDocument;
  /** Inline and attached managed policies. */
  policies: readonly PolicyDocument[];
  tags: Readonly<Record<string, string>>;
  maxSessionSeconds: number;
}

export interface OidcProviderRecord {
  arn: string;
  /** The issuer URL without its scheme, as IAM keeps it: `kubernetes.default.svc`. */
  url: string;
  clientIds: readonly string[];
}

export interface IamSource {
  role(name: string): Promise<RoleRecord | undefined>;
  oidcProvider(arn: string): Promise<OidcProviderRecord | undefined>;
}

/** `arn:aws:iam::<account>:role/<path/>name` -> name */
export function roleNameOf(roleArn: string): string | undefined {
  const match = /^arn:aws:iam::\d{12}:role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(roleArn);
  return match?.[1];
}

const isNoSuchEntity = (err: unknown) => (err as { name?: string }).name === 'NoSuchEntityException';

/** Reads IAM straight from moto (not through the gate) with the account root's key. */
export class MotoIam implements IamSource {
  constructor(private readonly iam: IAMClient) {}

  static connect(upstream: string, credentials: { accessKeyId: string; secretAccessKey: string }): MotoIam {
    return new MotoIam(
      new IAMClient({ region: 'us-east-1', endpoint: upstream, credentials, maxAttempts: 2 }),
    );
  }

  async role(name: string): Promise<RoleRecord | undefined> {
    let role;
    try {
      role = (await this.iam.send(new GetRoleCommand({ RoleName: name }))).Role;
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
    if (!role?.Arn) return undefined;
    const policies: PolicyDocument[] = [];
    let marker: string | undefined;
    do {
      const page = await this.iam.send(new ListRolePoliciesCommand({ RoleName: name, Marker: marker }));
      for (const policyName of page.PolicyNames ?? []) {
        const p = await this.iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: policyName }));
        policies.push(
          parsePolicyDocument(p.PolicyDocument ?? '{}', `role/${name} inline policy ${policyName}`),
        );
      }
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    do {
      const page = await this.iam.send(
        new ListAttachedRolePoliciesCommand({ RoleName: name, Marker: marker }),
      );
      for (const attached of page.AttachedPolicies ?? []) {
        const policy = await this.iam.send(new GetPolicyCommand({ PolicyArn: attached.PolicyArn }));
        const version = await this.iam.send(
          new GetPolicyVersionCommand({
            PolicyArn: attached.PolicyArn,
            VersionId: policy.Policy?.DefaultVersionId,
          }),
        );
        policies.push(
          parsePolicyDocument(version.PolicyVersion?.Document ?? '{}', String(attached.PolicyArn)),
        );
      }
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    return {
      name,
      arn: role.Arn,
      trust: parsePolicyDocument(role.AssumeRolePolicyDocument ?? '{}', `role/${name} trust policy`),
      policies,
      tags: Object.fromEntries((role.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
      maxSessionSeconds: role.MaxSessionDuration ?? 3600,
    };
  }

  async oidcProvider(arn: string): Promise<OidcProviderRecord | undefined> {
    try {
      const p = await this.iam.send(new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn }));
      return { arn, url: (p.Url ?? '').replace(/^https:\/\//, ''), clientIds: p.ClientIDList ?? [] };
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  close(): void {
    this.iam.destroy();
  }
}

/** IAM reads cached per role and provider; `invalidate` after any IAM write through the gate. */
export class CachedIam implements IamSource {
  private readonly roles: LoadingCache<RoleRecord | undefined>;
  private readonly providers: LoadingCache<OidcProviderRecord | undefined>;

  constructor(
    private readonly source: IamSource,
    o: { ttlMs: number; now?: () => number },
  ) {
    this.roles = new LoadingCache({ ttlMs: o.ttlMs, maxEntries: 5000, now: o.now });
    this.providers = new LoadingCache({ ttlMs: o.ttlMs, maxEntries: 100, now: o.now });
  }

  role(name: string): Promise<RoleRecord | undefined> {
    return this.roles.get(name, () => this.source.role(name));
  }

  oidcProvider(arn: string): Promise<OidcProviderRecord | undefined> {
    return this.providers.get(arn, () => this.source.oidcProvider(arn));
  }

  invalidate(): void {
    this.roles.invalidate();
    this.providers.invalidate();
  }
}
