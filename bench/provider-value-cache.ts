// AWS provider value cache benchmark (issue 13 item 3): 2,000 short-lived pods, each with two
// secrets of its own, mounted and remounted by the provider's real Mount handler in this process.
// The provider is never told that a pod went away, so what it keeps for remounts must be bounded.
// Secrets Manager is a stand-in that makes each value when asked (it keeps nothing), and time is
// simulated: each pod has a rotation remount every 2 minutes (the driver's default poll interval).
// Each scenario runs in a fresh process: a full node (a new pod every 5 s, each living 9 minutes:
// about 110 pods at a time, the kubelet's default maximum) with the cache's default bounds and
// without bounds (as it was: nothing dropped under 20,000 entries), then an overloaded one (300
// pods at a time, more secrets than the budget holds). Prints the memory after every 250 pods.
// No lab needed: `node bench/provider-value-cache.ts` after `make build` (or within `make bench`).
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createLogger } from '@sscsi/common';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';

import { ValueCache } from '../provider-aws/dist/fetch/value-cache.js';
import { ProviderMetrics } from '../provider-aws/dist/metrics.js';
import { MountService } from '../provider-aws/dist/mount.js';

const PODS = 2000;
const SECRET_BYTES = 8 * 1024;
const ROTATION_POLL_MS = 2 * 60_000;
const SWEEP_EVERY_MS = 60_000;
const SAMPLE_EVERY_PODS = 250;
const REGION = 'us-east-1';

interface Scenario {
  title: string;
  bounded: boolean;
  podEveryMs: number;
  podLifetimeMs: number;
}

const SCENARIOS: Record<string, Scenario> = {
  node: {
    title: 'a full node (110 pods at a time), value cache with its default bounds (4 MiB, 15 min idle)',
    bounded: true,
    podEveryMs: 5000,
    podLifetimeMs: 9 * 60_000,
  },
  'node-unbounded': {
    title: 'a full node (110 pods at a time), value cache without bounds (as before)',
    bounded: false,
    podEveryMs: 5000,
    podLifetimeMs: 9 * 60_000,
  },
  overloaded: {
    title: '300 pods at a time (5 MiB of live secrets), value cache with its default bounds',
    bounded: true,
    podEveryMs: 2000,
    podLifetimeMs: 10 * 60_000,
  },
};

interface Sample {
  pods: number;
  rssMiB: number;
  heapMiB: number;
  buffersMiB: number;
  entries: number;
  cacheMiB: number;
  reads: number;
  checks: number;
}

const mib = (bytes: number) => bytes / (1024 * 1024);

/** Secrets Manager for the stand-in pods: every secret has one version, v1, whose value is made on request. */
function secretsManager(counts: { reads: number; checks: number }) {
  const send = async (command: unknown) => {
    if (command instanceof DescribeSecretCommand) {
      counts.checks += 1;
      return { VersionIdsToStages: { v1: ['AWSCURRENT'] } };
    }
    if (command instanceof GetSecretValueCommand) {
      counts.reads += 1;
      const id = String(command.input.SecretId);
      return { VersionId: 'v1', SecretString: id.padEnd(SECRET_BYTES, '.') };
    }
    throw new Error('unexpected command');
  };
  return { send };
}

async function run(scenario: Scenario): Promise<Sample[]> {
  let now = 0;
  const counts = { reads: 0, checks: 0 };
  const valueCache = new ValueCache(
    scenario.bounded
      ? { now: () => now }
      : { now: () => now, maxBytes: Number.POSITIVE_INFINITY, idleMs: Number.POSITIVE_INFINITY },
  );
  const client = secretsManager(counts);
  const service = new MountService({
    driverWritesSecrets: true,
    defaultRegion: undefined,
    lookups: {
      roleArn: async () => 'arn:aws:iam::111122223333:role/bench',
      nodeRegion: async () => REGION,
    },
    identity: {
      credentials: async () => ({ accessKeyId: 'AKIDBENCH', secretAccessKey: 'x', sessionToken: 'y' }),
    } as never,
    clients: { secretsManager: () => client, ssm: () => client } as never,
    valueCache,
    metrics: new ProviderMetrics(new Registry()),
    logger: createLogger({ name: 'bench', json: true, verbosity: 0, destination: { write: () => true } }),
    events: { record: () => undefined },
    concurrency: 8,
  });
  const tokens = JSON.stringify({ 'sts.amazonaws.com': { token: 'bench.token.value' } });
  const mount = (pod: number, current: Array<{ id: string; version: string }>) =>
    service.mount({
      attributes: JSON.stringify({
        'csi.storage.k8s.io/pod.name': `pod-${pod}`,
        'csi.storage.k8s.io/pod.namespace': 'bench',
        'csi.storage.k8s.io/pod.uid': `uid-${pod}`,
        'csi.storage.k8s.io/serviceAccount.name': 'app',
        'csi.storage.k8s.io/serviceAccount.tokens': tokens,
        region: REGION,
        objects: `- {objectName: pod-${pod}-a, objectType: secretsmanager}\n- {objectName: pod-${pod}-b, objectType: secretsmanager}`,
      }),
      secrets: 'null',
      targetPath: `/var/lib/kubelet/pods/uid-${pod}/volumes/kubernetes.io~csi/secrets/mount`,
      permission: '420',
      currentObjectVersion: current,
    });

  const samples: Sample[] = [];
  const sample = (pods: number) => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    samples.push({
      pods,
      rssMiB: mib(m.rss),
      heapMiB: mib(m.heapUsed),
      buffersMiB: mib(m.arrayBuffers),
      entries: valueCache.size,
      cacheMiB: mib(valueCache.bytes),
      reads: counts.reads,
      checks: counts.checks,
    });
  };
  // Mounted versions of each live pod, and when its next remount is due.
  const live = new Map<
    number,
    { versions: Array<{ id: string; version: string }>; next: number; ends: number }
  >();
  let started = 0;
  let nextSweep = SWEEP_EVERY_MS;
  sample(0);
  while (started < PODS || live.size > 0) {
    now += scenario.podEveryMs;
    if (now >= nextSweep) {
      valueCache.sweep();
      nextSweep += SWEEP_EVERY_MS;
    }
    for (const [pod, state] of live) {
      if (now >= state.ends) {
        live.delete(pod);
      } else if (now >= state.next) {
        await mount(pod, state.versions);
        state.next += ROTATION_POLL_MS;
      }
    }
    if (started < PODS) {
      const pod = started++;
      const response = await mount(pod, []);
      const versions = (response.objectVersion ?? []).map((v) => ({
        id: v.id ?? '',
        version: v.version ?? '',
      }));
      live.set(pod, { versions, next: now + ROTATION_POLL_MS, ends: now + scenario.podLifetimeMs });
      if (started % SAMPLE_EVERY_PODS === 0) sample(started);
    }
  }
  // All pods gone; the bounded cache drops what is left once it has been idle long enough.
  now += 16 * 60_000;
  valueCache.sweep();
  sample(PODS);
  return samples;
}

function child(name: string): Sample[] {
  const script = fileURLToPath(import.meta.url);
  // The provider's own V8 flags (its #! line), plus gc() so that every sample is taken after a
  // collection. Lite mode has no WebAssembly, which Node's TypeScript support needs: the child runs
  // this file's JavaScript, from the folder of the file so that its imports resolve the same.
  const code = stripTypeScriptTypes(fs.readFileSync(script, 'utf8'));
  const out = spawnSync(
    process.execPath,
    ['--max-semi-space-size=1', '--lite-mode', '--expose-gc', '--input-type=module', '--eval', code],
    {
      cwd: path.dirname(script),
      env: { ...process.env, BENCH_VALUE_CACHE_SCENARIO: name },
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  if (out.status !== 0) throw new Error(`benchmark child (${name}) failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as Sample[];
}

async function main(): Promise<void> {
  const scenario = SCENARIOS[process.env.BENCH_VALUE_CACHE_SCENARIO ?? ''];
  if (scenario) {
    process.stdout.write(JSON.stringify(await run(scenario)));
    return;
  }
  const { printTable } = await import('./stats.ts');
  const f = (n: number) => n.toFixed(1);
  for (const [name, { title }] of Object.entries(SCENARIOS)) {
    const samples = child(name);
    printTable(`Provider memory, 2,000 short-lived pods: ${title}`, [
      [
        'pods started',
        'RSS MiB',
        'JS heap MiB',
        'buffers MiB',
        'cache entries',
        'cache MiB',
        'GetSecretValue',
        'DescribeSecret',
      ],
      ...samples.map((s, i) => [
        i === samples.length - 1 ? `${s.pods}, all gone 16 min later` : String(s.pods),
        f(s.rssMiB),
        f(s.heapMiB),
        f(s.buffersMiB),
        String(s.entries),
        f(s.cacheMiB),
        String(s.reads),
        String(s.checks),
      ]),
    ]);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
