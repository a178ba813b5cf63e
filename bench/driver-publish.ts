// Driver benchmark (issues 3 and 15): NodePublishVolume latency for a 2-file volume with the test
// provider answering at once, for 1 pod at a time and for 110 pods at once (a node's default pod
// limit); the driver's CPU per publish; its RSS idle and with 110 volumes mounted. Needs the lab:
// `make bench`.
//
// Only the NodePublishVolume call is timed: the kubelet's own work before it (CSIDriver lookup,
// TokenRequest) is prepared first, as it is not the driver's.
//
// CPU is the driver process's, all threads (V8's, libuv's), from /proc/<pid>/task/*/schedstat (in
// nanoseconds, where /proc/<pid>/stat counts 10 ms ticks). It includes what a publish causes after
// its answer (the watch event of the status it created), so each phase ends with a settle.
//
// Profiling: run with NODE_OPTIONS (the driver inherits it), e.g. `--cpu-prof --cpu-prof-dir=<dir>`,
// or `--heapsnapshot-signal=SIGUSR2` together with BENCH_SNAPSHOT_SIGNAL=SIGUSR2, which makes this
// script ask the driver for a heap snapshot at each memory reading.
import type { Pod } from '@sscsi/common';
import type { NodeEnvironment, PreparedPublish } from '@sscsi/e2e';
import { createPod, createSecretProviderClass, startNodeEnvironment } from '@sscsi/e2e';
import fs from 'node:fs';

import { percentile, printTable, rssMiB } from './stats.ts';

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 60);
const CONCURRENT = 110;
const SNAPSHOT_SIGNAL = process.env.BENCH_SNAPSHOT_SIGNAL as NodeJS.Signals | undefined;
/** Time left after a phase for the work it caused (watch events, logs) before CPU and RSS are read. */
const SETTLE_MS = 1000;
/**
 * A second memory reading with the volumes still mounted, once V8's memory reducer has run (it
 * starts full collections a few seconds after the process goes quiet). 0 skips it.
 */
const QUIET_MS = Number(process.env.BENCH_QUIET_MS ?? 30_000);

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** CPU time used so far by every thread of `pid`, in milliseconds. */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read; its time is lost to this reading only.
    }
  }
  return ns / 1e6;
}

/** RSS of the driver; with BENCH_SNAPSHOT_SIGNAL, also asks it for a heap snapshot (and waits for it). */
async function memory(pid: number): Promise<number> {
  const rss = rssMiB(pid);
  if (SNAPSHOT_SIGNAL) {
    process.kill(pid, SNAPSHOT_SIGNAL);
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  return rss;
}

async function pods(env: NodeEnvironment, count: number, prefix: string): Promise<Pod[]> {
  const out: Pod[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await createPod(env.kube, env.namespace, `${prefix}-${i}`, {
        nodeName: env.nodeName,
        volumes: [{ name: 'secrets', spc: 'bench' }],
      }),
    );
  }
  return out;
}

async function timed(env: NodeEnvironment, prepared: PreparedPublish): Promise<number> {
  const start = process.hrtime.bigint();
  await env.kubelet.sendPublish(prepared);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(): Promise<void> {
  const env = await startNodeEnvironment();
  try {
    env.provider.set('username', 'mamezou-tech', 'v1');
    env.provider.set('password', 'my-super-secret-password', 'v1');
    await createSecretProviderClass(env.kube, env.namespace, 'bench', {
      provider: 'test',
      parameters: { objects: 'username,password' },
    });
    const pid = env.driver.child.pid ?? 0;
    await settle();
    const idleRss = await memory(pid);

    // Warm-up: first connection to the provider, first SPC fetch into the informer.
    const warm = await pods(env, 3, 'warm');
    for (const pod of warm) await env.kubelet.sendPublish(await env.kubelet.preparePublish(pod, 'secrets'));
    await env.kubelet.unpublishAll();

    const sequentialPods = await pods(env, SEQUENTIAL, 'seq');
    const sequential: number[] = [];
    // CPU of each publish alone (from just before it to just before its unpublish), and of the
    // whole publish-unpublish cycles.
    let publishCpu = 0;
    const cycleCpuStart = cpuMs(pid);
    for (const pod of sequentialPods) {
      const prepared = await env.kubelet.preparePublish(pod, 'secrets');
      const before = cpuMs(pid);
      sequential.push(await timed(env, prepared));
      publishCpu += cpuMs(pid) - before;
      await env.kubelet.unpublishVolume(pod, 'secrets');
    }
    await settle();
    const cycleCpu = cpuMs(pid) - cycleCpuStart;

    const concurrentPods = await pods(env, CONCURRENT, 'par');
    const prepared = await Promise.all(
      concurrentPods.map((pod) => env.kubelet.preparePublish(pod, 'secrets')),
    );
    await settle();
    const burstCpuStart = cpuMs(pid);
    const wallStart = Date.now();
    const concurrent = await Promise.all(prepared.map((p) => timed(env, p)));
    const wallMs = Date.now() - wallStart;
    await settle();
    const burstCpu = cpuMs(pid) - burstCpuStart;
    const mounted = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(env.kubeletRoot)).length;
    const loadedRss = await memory(pid);
    let quietRss: number | undefined;
    if (QUIET_MS > 0) {
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
      quietRss = await memory(pid);
    }

    printTable('NodePublishVolume, 2-file volume, test provider answering at once', [
      ['case', 'samples', 'p50 ms', 'p99 ms', 'max ms'],
      [
        '1 pod at a time',
        String(sequential.length),
        percentile(sequential, 50),
        percentile(sequential, 99),
        percentile(sequential, 100),
      ],
      [
        `${CONCURRENT} pods at once`,
        String(concurrent.length),
        percentile(concurrent, 50),
        percentile(concurrent, 99),
        percentile(concurrent, 100),
      ],
    ]);
    printTable('Driver CPU', [
      ['case', 'CPU ms per publish'],
      ['1 pod at a time: the publish', (publishCpu / sequential.length).toFixed(2)],
      ['1 pod at a time: publish and unpublish, with the settle', (cycleCpu / sequential.length).toFixed(2)],
      [`${CONCURRENT} pods at once, with the settle`, (burstCpu / concurrent.length).toFixed(2)],
    ]);
    printTable('Driver memory', [
      ['state', 'RSS MiB'],
      ['idle (after start)', idleRss.toFixed(1)],
      [`${mounted} volumes mounted`, loadedRss.toFixed(1)],
      ...(quietRss === undefined
        ? []
        : [[`${mounted} volumes mounted, ${QUIET_MS / 1000} s later`, quietRss.toFixed(1)]]),
    ]);
    process.stdout.write(`\nwall time for ${CONCURRENT} concurrent publishes: ${wallMs} ms\n`);
  } finally {
    await env.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
