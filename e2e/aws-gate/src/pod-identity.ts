// EKS Pod Identity for the lab's cluster: the associations (namespace and ServiceAccount -> role),
// kept by an eks-shaped API on the gate, and the node agent's exchange of a pod's token for
// credentials. The agent checks the token as EKS Auth does (the cluster's signature, audience
// pods.eks.amazonaws.com, expiry), finds the association, checks the role trusts
// pods.eks.amazonaws.com for sts:AssumeRole and sts:TagSession, and returns credentials whose
// session carries EKS's session tags, which aws:PrincipalTag conditions then see.
import crypto from 'node:crypto';

import { AwsError } from './aws-errors';
import { ConditionContext } from './condition-context';
import type { IamSource } from './iam-directory';
import { roleNameOf } from './iam-directory';
import type { IssuerKeys } from './issuer-keys';
import type { DecodedJwt } from './jwt';
import { decodeJwt, validityProblem } from './jwt';
import { evaluatePolicies } from './policy-evaluation';
import type { IssuedCredentials, SessionStore } from './sessions';

export const POD_IDENTITY_AUDIENCE = 'pods.eks.amazonaws.com';
export const POD_IDENTITY_SERVICE = 'pods.eks.amazonaws.com';

export interface LabCluster {
  name: string;
  region: string;
  account: string;
  /** The cluster's service-account issuer. */
  issuer: string;
}

export const clusterArn = (c: LabCluster) => `arn:aws:eks:${c.region}:${c.account}:cluster/${c.name}`;

export interface Association {
  clusterName: string;
  namespace: string;
  serviceAccount: string;
  roleArn: string;
  associationArn: string;
  associationId: string;
  tags: Record<string, string>;
  createdAt: number;
  modifiedAt: number;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class PodIdentityAssociations {
  private readonly byId = new Map<string, Association>();

  constructor(
    private readonly cluster: LabCluster,
    private readonly now: () => number,
  ) {}

  private checkCluster(clusterName: unknown): void {
    if (clusterName !== this.cluster.name)
      throw new AwsError(
        'ResourceNotFoundException',
        404,
        `No cluster found for name: ${String(clusterName)}.`,
      );
  }

  create(clusterName: unknown, input: Readonly<Record<string, unknown>>): Association {
    this.checkCluster(clusterName);
    const { namespace, serviceAccount, roleArn } = input;
    for (const [field, value] of Object.entries({ namespace, serviceAccount }))
      if (typeof value !== 'string' || !NAME.test(value))
        throw new AwsError('InvalidParameterException', 400, `${field} must be a Kubernetes name`);
    if (typeof roleArn !== 'string' || !roleNameOf(roleArn))
      throw new AwsError('InvalidParameterException', 400, `roleArn ${String(roleArn)} is not a role ARN`);
    if (this.find(namespace as string, serviceAccount as string))
      throw new AwsError(
        'ResourceInUseException',
        409,
        `Association already exists for namespace ${String(namespace)} and service account ${String(serviceAccount)}`,
      );
    const id = `a-${crypto.randomBytes(9).toString('hex').slice(0, 17)}`;
    const at = Math.floor(this.now() / 1000);
    const association: Association = {
      clusterName: this.cluster.name,
      namespace: namespace as string,
      serviceAccount: serviceAccount as string,
      roleArn,
      associationArn: `arn:aws:eks:${this.cluster.region}:${this.cluster.account}:podidentityassociation/${this.cluster.name}/${id}`,
      associationId: id,
      tags: (input.tags as Record<string, string> | undefined) ?? {},
      createdAt: at,
      modifiedAt: at,
    };
    this.byId.set(id, association);
    return association;
  }

  list(clusterName: unknown, filter: { namespace?: unknown; serviceAccount?: unknown }): Association[] {
    this.checkCluster(clusterName);
    return [...this.byId.values()].filter(
      (a) =>
        (filter.namespace === undefined || a.namespace === filter.namespace) &&
        (filter.serviceAccount === undefined || a.serviceAccount === filter.serviceAccount),
    );
  }

  describe(clusterName: unknown, id: unknown): Association {
    this.checkCluster(clusterName);
    const association = this.byId.get(String(id));
    if (!association)
      throw new AwsError('ResourceNotFoundException', 404, `No association found for id ${String(id)}`);
    return association;
  }

  delete(clusterName: unknown, id: unknown): Association {
    const association = this.describe(clusterName, id);
    this.byId.delete(association.associationId);
    return association;
  }

  find(namespace: string, serviceAccount: string): Association | undefined {
    for (const a of this.byId.values())
      if (a.namespace === namespace && a.serviceAccount === serviceAccount) return a;
    return undefined;
  }
}

/** What the real agent answers with: the AWS SDK's container-credentials JSON. */
export interface AgentCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token?: string;
  AccountId: string;
  Expiration?: string;
}

export interface PodIdentityAgentOptions {
  cluster: LabCluster;
  associations: PodIdentityAssociations;
  keys: IssuerKeys;
  iam: IamSource;
  sessions: SessionStore;
  /** STS AssumeRole with session tags, in moto. */
  assumeRole(roleArn: string, sessionName: string, tags: Record<string, string>): Promise<IssuedCredentials>;
  now: () => number;
}

const invalidToken = (message: string) => new AwsError('InvalidTokenException', 400, message);

function sessionNameFor(cluster: string, pod: string | undefined): string {
  const name = `eks-${cluster}-${pod ?? 'pod'}-${crypto.randomUUID()}`.replace(/[^\w+=,.@-]/g, '-');
  return name.slice(0, 64);
}

export class PodIdentityAgent {
  constructor(private readonly o: PodIdentityAgentOptions) {}

  private async verified(token: string): Promise<DecodedJwt> {
    let jwt: DecodedJwt;
    try {
      jwt = decodeJwt(token);
    } catch (err) {
      throw invalidToken(`The service account token is not a JWT: ${(err as Error).message}`);
    }
    const { issuer } = this.o.cluster;
    if (jwt.claims.iss !== issuer) throw invalidToken(`The token's issuer is not the cluster's (${issuer})`);
    const unreachable = () =>
      new AwsError('ServiceUnavailableException', 503, 'The cluster signing keys cannot be read right now');
    if (!(await this.o.keys.verifies(jwt, issuer, unreachable)))
      throw invalidToken("The token's signature does not verify with the cluster's keys");
    const problem = validityProblem(jwt.claims, this.o.now() / 1000);
    if (problem === 'expired')
      throw new AwsError('ExpiredTokenException', 400, 'The service account token is expired');
    if (problem) throw invalidToken(`The service account token is not valid (${problem})`);
    if (!jwt.claims.aud.includes(POD_IDENTITY_AUDIENCE))
      throw invalidToken(`The token's audience is not ${POD_IDENTITY_AUDIENCE}`);
    return jwt;
  }

  async credentials(token: string): Promise<AgentCredentials> {
    const jwt = await this.verified(token);
    const subject = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(jwt.claims.sub ?? '');
    const namespace = jwt.claims.kubernetes.namespace ?? subject?.[1];
    const serviceAccount = jwt.claims.kubernetes.serviceAccount?.name ?? subject?.[2];
    if (!namespace || !serviceAccount) throw invalidToken('The token names no namespace and service account');
    const { cluster } = this.o;
    const association = this.o.associations.find(namespace, serviceAccount);
    if (!association)
      throw new AwsError(
        'ResourceNotFoundException',
        404,
        `No Pod Identity association found for service account ${namespace}/${serviceAccount} in cluster ${cluster.name}`,
      );
    const pod = jwt.claims.kubernetes.pod;
    const tags: Record<string, string> = {
      'eks-cluster-arn': clusterArn(cluster),
      'eks-cluster-name': cluster.name,
      'kubernetes-namespace': namespace,
      'kubernetes-service-account': serviceAccount,
      ...(pod?.name ? { 'kubernetes-pod-name': pod.name } : {}),
      ...(pod?.uid ? { 'kubernetes-pod-uid': pod.uid } : {}),
    };
    const roleName = roleNameOf(association.roleArn) ?? '';
    const role =
      association.roleArn.split(':')[4] === cluster.account ? await this.o.iam.role(roleName) : undefined;
    const context = new ConditionContext({
      'aws:SourceAccount': cluster.account,
      'aws:SourceArn': clusterArn(cluster),
      'aws:TagKeys': Object.keys(tags),
    }).setTags('aws:RequestTag/', tags);
    const trusted =
      role !== undefined &&
      ['sts:AssumeRole', 'sts:TagSession'].every(
        (action) =>
          evaluatePolicies(
            [role.trust],
            { action, resource: role.arn, context, caller: { type: 'Service', id: POD_IDENTITY_SERVICE } },
            'resource',
          ).effect === 'Allow',
      );
    if (!role || !trusted)
      throw new AwsError(
        'AccessDeniedException',
        400,
        `The role ${association.roleArn} of the association ${association.associationId} does not trust ${POD_IDENTITY_SERVICE} for sts:AssumeRole and sts:TagSession`,
      );
    const issued = await this.o.assumeRole(role.arn, sessionNameFor(cluster.name, pod?.name), tags);
    this.o.sessions.add({
      accessKeyId: issued.accessKeyId,
      secretAccessKey: issued.secretAccessKey,
      sessionToken: issued.sessionToken,
      account: cluster.account,
      kind: 'role',
      arn: issued.arn ?? role.arn,
      roleArn: role.arn,
      roleName: role.name,
      sessionName: issued.arn?.split('/').at(-1),
      expiresAt: issued.expiresAt,
      sessionTags: tags,
      context: {},
    });
    return {
      AccessKeyId: issued.accessKeyId,
      SecretAccessKey: issued.secretAccessKey,
      Token: issued.sessionToken,
      AccountId: cluster.account,
      Expiration: issued.expiresAt ? new Date(issued.expiresAt).toISOString() : undefined,
    };
  }
}
