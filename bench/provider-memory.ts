// AWS provider memory benchmark (issue 15 item 3), without the lab: the provider's real executable
// (its #! flags, its real AWS SDK clients, gRPC server, token verifier and caches) against two
// stand-ins in this process: a Kubernetes API (issuer, signing keys, ServiceAccounts with a role,
// events) and an AWS endpoint (STS AssumeRoleWithWebIdentity, Secrets Manager, SSM) that answer at
// once. This process acts as the driver on the provider's socket, with tokens bound to each pod as
// the kubelet's are. The provider's RSS is read from /proc at each phase:
// start-up, 110 pods mounted (the article's 3 objects: 1 secret, 2 parameters), a rotation round
// of those 110, then 2,000 short-lived pods (each mounted once with 2 secrets of its own, 8 KiB,
// never seen again). Each variant (environment or V8 flags) runs in a fresh provider process.
// `node bench/provider-memory.ts` after `make build`.
import { ProviderApiClient } from '@sscsi/e2e';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { printTable, rssMiB } from './stats.ts';

const PODS = 110;
const SHORT_LIVED = Number(process.env.BENCH_SHORT_LIVED ?? 2000);
const SHORT_LIVED_AT_ONCE = 10;
const SECRET_BYTES = Number(process.env.BENCH_SECRET_BYTES ?? 8 * 1024);
/**
 * BENCH_MEMORY_CGROUP=<dir>: a memory cgroup (v1 or v2) the provider is started in, as its container
 * would be: each phase then also reports the cgroup's working set as the kubelet computes it (usage
 * less inactive file pages, so the node binary's pages the provider faulted in count), and the peak
 * of that figure sampled every 100 ms since the previous phase. With cgroup v1, more directories
 * after commas (e.g. a cpu cgroup with the chart's 50m quota) are joined too.
 */
const CGROUPS = (process.env.BENCH_MEMORY_CGROUP ?? '').split(',').filter(Boolean);
const CGROUP = CGROUPS[0];
/**
 * In a cgroup the provider runs a fresh copy of node whose page cache is dropped first: its pages
 * are then charged to the cgroup that faults them in, as a container's image binary is. This
 * process's own binary is cached already, and charged elsewhere.
 */
function uncachedNodeCopy(dir: string): string {
  const copy = path.join(dir, 'node');
  fs.copyFileSync(process.execPath, copy);
  const fd = fs.openSync(copy, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  // POSIX_FADV_DONTNEED on the whole (clean) file.
  const dd = spawnSync('dd', [`if=${copy}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  if (dd.status !== 0) throw new Error('dd could not drop the copy of node from the page cache');
  return copy;
}
const ISSUER = 'https://kubernetes.default.svc';
const REGION = 'us-east-1';
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'provider-aws', 'dist', 'main.js');

interface Variant {
  title: string;
  env?: Record<string, string>;
  /** Node flags instead of the #! line's. */
  flags?: string[];
  /** Another build of the provider's main.js. */
  main?: string;
  /** The 110 pods' class holds only the secret: no SSM parameter is ever asked for. */
  secretsOnly?: boolean;
}

/** The flags of the provider's #! line: what it runs with in its image. */
function shebangFlags(): string[] {
  const first = fs.readFileSync(MAIN, 'utf8').split('\n', 1)[0] ?? '';
  return (/^#!\/usr\/bin\/env -S node(.*)$/.exec(first)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

const VARIANTS: Variant[] = [
  { title: 'as shipped (#! flags)' },
  { title: 'as shipped, a cluster without SSM (the 110 pods mount only the secret)', secretsOnly: true },
  {
    title: '+ glibc returns freed memory (GLIBC_TUNABLES trim_threshold 64 KiB, one arena)',
    env: { GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=65536:glibc.malloc.arena_max=1' },
  },
  // BENCH_MEMORY_FLAGS="<flags>": the #! flags and these, to weigh other V8 settings.
  ...(process.env.BENCH_MEMORY_FLAGS
    ? [
        {
          title: `+ ${process.env.BENCH_MEMORY_FLAGS}`,
          flags: [...shebangFlags(), ...process.env.BENCH_MEMORY_FLAGS.split(/\s+/)],
        },
      ]
    : []),
  // BENCH_MEMORY_BUNDLE=<file>[,<file>...]: the provider bundled (scripts/bundle.mjs <dir>, then
  // <dir>/secrets-store-csi-driver-provider-aws/dist/main.js), to weigh what bundling saves; one
  // variant per file, each also with BENCH_MEMORY_BUNDLE_ENV (e.g. GLIBC_TUNABLES=...) when set.
  ...(process.env.BENCH_MEMORY_BUNDLE ?? '')
    .split(',')
    .filter(Boolean)
    .flatMap((main): Variant[] => {
      const extra = process.env.BENCH_MEMORY_BUNDLE_ENV;
      const [key, ...value] = (extra ?? '').split('=');
      return [
        { title: `bundled (${main})`, main },
        ...(extra && key
          ? [{ title: `bundled (${main}) + ${extra}`, main, env: { [key]: value.join('=') } }]
          : []),
      ];
    }),
];

/** A cluster's token issuer: ES256 keys, tokens bound to a pod as the kubelet requests them. */
class Issuer {
  private readonly key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

  jwks() {
    return {
      keys: [{ ...this.key.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }],
    };
  }

  token(namespace: string, serviceAccount: string, pod: { name: string; uid: string }): string {
    const now = Math.floor(Date.now() / 1000);
    const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const claims = {
      aud: ['sts.amazonaws.com'],
      exp: now + 3600,
      iat: now,
      nbf: now,
      iss: ISSUER,
      sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
      'kubernetes.io': { namespace, pod, serviceaccount: { name: serviceAccount, uid: 'sa-uid' } },
    };
    const signed = `${encode({ alg: 'ES256', kid: 'k1' })}.${encode(claims)}`;
    const signature = crypto.sign('sha256', Buffer.from(signed), {
      key: this.key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${signed}.${signature.toString('base64url')}`;
  }
}

function listen(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const urlOf = (server: http.Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

function body(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function json(res: http.ServerResponse, status: number, value: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(JSON.stringify(value));
}

/** Kubernetes, as far as the provider asks: discovery, keys, ServiceAccounts, events. */
function kubeApi(issuer: Issuer): http.RequestListener {
  return (req, res) => {
    const url = req.url ?? '';
    if (url === '/.well-known/openid-configuration') return json(res, 200, { issuer: ISSUER });
    if (url === '/openid/v1/jwks') return json(res, 200, issuer.jwks());
    const sa = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/?]+)/.exec(url);
    if (sa)
      return json(res, 200, {
        metadata: {
          namespace: sa[1],
          name: sa[2],
          annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/bench' },
        },
      });
    if (req.method === 'POST') return void body(req).then(() => json(res, 201, {}));
    return json(res, 404, { kind: 'Status', code: 404 });
  };
}

/** STS, Secrets Manager and SSM answering at once: every secret has one version, made on request. */
function awsApi(): http.RequestListener {
  let keys = 0;
  return (req, res) => {
    void body(req).then((text) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target === '') {
        keys += 1;
        const expiration = new Date(Date.now() + 3600_000).toISOString();
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>` +
            `<Credentials><AccessKeyId>ASIABENCH${keys}</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>` +
            `<Expiration>${expiration}</Expiration></Credentials><SubjectFromWebIdentityToken>x</SubjectFromWebIdentityToken>` +
            `<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/bench/x</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>` +
            `</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
        );
        return;
      }
      const input = JSON.parse(text || '{}') as { SecretId?: string; Names?: string[] };
      const type = 'application/x-amz-json-1.1';
      if (target === 'secretsmanager.GetSecretValue')
        return json(
          res,
          200,
          { VersionId: 'v1', SecretString: String(input.SecretId).padEnd(SECRET_BYTES, '.') },
          type,
        );
      if (target === 'secretsmanager.DescribeSecret')
        return json(res, 200, { VersionIdsToStages: { v1: ['AWSCURRENT'] } }, type);
      if (target === 'AmazonSSM.GetParameters')
        return json(
          res,
          200,
          {
            Parameters: (input.Names ?? []).map((n) => ({
              Name: n,
              Value: `value of ${n}`,
              Version: 1,
              Type: 'SecureString',
            })),
            InvalidParameters: [],
          },
          type,
        );
      return json(res, 400, { __type: 'UnknownOperationException' }, type);
    });
  };
}

/** The kubelet's (cAdvisor's) working set of a memory cgroup, v1 or v2: usage less inactive file pages. */
function workingSetMiB(cgroup: string): number {
  const read = (file: string) => fs.readFileSync(path.join(cgroup, file), 'utf8');
  const v2 = fs.existsSync(path.join(cgroup, 'memory.current'));
  const usage = Number(read(v2 ? 'memory.current' : 'memory.usage_in_bytes'));
  const inactive = Number(
    new RegExp(`^${v2 ? 'inactive_file' : 'total_inactive_file'} (\\d+)$`, 'm').exec(
      read('memory.stat'),
    )?.[1] ?? 0,
  );
  return Math.max(0, usage - inactive) / 1048576;
}

async function waitFor(file: string): Promise<void> {
  while (!fs.existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function measure(variant: Variant, kubeUrl: string, awsUrl: string, issuer: Issuer): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-provider-memory-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: kubeUrl } }],
      users: [{ name: 'u', user: { token: 'bench' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AWS_ENDPOINT_URL: awsUrl,
    AWS_REGION: REGION,
    ...variant.env,
  };
  // BENCH_MEMORY_SNAPSHOTS=<dir>: a heap snapshot of the provider at each phase, for finding what holds memory.
  const snapshots = process.env.BENCH_MEMORY_SNAPSHOTS;
  const node = CGROUP ? uncachedNodeCopy(dir) : process.execPath;
  const child = spawn(
    CGROUP ? '/bin/sh' : node,
    [
      // The shell joins the cgroup, then becomes node: no page of the provider is charged elsewhere.
      ...(CGROUP
        ? ['-c', 'for c in $0; do echo $$ > "$c/cgroup.procs"; done && exec "$@"', CGROUPS.join(' '), node]
        : []),
      ...(variant.flags ?? shebangFlags()),
      ...(snapshots ? ['--heapsnapshot-signal=SIGUSR2'] : []),
      variant.main ?? MAIN,
      `--provider-volume=${dir}`,
      `--kubeconfig=${kubeconfig}`,
      '--metrics-addr=127.0.0.1:0',
      '--qps=1000',
      '--burst=1000',
    ],
    { stdio: 'ignore', env, cwd: snapshots ?? dir },
  );
  const socket = path.join(dir, 'aws.sock');
  const api = new ProviderApiClient(socket);
  const pid = child.pid ?? 0;
  let peak = 0;
  const sampler = CGROUP
    ? setInterval(() => {
        peak = Math.max(peak, workingSetMiB(CGROUP));
      }, 100)
    : undefined;
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    let rss = rssMiB(pid).toFixed(1);
    if (CGROUP) {
      rss += ` (ws ${workingSetMiB(CGROUP).toFixed(1)}, peak ws ${peak.toFixed(1)})`;
      peak = 0;
    }
    if (snapshots) {
      const before = fs.readdirSync(snapshots).length;
      child.kill('SIGUSR2');
      while (fs.readdirSync(snapshots).length === before)
        await new Promise((resolve) => setTimeout(resolve, 200));
      await new Promise((resolve) => setTimeout(resolve, 3000));
      return `${rss} (${rssMiB(pid).toFixed(1)} after the snapshot's full GC)`;
    }
    return rss;
  };
  try {
    await waitFor(socket);
    const idle = await settle();
    const mount = (name: string, objects: string, current: Array<{ id: string; version: string }> = []) =>
      api.mount({
        attributes: {
          'csi.storage.k8s.io/pod.name': name,
          'csi.storage.k8s.io/pod.namespace': 'bench',
          'csi.storage.k8s.io/pod.uid': `uid-${name}`,
          'csi.storage.k8s.io/serviceAccount.name': 'app',
          'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({
            'sts.amazonaws.com': { token: issuer.token('bench', 'app', { name, uid: `uid-${name}` }) },
          }),
          objects,
        },
        targetPath: path.join(dir, 'pods', name),
        currentObjectVersion: current,
      });
    const article = [
      '- {objectName: MyDBSecret, objectType: secretsmanager}',
      ...(variant.secretsOnly
        ? []
        : [
            '- {objectName: /sample-app/db/username, objectType: ssmparameter}',
            '- {objectName: /sample-app/db/password, objectType: ssmparameter}',
          ]),
    ].join('\n');
    const names = Array.from({ length: PODS }, (_, i) => `pod-${i}`);
    const first = await Promise.all(names.map((n) => mount(n, article)));
    const mounted = await settle();
    await Promise.all(names.map((n, i) => mount(n, article, first[i]?.objectVersion)));
    const rotated = await settle();
    for (let start = 0; start < SHORT_LIVED; start += SHORT_LIVED_AT_ONCE) {
      await Promise.all(
        Array.from({ length: SHORT_LIVED_AT_ONCE }, (_, i) => {
          const name = `short-${start + i}`;
          return mount(
            name,
            `- {objectName: ${name}-a, objectType: secretsmanager}\n- {objectName: ${name}-b, objectType: secretsmanager}`,
          );
        }),
      );
    }
    const shortLived = await settle();
    return [variant.title, idle, mounted, rotated, shortLived];
  } finally {
    clearInterval(sampler);
    api.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const issuer = new Issuer();
  const kube = await listen(kubeApi(issuer));
  const aws = await listen(awsApi());
  const rows: string[][] = [
    [
      'variant',
      'idle',
      `${PODS} pods mounted`,
      'after a rotation round',
      `after ${SHORT_LIVED} short-lived pods`,
    ],
  ];
  try {
    // BENCH_MEMORY_VARIANTS=0,2: only those variants (by position).
    const only = process.env.BENCH_MEMORY_VARIANTS?.split(',').map(Number);
    for (const variant of VARIANTS.filter((_, i) => !only || only.includes(i)))
      rows.push(await measure(variant, urlOf(kube), urlOf(aws), issuer));
  } finally {
    kube.close();
    aws.close();
  }
  printTable(`AWS provider RSS in MiB (${shebangFlags().join(' ')})`, rows);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
