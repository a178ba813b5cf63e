// AWS provider rotation benchmark (issue 15 item 1): AWS calls per rotation round on one node, from
// the provider's own aws_api_calls_total. 110 real pods (Pending objects in the lab's API server, so
// that their tokens are bound to them as the kubelet's are), each with the article's 3 objects
// (1 secret, 2 parameters), first mounted, then remounted all at once as a rotation round does:
// - 110 pods of one ServiceAccount, nothing changed; then the secret and both parameters changed
//   (every pod must get the new values in that one round);
// - 110 pods of 110 ServiceAccounts (one identity each), nothing changed.
// The provider runs with its default --shared-answers-window (30s): each round is well inside it.
// Needs the lab: `make bench BENCHES=provider-rotation`.
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import {
  adminClient,
  awsAdmin,
  createNamespace,
  createPod,
  createRole,
  createServiceAccount,
  deleteNamespace,
  metricValue,
  mintTokens,
  ProviderApiClient,
  requireLab,
  startAwsProvider,
  uniqueSuffix,
} from '@sscsi/e2e';
import fs from 'node:fs';
import path from 'node:path';

import { printTable } from './stats.ts';

const PODS = 110;
const OPERATIONS = ['AssumeRoleWithWebIdentity', 'DescribeSecret', 'GetSecretValue', 'GetParameters'];

interface BenchPod {
  name: string;
  uid: string;
  serviceAccount: string;
  tokens: string;
  targetPath: string;
  versions: Array<{ id: string; version: string }>;
}

async function main(): Promise<void> {
  const lab = requireLab();
  const kube = adminClient(lab);
  const suffix = uniqueSuffix();
  const ns = `bench-rot-${suffix}`;
  const root = fs.mkdtempSync(path.join(lab.stateDir, `bench-rotation-${suffix}-`));
  const admin = awsAdmin(lab);
  const read = [{ Effect: 'Allow', Action: ['secretsmanager:*', 'ssm:GetParameters'], Resource: '*' }];
  const roleArn = await createRole(admin.iam, `rotation-${suffix}`, read);
  await createNamespace(kube, ns);
  const secret = `rotation-${suffix}`;
  const parameters = [`/${suffix}/db/username`, `/${suffix}/db/password`];
  await admin.secretsManager.send(new CreateSecretCommand({ Name: secret, SecretString: 'v1' }));
  for (const name of parameters)
    await admin.ssm.send(new PutParameterCommand({ Name: name, Value: 'v1', Type: 'SecureString' }));
  const objects = [
    `- {objectName: ${secret}, objectType: secretsmanager}`,
    ...parameters.map((p) => `- {objectName: "${p}", objectType: ssmparameter}`),
  ].join('\n');

  const provider = await startAwsProvider({
    providerDir: path.join(root, 'providers'),
    kubeconfig: lab.kubeconfig,
    awsEndpoint: lab.awsEndpoint,
  });
  const api = new ProviderApiClient(provider.socketPath);
  const calls = async () =>
    Object.fromEntries(
      await Promise.all(
        OPERATIONS.map(
          async (op) =>
            [op, await metricValue(provider.metricsUrl, 'aws_api_calls_total', { operation: op })] as const,
        ),
      ),
    );
  const podsOf = async (prefix: string, serviceAccountOf: (i: number) => string): Promise<BenchPod[]> => {
    // The ServiceAccounts first: a pod naming one that does not exist yet is refused.
    const accounts = new Set(Array.from({ length: PODS }, (_, i) => serviceAccountOf(i)));
    await Promise.all([...accounts].map((sa) => createServiceAccount(kube, ns, sa, roleArn)));
    return Promise.all(
      Array.from({ length: PODS }, async (_, i) => {
        const serviceAccount = serviceAccountOf(i);
        const name = `${prefix}-${i}`;
        const pod = await createPod(kube, ns, name, {
          nodeName: 'bench-node',
          serviceAccountName: serviceAccount,
          volumes: [],
        });
        const uid = pod.metadata.uid ?? '';
        const tokens = await mintTokens(kube, ns, serviceAccount, ['sts.amazonaws.com'], { name, uid });
        return { name, uid, serviceAccount, tokens, targetPath: path.join(root, name), versions: [] };
      }),
    );
  };
  /** Every pod mounts at once with the versions it has; returns the AWS calls and the files. */
  const round = async (pods: BenchPod[]) => {
    const before = await calls();
    const results = await Promise.all(
      pods.map((pod) =>
        api.mount({
          attributes: {
            'csi.storage.k8s.io/pod.name': pod.name,
            'csi.storage.k8s.io/pod.namespace': ns,
            'csi.storage.k8s.io/pod.uid': pod.uid,
            'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
            'csi.storage.k8s.io/serviceAccount.tokens': pod.tokens,
            objects,
          },
          targetPath: pod.targetPath,
          currentObjectVersion: pod.versions,
        }),
      ),
    );
    results.forEach((res, i) => {
      (pods[i] as BenchPod).versions = res.objectVersion.map((v) => ({ id: v.id, version: v.version }));
    });
    const after = await calls();
    const made = OPERATIONS.map((op) => (after[op] ?? 0) - (before[op] ?? 0));
    const values = new Set(results.flatMap((res) => res.files.map((f) => f.contents.toString())));
    return { made, values };
  };
  const rows: string[][] = [['case', ...OPERATIONS, 'AWS calls in the round', 'values the pods got']];
  const row = (title: string, r: { made: number[]; values: Set<string> }) =>
    rows.push([
      title,
      ...r.made.map(String),
      String(r.made.reduce((a, b) => a + b, 0)),
      [...r.values].join(', '),
    ]);
  try {
    const oneIdentity = await podsOf('one', () => 'app');
    row(`${PODS} pods x 1 identity: first mounts`, await round(oneIdentity));
    row(`${PODS} pods x 1 identity: rotation round, nothing changed`, await round(oneIdentity));
    await admin.secretsManager.send(new PutSecretValueCommand({ SecretId: secret, SecretString: 'v2' }));
    for (const name of parameters)
      await admin.ssm.send(
        new PutParameterCommand({ Name: name, Value: 'v2', Type: 'SecureString', Overwrite: true }),
      );
    row(`${PODS} pods x 1 identity: rotation round, all 3 objects changed`, await round(oneIdentity));

    const manyIdentities = await podsOf('many', (i) => `sa-${i}`);
    row(`${PODS} pods x ${PODS} identities: first mounts`, await round(manyIdentities));
    row(`${PODS} pods x ${PODS} identities: rotation round, nothing changed`, await round(manyIdentities));
    printTable("AWS calls per rotation round (the provider's own aws_api_calls_total)", rows);
  } finally {
    api.close();
    await provider.stop();
    admin.destroy();
    await deleteNamespace(kube, ns);
    kube.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
