import crypto from 'node:crypto';

import { AwsError } from './aws-errors';
import type { PodIdentityGrant } from './eks-auth';
import { EksAuth } from './eks-auth';
import type { IamSource, RoleRecord } from './iam-directory';
import { IssuerKeys } from './issuer-keys';
import { PodIdentityAssociations } from './pod-identity';
import { parsePolicyDocument } from './policy-document';
import { SessionStore } from './sessions';
import { forgeToken, signToken } from './test-tokens';

const ACCOUNT = '123456789012';
const ISSUER = 'https://kubernetes.default.svc';
const KID = 'cluster-key';
const NOW = 1_800_000_000;
const cluster = { name: 'lab', region: 'ap-northeast-1', account: ACCOUNT, issuer: ISSUER };
const signing = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const POD_TRUST = {
  Effect: 'Allow',
  Principal: { Service: 'pods.eks.amazonaws.com' },
  Action: ['sts:AssumeRole', 'sts:TagSession'],
};
function role(name: string, ...trust: object[]): RoleRecord {
  const doc = (statements: object[]) =>
    parsePolicyDocument(JSON.stringify({ Version: '2012-10-17', Statement: statements }), name);
  return {
    name,
    arn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
    trust: doc(trust),
    policies: [],
    tags: {},
    maxSessionSeconds: 3600,
  };
}
const roles = new Map<string, RoleRecord>(
  [
    role('pod-role', POD_TRUST),
    // The IRSA trust policy: the right role for a web identity, not for EKS.
    role('irsa-only', {
      Effect: 'Allow',
      Principal: { Federated: `arn:aws:iam::${ACCOUNT}:oidc-provider/kubernetes.default.svc` },
      Action: 'sts:AssumeRoleWithWebIdentity',
    }),
    role('no-tag-session', { ...POD_TRUST, Action: 'sts:AssumeRole' }),
    role('default-namespace-only', {
      ...POD_TRUST,
      Condition: { StringEquals: { 'aws:RequestTag/kubernetes-namespace': 'default' } },
    }),
    role('other-namespace-only', {
      ...POD_TRUST,
      Condition: { StringEquals: { 'aws:RequestTag/kubernetes-namespace': 'prod' } },
    }),
  ].map((r) => [r.name, r]),
);
const iam: IamSource = { role: async (name) => roles.get(name), oidcProvider: async () => undefined };

interface Claims {
  [claim: string]: unknown;
  'kubernetes.io': { pod?: object; serviceaccount?: object; namespace?: string };
}
/** The claims of a token the kubelet projects for pod app-1 of ServiceAccount default/app. */
const podClaims = (): Claims => ({
  iss: ISSUER,
  sub: 'system:serviceaccount:default:app',
  aud: ['pods.eks.amazonaws.com'],
  exp: NOW + 86_400,
  nbf: NOW - 5,
  iat: NOW - 5,
  'kubernetes.io': {
    namespace: 'default',
    serviceaccount: { name: 'app', uid: 'sa-uid' },
    pod: { name: 'app-1', uid: 'pod-uid-1' },
  },
});
const sign = (claims: object, kid = KID) => signToken(claims, signing.privateKey, { kid });
const token = (change: (c: Claims) => void = () => undefined) => {
  const claims = podClaims();
  change(claims);
  return sign(claims);
};

let keysReachable: boolean;
let sessions: SessionStore;
let associations: PodIdentityAssociations;
let assumed: { roleArn: string; sessionName: string; tags: Record<string, string> }[];
let eksAuth: EksAuth;

beforeEach(() => {
  keysReachable = true;
  sessions = new SessionStore(() => NOW * 1000);
  associations = new PodIdentityAssociations(cluster, () => NOW * 1000);
  assumed = [];
  const keys = new IssuerKeys(
    new Map([
      [
        ISSUER,
        async (path: string) => {
          if (!keysReachable) throw new Error('connect ECONNREFUSED');
          return path.includes('openid-configuration')
            ? { issuer: ISSUER, jwks_uri: `${ISSUER}/openid/v1/jwks` }
            : { keys: [{ ...signing.publicKey.export({ format: 'jwk' }), kid: KID }] };
        },
      ],
    ]),
    { ttlMs: 60_000, refetchMinMs: 0 },
  );
  eksAuth = new EksAuth({
    cluster,
    associations,
    keys,
    iam,
    sessions,
    now: () => NOW * 1000,
    assumeRole: async (roleArn, sessionName, tags) => {
      assumed.push({ roleArn, sessionName, tags });
      return {
        accessKeyId: `ASIAPOD${assumed.length}`,
        secretAccessKey: 'secret',
        sessionToken: 'session',
        expiresAt: (NOW + 3600) * 1000,
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleArn.split('/').at(-1)}/${sessionName}`,
      };
    },
  });
});

const associate = (roleName: string, namespace = 'default', serviceAccount = 'app') =>
  associations.create('lab', {
    namespace,
    serviceAccount,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}`,
  });

/** EKS Auth's refusal: code, HTTP status, message. */
async function refusal(
  call: Promise<PodIdentityGrant>,
): Promise<{ code: string; status: number; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof AwsError)) throw err;
    return { code: err.code, status: err.status, message: err.message };
  }
  throw new Error('AssumeRoleForPodIdentity was expected to refuse');
}

describe('EKS Auth AssumeRoleForPodIdentity', () => {
  it("assumes the association's role for a pod-bound token, with EKS's six session tags", async () => {
    const association = associate('pod-role');
    const grant = await eksAuth.assumeRoleForPodIdentity('lab', token());
    const tags = {
      'eks-cluster-arn': `arn:aws:eks:ap-northeast-1:${ACCOUNT}:cluster/lab`,
      'eks-cluster-name': 'lab',
      'kubernetes-namespace': 'default',
      'kubernetes-service-account': 'app',
      'kubernetes-pod-name': 'app-1',
      'kubernetes-pod-uid': 'pod-uid-1',
    };
    expect(assumed).toEqual([
      {
        roleArn: `arn:aws:iam::${ACCOUNT}:role/pod-role`,
        sessionName: expect.stringMatching(/^eks-lab-app-1-/),
        tags,
      },
    ]);
    expect(grant).toMatchObject({
      subject: { namespace: 'default', serviceAccount: 'app' },
      association: { associationId: association.associationId, associationArn: association.associationArn },
      sessionArn: expect.stringMatching(
        new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/pod-role/eks-lab-app-1-`),
      ),
    });
    // The gate knows the new key, and the session's tags are what aws:PrincipalTag conditions see.
    expect(sessions.get(grant.credentials.accessKeyId)).toMatchObject({
      roleName: 'pod-role',
      sessionTags: tags,
    });
  });

  it('takes a token whose audiences include pods.eks.amazonaws.com among others', async () => {
    associate('pod-role');
    const grant = await eksAuth.assumeRoleForPodIdentity(
      'lab',
      token((c) => (c.aud = ['https://kubernetes.default.svc', 'pods.eks.amazonaws.com'])),
    );
    expect(grant.subject).toEqual({ namespace: 'default', serviceAccount: 'app' });
  });

  it.each<[string, () => string, string, number, RegExp]>([
    // The token EKS Auth takes is a pod's: bound to a pod, of the cluster, for pods.eks.amazonaws.com, valid now.
    [
      'a token bound to no pod (a TokenRequest without boundObjectRef)',
      () => token((c) => delete c['kubernetes.io'].pod),
      'InvalidTokenException',
      400,
      /bound to no pod/,
    ],
    [
      'a pod claim without the uid',
      () => token((c) => (c['kubernetes.io'].pod = { name: 'app-1' })),
      'InvalidTokenException',
      400,
      /kubernetes.io claim pod.uid/,
    ],
    [
      'a pod claim without the name',
      () => token((c) => (c['kubernetes.io'].pod = { uid: 'pod-uid-1' })),
      'InvalidTokenException',
      400,
      /kubernetes.io claim pod.name/,
    ],
    [
      'no ServiceAccount uid',
      () => token((c) => (c['kubernetes.io'].serviceaccount = { name: 'app' })),
      'InvalidTokenException',
      400,
      /serviceaccount.uid/,
    ],
    [
      'no kubernetes.io namespace (sub alone does not do)',
      () => token((c) => delete c['kubernetes.io'].namespace),
      'InvalidTokenException',
      400,
      /kubernetes.io claim namespace/,
    ],
    [
      "IRSA's audience",
      () => token((c) => (c.aud = ['sts.amazonaws.com'])),
      'InvalidTokenException',
      400,
      /audience is not pods.eks.amazonaws.com/,
    ],
    ['an expired token', () => token((c) => (c.exp = NOW)), 'ExpiredTokenException', 400, /expired/],
    ['a token without exp', () => token((c) => delete c.exp), 'InvalidTokenException', 400, /no exp/],
    [
      'a token not valid yet (nbf past the minute of skew)',
      () => token((c) => (c.nbf = NOW + 120)),
      'InvalidTokenException',
      400,
      /not valid yet/,
    ],
    ['a forged signature', () => forgeToken(token()), 'InvalidTokenException', 400, /signature/],
    [
      'a key the cluster does not have',
      () => sign(podClaims(), 'other-key'),
      'InvalidTokenException',
      400,
      /signature/,
    ],
    [
      "another cluster's issuer, signed with this cluster's key",
      () => token((c) => (c.iss = 'https://oidc.eks.ap-northeast-1.amazonaws.com/id/OTHER')),
      'InvalidTokenException',
      400,
      /issuer is not the cluster's/,
    ],
    [
      'alg none with a made-up signature',
      () => {
        const [header, payload] = signToken(podClaims(), signing.privateKey, { kid: KID, alg: 'none' }).split(
          '.',
        );
        return `${header}.${payload}.AAAA`;
      },
      'InvalidTokenException',
      400,
      /signature/,
    ],
    [
      'a token outside the JwtToken pattern (alg none, no signature)',
      () => signToken(podClaims(), signing.privateKey, { kid: KID, alg: 'none' }),
      'InvalidParameterException',
      400,
      /JwtToken pattern/,
    ],
    ['no JWT at all', () => 'not-a-token', 'InvalidParameterException', 400, /JwtToken pattern/],
  ])('refuses %s', async (_name, made, code, status, message) => {
    associate('pod-role');
    const got = await refusal(eksAuth.assumeRoleForPodIdentity('lab', made()));
    expect(got).toMatchObject({ code, status });
    expect(got.message).toMatch(message);
    expect(assumed).toEqual([]);
    expect(sessions.size).toBe(0);
  });

  it('answers ServiceUnavailableException (503) when the cluster keys cannot be read', async () => {
    associate('pod-role');
    keysReachable = false;
    expect(await refusal(eksAuth.assumeRoleForPodIdentity('lab', token()))).toMatchObject({
      code: 'ServiceUnavailableException',
      status: 503,
    });
  });

  it('answers ResourceNotFoundException (404) for another cluster, and for a ServiceAccount without association', async () => {
    associate('pod-role', 'default', 'someone-else');
    expect(await refusal(eksAuth.assumeRoleForPodIdentity('other', token()))).toMatchObject({
      code: 'ResourceNotFoundException',
      status: 404,
      message: 'No cluster found for name: other.',
    });
    const none = await refusal(eksAuth.assumeRoleForPodIdentity('lab', token()));
    expect(none).toMatchObject({ code: 'ResourceNotFoundException', status: 404 });
    expect(none.message).toMatch(/default\/app/);
    expect(assumed).toEqual([]);
  });

  it.each([
    ['trusts only IRSA (no Service pods.eks.amazonaws.com)', 'irsa-only'],
    ['trusts pods.eks.amazonaws.com for sts:AssumeRole without sts:TagSession', 'no-tag-session'],
    ['limits the request tag kubernetes-namespace to another namespace', 'other-namespace-only'],
    ['does not exist', 'missing'],
  ])("answers EKS's AccessDeniedException (400) when the association's role %s", async (_name, roleName) => {
    associate(roleName);
    expect(await refusal(eksAuth.assumeRoleForPodIdentity('lab', token()))).toEqual({
      code: 'AccessDeniedException',
      status: 400,
      message: 'Unauthorized Exception! EKS does not have permissions to assume the associated role.',
    });
    expect(assumed).toEqual([]);
  });

  it("refuses a role of another account (EKS associates the cluster's account's roles only)", async () => {
    associations.create('lab', {
      namespace: 'default',
      serviceAccount: 'app',
      roleArn: 'arn:aws:iam::210987654321:role/pod-role',
    });
    expect(await refusal(eksAuth.assumeRoleForPodIdentity('lab', token()))).toMatchObject({
      code: 'AccessDeniedException',
    });
  });

  it("lets the trust policy's conditions see the request tags: the pod's own namespace passes", async () => {
    associate('default-namespace-only');
    expect((await eksAuth.assumeRoleForPodIdentity('lab', token())).subject.namespace).toBe('default');
  });

  it('says in the log, not in the answer, why the role was refused', async () => {
    associate('no-tag-session');
    await expect(eksAuth.assumeRoleForPodIdentity('lab', token())).rejects.toMatchObject({
      reason: expect.stringMatching(
        /role\/no-tag-session.*does not allow pods.eks.amazonaws.com sts:TagSession/,
      ),
    });
  });
});
