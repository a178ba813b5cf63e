// EKS Auth's AssumeRoleForPodIdentity, which the node's Pod Identity agent calls with a pod's token
// and the cluster's name: the checks EKS makes before it assumes the association's role, each
// refusal with EKS Auth's error code and HTTP status, then the role's session with EKS's session
// tags (which aws:PrincipalTag conditions see).
//
// Sources (e2e/lab/README.md, "The EKS Pod Identity agent", says the same per check):
// [model]   the API model, its errors and their statuses: botocore
//           botocore/data/eks-auth/2023-11-26/service-2.json (also
//           https://docs.aws.amazon.com/eks/latest/APIReference/API_auth_AssumeRoleForPodIdentity.html)
// [works]   https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html: the pod's token
//           is projected with audience pods.eks.amazonaws.com
// [role]    https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html: the trust policy
//           (Service pods.eks.amazonaws.com; sts:AssumeRole and sts:TagSession) and the request tags
//           its conditions see
// [abac]    https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html: the six session tags,
//           kubernetes-pod-name and kubernetes-pod-uid among them
// [pod-ids] https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html: one role per
//           ServiceAccount, roles of the cluster's account only
// [agent]   aws/eks-pod-identity-agent, branch cache-enhancements,
//           internal/validation/claims_validation.go (validateKubernetesClaims, validateAudience):
//           the agent's own check, in development, of what EKS Auth needs of a token
// [flux]    https://github.com/fluxcd/flux2/pull/5309: EKS Pod Identity needs a token bound to a pod
// [denied]  https://github.com/aws/eks-pod-identity-agent/issues/139 and AWS's EKS Pod Identity
//           workshop (CloudTrail errorCode AccessDenied): a role whose trust policy refuses answers
//           AccessDeniedException, "Unauthorized Exception! EKS does not have permissions to assume
//           the associated role.", HTTP 400
// Where the sources give no wording (the token refusals, no association), the message is the lab's.
import crypto from 'node:crypto';

import { AwsError } from './aws-errors';
import { ConditionContext } from './condition-context';
import type { IamSource } from './iam-directory';
import { roleNameOf } from './iam-directory';
import type { IssuerKeys } from './issuer-keys';
import type { DecodedJwt } from './jwt';
import { decodeJwt, validityProblem } from './jwt';
import type { Association, LabCluster, PodIdentityAssociations } from './pod-identity';
import { clusterArn, POD_IDENTITY_AUDIENCE, POD_IDENTITY_SERVICE } from './pod-identity';
import { evaluatePolicies } from './policy-evaluation';
import type { IssuedCredentials, SessionStore } from './sessions';

export interface EksAuthOptions {
  cluster: LabCluster;
  associations: PodIdentityAssociations;
  keys: IssuerKeys;
  iam: IamSource;
  sessions: SessionStore;
  /** STS AssumeRole with session tags, in moto. */
  assumeRole(roleArn: string, sessionName: string, tags: Record<string, string>): Promise<IssuedCredentials>;
  /** AWS's clock (the gate's), which judges the token's validity window. */
  now: () => number;
}

/** What AssumeRoleForPodIdentity answers, as far as the agent uses it. */
export interface PodIdentityGrant {
  subject: { namespace: string; serviceAccount: string };
  association: Pick<Association, 'associationArn' | 'associationId'>;
  /** The assumed-role session's ARN (assumedRoleUser.arn). */
  sessionArn: string;
  credentials: IssuedCredentials;
}

/** The model's JwtToken pattern [model]; the token is sensitive, so never echoed. */
const JWT_TOKEN = /^[A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]+$/;

const invalidToken = (message: string) => new AwsError('InvalidTokenException', 400, message);

/** The [abac] session name: eks-<cluster>-<pod>-<uuid>, in STS's alphabet and length. */
function sessionNameFor(cluster: string, pod: string): string {
  const name = `eks-${cluster}-${pod}-${crypto.randomUUID()}`.replace(/[^\w+=,.@-]/g, '-');
  return name.slice(0, 64);
}

/** The pod-bound token's parts EKS Auth names the session and its tags with. */
interface PodClaims {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

/**
 * The `kubernetes.io` claims, each a non-empty string, or InvalidTokenException. The pod claim is
 * required: its name and uid become the session tags kubernetes-pod-name and kubernetes-pod-uid
 * [abac] and the pod name the session name [model], the agent in development refuses a token
 * without them [agent], and Flux found EKS refusing a token bound to no pod [flux]. The service
 * account's uid is required alongside [agent]; nothing says EKS Auth reads `sub`, so it is not.
 */
function podClaims(jwt: DecodedJwt): PodClaims {
  const k = jwt.claims.kubernetes;
  const missing = (claim: string) =>
    invalidToken(`The service account token has no kubernetes.io claim ${claim}`);
  if (!k.namespace) throw missing('namespace');
  if (!k.serviceAccount?.name) throw missing('serviceaccount.name');
  if (!k.serviceAccount.uid) throw missing('serviceaccount.uid');
  if (!k.pod)
    throw invalidToken(
      'The service account token is bound to no pod (no kubernetes.io claim pod): EKS Pod Identity needs a pod-bound token',
    );
  if (!k.pod.name) throw missing('pod.name');
  if (!k.pod.uid) throw missing('pod.uid');
  return {
    namespace: k.namespace,
    serviceAccount: k.serviceAccount.name,
    podName: k.pod.name,
    podUid: k.pod.uid,
  };
}

export class EksAuth {
  constructor(private readonly o: EksAuthOptions) {}

  /** The token as EKS Auth judges it, before any association is looked up. */
  private async verified(token: string): Promise<DecodedJwt> {
    // [model]: the request's token must match JwtToken; the model's error for a bad parameter.
    if (!JWT_TOKEN.test(token))
      throw new AwsError('InvalidParameterException', 400, 'The token is not a JWT (JwtToken pattern)');
    let jwt: DecodedJwt;
    try {
      jwt = decodeJwt(token);
    } catch (err) {
      throw invalidToken(`The service account token is not a JWT: ${(err as Error).message}`);
    }
    // The cluster's own issuer and keys: a token of another cluster, or forged, is not the pod's.
    const { issuer } = this.o.cluster;
    if (jwt.claims.iss !== issuer) throw invalidToken(`The token's issuer is not the cluster's (${issuer})`);
    const unreachable = () =>
      new AwsError('ServiceUnavailableException', 503, 'The cluster signing keys cannot be read right now');
    if (!(await this.o.keys.verifies(jwt, issuer, unreachable)))
      throw invalidToken("The token's signature does not verify with the cluster's keys");
    // [model]: ExpiredTokenException is the expired token's; a token without exp, or not valid yet,
    // is invalid. By AWS's clock, which the node's need not share (the agent checks by its own).
    const problem = validityProblem(jwt.claims, this.o.now() / 1000);
    if (problem === 'expired')
      throw new AwsError('ExpiredTokenException', 400, 'The service account token is expired');
    if (problem === 'no-expiry') throw invalidToken('The service account token has no exp claim');
    if (problem === 'not-yet-valid') throw invalidToken('The service account token is not valid yet (nbf)');
    // [works], [model] (the answer's audience "is always pods.eks.amazonaws.com"), [agent].
    if (!jwt.claims.aud.includes(POD_IDENTITY_AUDIENCE))
      throw invalidToken(`The token's audience is not ${POD_IDENTITY_AUDIENCE}`);
    return jwt;
  }

  async assumeRoleForPodIdentity(clusterName: string, token: string): Promise<PodIdentityGrant> {
    const { cluster } = this.o;
    if (clusterName !== cluster.name)
      throw new AwsError('ResourceNotFoundException', 404, `No cluster found for name: ${clusterName}.`);
    const claims = podClaims(await this.verified(token));
    const { namespace, serviceAccount } = claims;
    // [pod-ids]: one association per ServiceAccount of the cluster; none is the model's 404.
    const association = this.o.associations.find(namespace, serviceAccount);
    if (!association)
      throw new AwsError(
        'ResourceNotFoundException',
        404,
        `No Pod Identity association found for service account ${namespace}/${serviceAccount} in cluster ${cluster.name}`,
      );
    // [abac]: the six tags, the pod's two from the token.
    const tags: Record<string, string> = {
      'eks-cluster-arn': clusterArn(cluster),
      'eks-cluster-name': cluster.name,
      'kubernetes-namespace': namespace,
      'kubernetes-service-account': serviceAccount,
      'kubernetes-pod-name': claims.podName,
      'kubernetes-pod-uid': claims.podUid,
    };
    const role = await this.trustingRole(association, tags);
    const issued = await this.o.assumeRole(role.arn, sessionNameFor(cluster.name, claims.podName), tags);
    const sessionArn = issued.arn ?? role.arn;
    this.o.sessions.add({
      accessKeyId: issued.accessKeyId,
      secretAccessKey: issued.secretAccessKey,
      sessionToken: issued.sessionToken,
      account: cluster.account,
      kind: 'role',
      arn: sessionArn,
      roleArn: role.arn,
      roleName: role.name,
      sessionName: issued.arn?.split('/').at(-1),
      expiresAt: issued.expiresAt,
      sessionTags: tags,
      context: {},
    });
    return {
      subject: { namespace, serviceAccount },
      association: { associationArn: association.associationArn, associationId: association.associationId },
      sessionArn,
      credentials: issued,
    };
  }

  /**
   * The association's role, if it is of the cluster's account [pod-ids] and its trust policy lets
   * pods.eks.amazonaws.com do sts:AssumeRole and sts:TagSession with these request tags [role];
   * otherwise EKS's AccessDeniedException [denied], whatever the reason.
   */
  private async trustingRole(association: Association, tags: Record<string, string>) {
    const { cluster } = this.o;
    const roleName = roleNameOf(association.roleArn) ?? '';
    const role =
      association.roleArn.split(':')[4] === cluster.account ? await this.o.iam.role(roleName) : undefined;
    const context = new ConditionContext({
      'aws:SourceAccount': cluster.account,
      'aws:SourceArn': clusterArn(cluster),
      'aws:TagKeys': Object.keys(tags),
    }).setTags('aws:RequestTag/', tags);
    const refusedAction =
      role === undefined
        ? undefined
        : ['sts:AssumeRole', 'sts:TagSession'].find(
            (action) =>
              evaluatePolicies(
                [role.trust],
                {
                  action,
                  resource: role.arn,
                  context,
                  caller: { type: 'Service', id: POD_IDENTITY_SERVICE },
                },
                'resource',
              ).effect !== 'Allow',
          );
    if (!role || refusedAction)
      throw new AwsError(
        'AccessDeniedException',
        400,
        'Unauthorized Exception! EKS does not have permissions to assume the associated role.',
        role
          ? `the trust policy of ${role.arn} (association ${association.associationId}) does not allow ${POD_IDENTITY_SERVICE} ${refusedAction}`
          : `the role ${association.roleArn} of association ${association.associationId} does not exist in account ${cluster.account}`,
      );
    return role;
  }
}
