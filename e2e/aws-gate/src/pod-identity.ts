// EKS Pod Identity for the lab's cluster: the cluster itself and its associations (namespace and
// ServiceAccount -> role), kept by an eks-shaped API on the gate. EKS Auth's exchange of a pod's
// token for credentials is eks-auth.ts; the node's agent in front of it, pod-identity-agent.ts.
import crypto from 'node:crypto';

import { AwsError } from './aws-errors';
import { roleNameOf } from './iam-directory';

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
