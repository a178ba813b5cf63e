// The lab's AWS gate (issue 12): what it adds to each AWS call over moto alone. The same
// GetSecretValue and GetParameters calls, one at a time and 50 at once, straight to moto and through
// the gate, with the account root's key (authentication only) and with a role's session (signature
// check, identity policies, the secret's ARN and tags resolved). Needs the lab: `make bench`.
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import {
  awsAdmin,
  createRole,
  LAB_ACCOUNT,
  LAB_ROOT_CREDENTIALS,
  requireLab,
  uniqueSuffix,
} from '@sscsi/e2e';

import fs from 'node:fs';
import path from 'node:path';

import { percentile, printTable } from './stats.ts';

const SEQUENTIAL = 300;
const CONCURRENT = 50;
const ROUNDS = 6;
const REGION = 'us-east-1';

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/** CPU time (user + system) a lab component has used so far, in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(stateDir: string, component: string): number {
  const pid = fs.readFileSync(path.join(stateDir, 'pids', `${component}.pid`), 'utf8').trim();
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const lab = requireLab();
  const moto = process.env.LAB_MOTO_URL;
  if (!moto) throw new Error('LAB_MOTO_URL is not set: eval "$(make -s lab-env)"');
  const suffix = uniqueSuffix();
  const secret = `bench-gate-${suffix}`;
  const parameter = `/bench-gate-${suffix}/value`;
  const admin = awsAdmin(lab, REGION);
  await admin.secretsManager.send(new CreateSecretCommand({ Name: secret, SecretString: 'v' }));
  await admin.ssm.send(new PutParameterCommand({ Name: parameter, Value: 'v', Type: 'SecureString' }));
  const roleArn = await createRole(admin.iam, `bench-gate-${suffix}`, [
    {
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: `arn:aws:secretsmanager:${REGION}:${LAB_ACCOUNT}:secret:${secret}-*`,
    },
    {
      Effect: 'Allow',
      Action: 'ssm:GetParameters',
      Resource: `arn:aws:ssm:${REGION}:${LAB_ACCOUNT}:parameter${parameter}`,
    },
  ]);
  const assumed = await new STSClient({
    region: REGION,
    endpoint: lab.awsEndpoint,
    credentials: LAB_ROOT_CREDENTIALS,
  }).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'bench' }));
  const session: Credentials = {
    accessKeyId: assumed.Credentials?.AccessKeyId ?? '',
    secretAccessKey: assumed.Credentials?.SecretAccessKey ?? '',
    sessionToken: assumed.Credentials?.SessionToken,
  };

  const paths: Array<[string, string, Credentials]> = [
    ['moto alone', moto, LAB_ROOT_CREDENTIALS],
    ["through the gate, the root's key", lab.awsEndpoint, LAB_ROOT_CREDENTIALS],
    ["through the gate, a role's session", lab.awsEndpoint, session],
  ];
  const rows: string[][] = [
    [
      'call',
      'path',
      'p50 ms',
      'p99 ms',
      `${CONCURRENT} at once, wall ms (median of ${ROUNDS})`,
      'gate CPU ms per call',
      'moto CPU ms per call',
    ],
  ];
  for (const [label, send] of [
    [
      'GetSecretValue',
      (c: Credentials, endpoint: string) => {
        const client = new SecretsManagerClient({ region: REGION, endpoint, credentials: c });
        return () => client.send(new GetSecretValueCommand({ SecretId: secret }));
      },
    ],
    [
      'GetParameters',
      (c: Credentials, endpoint: string) => {
        const client = new SSMClient({ region: REGION, endpoint, credentials: c });
        return () => client.send(new GetParametersCommand({ Names: [parameter], WithDecryption: true }));
      },
    ],
  ] as const) {
    for (const [route, endpoint, credentials] of paths) {
      const call = send(credentials, endpoint);
      for (let i = 0; i < 20; i++) await call(); // warm connections and caches
      const samples: number[] = [];
      const cpuBefore = [cpuMs(lab.stateDir, 'aws-gate'), cpuMs(lab.stateDir, 'moto')];
      for (let i = 0; i < SEQUENTIAL; i++) samples.push(await timed(call));
      const cpu = [cpuMs(lab.stateDir, 'aws-gate'), cpuMs(lab.stateDir, 'moto')].map((after, i) =>
        ((after - (cpuBefore[i] ?? 0)) / SEQUENTIAL).toFixed(2),
      );
      const walls: number[] = [];
      for (let r = 0; r < ROUNDS; r++)
        walls.push(await timed(() => Promise.all(Array.from({ length: CONCURRENT }, () => call()))));
      rows.push([
        label,
        route,
        percentile(samples, 50),
        percentile(samples, 99),
        percentile(walls, 50),
        ...cpu,
      ]);
    }
  }
  printTable('AWS calls straight to moto and through the lab gate', rows);
  admin.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
