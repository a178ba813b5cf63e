// AWS provider benchmark (issue 4): AWS calls counted from the provider's own metrics for the
// article's first mount, a remount with nothing changed, and 110 pods of one ServiceAccount
// mounting the same 2 secrets at once; the provider's RSS idle and after. Needs the lab: `make bench`.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import {
  adminClient,
  awsAdmin,
  createNamespace,
  createRole,
  deleteNamespace,
  metricValue,
  mintTokens,
  ProviderApiClient,
  requireLab,
  startAwsProvider,
  uniqueSuffix,
} from '@sscsi/e2e';
import { Resources, resourcePath } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import { percentile, printTable, rssMiB } from './stats.ts';

const PODS = 110;
const OPERATIONS = ['AssumeRoleWithWebIdentity', 'GetSecretValue', 'DescribeSecret', 'GetParameters'];

async function main(): Promise<void> {
  const lab = requireLab();
  const kube = adminClient(lab);
  const suffix = uniqueSuffix();
  const ns = `bench-${suffix}`;
  const root = fs.mkdtempSync(path.join(lab.stateDir, `bench-aws-${suffix}-`));
  const admin = awsAdmin(lab);
  // Roles that every ServiceAccount of the lab's cluster may assume (IRSA), reading anything.
  const read = [{ Effect: 'Allow', Action: ['secretsmanager:*', 'ssm:GetParameters'], Resource: '*' }];
  await createRole(admin.iam, `bench-${suffix}`, read);
  await createRole(admin.iam, `fleet-${suffix}`, read);
  await createNamespace(kube, ns);
  await kube.create(resourcePath(Resources.serviceAccounts, ns), {
    metadata: {
      name: 'app',
      annotations: { 'eks.amazonaws.com/role-arn': `arn:aws:iam::123456789012:role/bench-${suffix}` },
    },
  });
  await admin.secretsManager.send(
    new CreateSecretCommand({
      Name: `MyDBSecret-${suffix}`,
      SecretString: '{"username":"u","password":"p"}',
    }),
  );
  await admin.secretsManager.send(new CreateSecretCommand({ Name: `second-${suffix}`, SecretString: 'two' }));
  await admin.ssm.send(
    new PutParameterCommand({ Name: `/${suffix}/db/username`, Value: 'u', Type: 'String' }),
  );
  await admin.ssm.send(
    new PutParameterCommand({ Name: `/${suffix}/db/password`, Value: 'p', Type: 'SecureString' }),
  );

  const provider = await startAwsProvider({
    providerDir: path.join(root, 'providers'),
    kubeconfig: lab.kubeconfig,
    awsEndpoint: lab.awsEndpoint,
  });
  const api = new ProviderApiClient(provider.socketPath);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleRss = rssMiB(provider.child.pid ?? 0);
    const calls = async () =>
      Object.fromEntries(
        await Promise.all(
          OPERATIONS.map(
            async (op) =>
              [op, await metricValue(provider.metricsUrl, 'aws_api_calls_total', { operation: op })] as const,
          ),
        ),
      );
    const delta = (before: Record<string, number>, after: Record<string, number>) =>
      OPERATIONS.map((op) => String((after[op] ?? 0) - (before[op] ?? 0)));
    const pod = (i: number, tokens: string) => ({
      'csi.storage.k8s.io/pod.name': `pod-${i}`,
      'csi.storage.k8s.io/pod.namespace': ns,
      'csi.storage.k8s.io/serviceAccount.name': 'app',
      'csi.storage.k8s.io/serviceAccount.tokens': tokens,
    });

    const article = [
      `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}`,
      `- {objectName: "/${suffix}/db/username", objectType: ssmparameter}`,
      `- {objectName: "/${suffix}/db/password", objectType: ssmparameter}`,
    ].join('\n');
    const articleTarget = path.join(root, 'article');
    const rows: string[][] = [['case', ...OPERATIONS]];
    let before = await calls();
    const first = await api.mount({
      attributes: { ...pod(0, await mintTokens(kube, ns, 'app')), objects: article },
      targetPath: articleTarget,
    });
    let after = await calls();
    rows.push(["first mount, article's 3 objects", ...delta(before, after)]);
    before = after;
    await api.mount({
      attributes: { ...pod(0, await mintTokens(kube, ns, 'app')), objects: article },
      targetPath: articleTarget,
      currentObjectVersion: first.objectVersion,
    });
    after = await calls();
    rows.push(['remount, nothing changed', ...delta(before, after)]);

    // 110 pods of one ServiceAccount, each with its own token, as a node full of replicas starting.
    const two = `- {objectName: MyDBSecret-${suffix}, objectType: secretsmanager}\n- {objectName: second-${suffix}, objectType: secretsmanager}`;
    // A ServiceAccount of its own, so that nothing is cached for it yet.
    await kube.create(resourcePath(Resources.serviceAccounts, ns), {
      metadata: {
        name: 'fleet',
        annotations: { 'eks.amazonaws.com/role-arn': `arn:aws:iam::123456789012:role/fleet-${suffix}` },
      },
    });
    const fleetTokens = await Promise.all(
      Array.from({ length: PODS }, () => mintTokens(kube, ns, 'fleet', ['sts.amazonaws.com'])),
    );
    before = await calls();
    const latencies: number[] = [];
    const wallStart = Date.now();
    await Promise.all(
      fleetTokens.map(async (t, i) => {
        const start = performance.now();
        await api.mount({
          attributes: { ...pod(i, t), 'csi.storage.k8s.io/serviceAccount.name': 'fleet', objects: two },
          targetPath: path.join(root, `fleet-${i}`),
        });
        latencies.push(performance.now() - start);
      }),
    );
    const wallMs = Date.now() - wallStart;
    after = await calls();
    rows.push([`${PODS} pods of one ServiceAccount, 2 secrets, at once`, ...delta(before, after)]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const loadedRss = rssMiB(provider.child.pid ?? 0);

    printTable('AWS calls made by the provider (its own aws_api_calls_total)', rows);
    printTable(`${PODS} concurrent mounts`, [
      ['wall ms', 'p50 ms', 'p99 ms'],
      [String(wallMs), percentile(latencies, 50), percentile(latencies, 99)],
    ]);
    printTable('Provider memory', [
      ['state', 'RSS MiB'],
      ['idle (after start)', idleRss.toFixed(1)],
      [`after the ${PODS}-pod run`, loadedRss.toFixed(1)],
    ]);
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
