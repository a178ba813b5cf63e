// The lab's AWS says no wherever AWS says no (issue 12), seen where a pod sees it: each refusal
// through the kubelet stand-in, the real driver and the real AWS provider (run with the charts'
// arguments), against IAM state made through the IAM API. Each refusal leaves no file, and the
// pod's error names the AWS error code.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type * as grpc from '@grpc/grpc-js';
import type { Pod } from '@sscsi/common';
import { Status } from '@sscsi/common';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import type { PreparedPublish } from '../src';
import {
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  DEMO_REGION,
  forgeToken,
  irsaTrustPolicy,
  mintTokens,
  mountsUnder,
  podIdentityTrustPolicy,
  signToken,
  tokenParts,
} from '../src';
import { systemSuite } from './system-suite';

const suite = systemSuite('iam', { runKubelet: false });
const { sfx, ns } = suite;
const otherNs = `iam-other-${sfx}`;
const TOKENS = 'csi.storage.k8s.io/serviceAccount.tokens';
let podCount = 0;

const VALUES = {
  db: `iam-db-${sfx}`,
  forbidden: `iam-forbidden-${sfx}`,
  team: `iam-team-${sfx}`,
  otherTeam: `iam-other-team-${sfx}`,
};

async function pod(sa: string, spc: string): Promise<Pod> {
  return suite.createPod(`p${++podCount}-${sa}`, sa, spc);
}

type Tokens = Record<string, { token: string; expirationTimestamp: string }>;

/** Rewrites the tokens the kubelet put into a prepared NodePublishVolume (volume context or secrets). */
function withTokens(prepared: PreparedPublish, change: (tokens: Tokens) => Tokens): PreparedPublish {
  const request = prepared.request as {
    volumeContext: Record<string, string>;
    secrets: Record<string, string>;
  };
  const where = request.volumeContext[TOKENS] !== undefined ? request.volumeContext : request.secrets;
  where[TOKENS] = JSON.stringify(change(JSON.parse(where[TOKENS] ?? '{}') as Tokens));
  return prepared;
}

const stsToken = (tokens: Tokens) => tokens['sts.amazonaws.com']?.token ?? '';
const replaceSts = (tokens: Tokens, token: string): Tokens => ({
  ...tokens,
  'sts.amazonaws.com': { token, expirationTimestamp: tokens['sts.amazonaws.com']?.expirationTimestamp ?? '' },
});

async function publishError(p: Pod | PreparedPublish): Promise<grpc.ServiceError> {
  try {
    if ('request' in p) await suite.system.kubelet.sendPublish(p);
    else await suite.system.kubelet.publish(p);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the publish was expected to fail');
}

function expectNothingMounted(p: Pod): void {
  const target = suite.system.kubelet.targetPath(p, 'v');
  expect(mountsUnder(target)).toEqual([]);
  expect(fs.existsSync(target)).toBe(false);
}

function expectNoLeak(err: grpc.ServiceError): void {
  for (const value of Object.values(VALUES)) expect(err.details).not.toContain(value);
  expect(err.details).not.toMatch(/eyJ[\w-]+\.[\w-]+/);
}

const read = (p: Pod, name: string) =>
  fs.readFileSync(path.join(suite.system.kubelet.targetPath(p, 'v'), name), 'utf8');

beforeAll(async () => {
  const issuer = suite.system.lab.serviceAccountIssuer;
  await suite.createNamespace(otherNs);
  const secret = (name: string, value: string, team?: string) =>
    suite.aws.secretsManager.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: value,
        Tags: team ? [{ Key: 'kubernetes-namespace', Value: team }] : undefined,
      }),
    );
  await secret(`db-${sfx}`, VALUES.db);
  await secret(`forbidden-${sfx}`, VALUES.forbidden);
  await secret(`team-${sfx}`, VALUES.team, ns);
  await secret(`other-team-${sfx}`, VALUES.otherTeam, otherNs);
  const readDb = [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: `arn:aws:secretsmanager:${DEMO_REGION}:*:secret:db-${sfx}-*`,
    },
  ];
  // Trusts exactly two ServiceAccounts of this namespace.
  const reader = await createRole(
    suite.aws.iam,
    `iam-reader-${sfx}`,
    readDb,
    irsaTrustPolicy(issuer, [`system:serviceaccount:${ns}:app`, `system:serviceaccount:${ns}:crowd`]),
  );
  // Another namespace's role: trusts that namespace's ServiceAccount only.
  const theirs = await createRole(
    suite.aws.iam,
    `iam-theirs-${sfx}`,
    readDb,
    irsaTrustPolicy(issuer, `system:serviceaccount:${otherNs}:app`),
  );
  // EKS's ABAC example: a secret is readable when its namespace tag is the pod's namespace.
  const abac = await createRole(
    suite.aws.iam,
    `iam-abac-${sfx}`,
    [
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: '*',
        Condition: {
          StringEquals: {
            'secretsmanager:ResourceTag/kubernetes-namespace': '${aws:PrincipalTag/kubernetes-namespace}',
          },
        },
      },
    ],
    podIdentityTrustPolicy(),
  );
  await createServiceAccount(suite.system.kube, ns, 'app', reader);
  await createServiceAccount(suite.system.kube, ns, 'crowd', reader);
  await createServiceAccount(suite.system.kube, ns, 'intruder', reader);
  await createServiceAccount(suite.system.kube, ns, 'borrower', theirs);
  await createServiceAccount(suite.system.kube, ns, 'pi-app');
  await createServiceAccount(suite.system.kube, ns, 'pi-none');
  const { associationId } = await suite.system.gate.createPodIdentityAssociation({
    namespace: ns,
    serviceAccount: 'pi-app',
    roleArn: abac,
  });
  suite.atEnd(() => suite.system.gate.deletePodIdentityAssociation(associationId).catch(() => undefined));
  const spc = (name: string, object: string, podIdentity = false) =>
    createSecretProviderClass(suite.system.kube, ns, name, {
      provider: 'aws',
      parameters: {
        objects: `- {objectName: ${object}, objectType: secretsmanager}`,
        ...(podIdentity ? { usePodIdentity: 'true', preferredAddressType: 'ipv4' } : {}),
      },
    });
  await spc('db', `db-${sfx}`);
  await spc('forbidden', `forbidden-${sfx}`);
  await spc('team', `team-${sfx}`, true);
  await spc('other-team', `other-team-${sfx}`, true);
});

describe('IRSA: AssumeRoleWithWebIdentity as STS judges it', () => {
  it('mounts for the ServiceAccount the trust policy names (the control)', async () => {
    const p = await pod('app', 'db');
    await suite.system.kubelet.publish(p);
    expect(read(p, `db-${sfx}`)).toBe(VALUES.db);
  });

  it('refuses a token with a forged signature: InvalidIdentityToken', async () => {
    const p = await pod('app', 'db');
    const prepared = withTokens(await suite.system.kubelet.preparePublish(p, 'v'), (t) =>
      replaceSts(t, forgeToken(stsToken(t))),
    );
    const err = await publishError(prepared);
    expect(err.details).toMatch(
      new RegExp(`failed to assume role .*iam-reader-${sfx}.*InvalidIdentityToken`),
    );
    expectNoLeak(err);
    expectNothingMounted(p);
  });

  it('refuses a token for another audience: InvalidIdentityToken, Incorrect token audience', async () => {
    const p = await pod('app', 'db');
    const other = JSON.parse(
      await mintTokens(suite.system.kube, ns, 'app', ['wrong-audience'], {
        name: p.metadata.name ?? '',
        uid: p.metadata.uid ?? '',
      }),
    ) as Tokens;
    const prepared = withTokens(await suite.system.kubelet.preparePublish(p, 'v'), (t) =>
      replaceSts(t, other['wrong-audience']?.token ?? ''),
    );
    const err = await publishError(prepared);
    expect(err.details).toMatch(/InvalidIdentityToken.*Incorrect token audience/);
    expectNothingMounted(p);
  });

  it('refuses a ServiceAccount the trust policy does not name: AccessDenied', async () => {
    const p = await pod('intruder', 'db');
    const err = await publishError(p);
    expect(err.details).toMatch(/AccessDenied.*Not authorized to perform sts:AssumeRoleWithWebIdentity/);
    expect(err.details).toContain(`system:serviceaccount:${ns}:intruder`);
    expectNothingMounted(p);
  });

  it("refuses a ServiceAccount annotated with another namespace's role: AccessDenied", async () => {
    const p = await pod('borrower', 'db');
    const err = await publishError(p);
    expect(err.details).toMatch(new RegExp(`role/iam-theirs-${sfx}.*AccessDenied`));
    expectNothingMounted(p);
  });

  it("refuses an expired token signed with the cluster's own key: ExpiredTokenException", async () => {
    const p = await pod('app', 'db');
    const key = crypto.createPrivateKey(
      fs.readFileSync(path.join(suite.system.lab.stateDir, 'pki', 'sa.key')),
    );
    const prepared = withTokens(await suite.system.kubelet.preparePublish(p, 'v'), (t) => {
      const { kid, claims } = tokenParts(stsToken(t));
      const past = Math.floor(Date.now() / 1000) - 7200;
      return replaceSts(t, signToken({ ...claims, iat: past, nbf: past, exp: past + 3600 }, key, { kid }));
    });
    const err = await publishError(prepared);
    expect(err.details).toMatch(/ExpiredTokenException/);
    expectNoLeak(err);
    expectNothingMounted(p);
  });
});

describe('identity policies', () => {
  it("refuses a secret outside the role's policy: AccessDeniedException", async () => {
    const p = await pod('app', 'forbidden');
    const err = await publishError(p);
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toMatch(
      new RegExp(`secret "forbidden-${sfx}" from Secrets Manager in ${DEMO_REGION}: AccessDeniedException`),
    );
    expectNoLeak(err);
    expectNothingMounted(p);
  });
});

describe('EKS Pod Identity', () => {
  it('refuses a pod whose ServiceAccount has no association: ResourceNotFoundException', async () => {
    const p = await pod('pi-none', 'team');
    const err = await publishError(p);
    expect(err.details).toMatch(/EKS Pod Identity agent refused.*HTTP 404.*ResourceNotFoundException/);
    expectNoLeak(err);
    expectNothingMounted(p);
  });

  it("ABAC on kubernetes-namespace: the pod reads its namespace's secret and is refused another namespace's", async () => {
    const mine = await pod('pi-app', 'team');
    await suite.system.kubelet.publish(mine);
    expect(read(mine, `team-${sfx}`)).toBe(VALUES.team);
    const theirs = await pod('pi-app', 'other-team');
    const err = await publishError(theirs);
    expect(err.details).toMatch(
      new RegExp(`secret "other-team-${sfx}" from Secrets Manager in ${DEMO_REGION}: AccessDeniedException`),
    );
    expectNoLeak(err);
    expectNothingMounted(theirs);
  });
});

describe('concurrency', () => {
  it('one valid and five forged tokens of one ServiceAccount mounting at the same moment: no forged mount gets data', async () => {
    const pods = await Promise.all(Array.from({ length: 6 }, () => pod('crowd', 'db')));
    const prepared = await Promise.all(pods.map((p) => suite.system.kubelet.preparePublish(p, 'v')));
    for (const forged of prepared.slice(1)) withTokens(forged, (t) => replaceSts(t, forgeToken(stsToken(t))));
    const results = await Promise.allSettled(prepared.map((p) => suite.system.kubelet.sendPublish(p)));
    expect(results[0]?.status).toBe('fulfilled');
    expect(read(pods[0] as Pod, `db-${sfx}`)).toBe(VALUES.db);
    for (const [i, result] of results.slice(1).entries()) {
      const p = pods[i + 1] as Pod;
      expect(result.status).toBe('rejected');
      if (result.status === 'rejected') {
        expect((result.reason as grpc.ServiceError).details).toMatch(/InvalidIdentityToken/);
        expectNoLeak(result.reason as grpc.ServiceError);
      }
      expectNothingMounted(p);
    }
  });
});
