// The pure half of bench/side-by-side.ts: what one run measured (its JSON results), the comparison
// table computed from it (medians over repetitions, ours against upstream's), and the vega-lite
// chart of the rotation latencies. Nothing here reads the lab or a process.
import type { ProcessMemory } from './stats.ts';

export type Implementation = 'upstream' | 'ours';

export const IMPLEMENTATIONS: readonly Implementation[] = ['upstream', 'ours'];

/** One repetition of the driver benchmark, for one driver (the test provider answering at once). */
export interface DriverRepetition {
  impl: Implementation;
  idleRssMiB: number;
  /** RSS with every volume of the burst mounted. */
  burstRssMiB: number;
  /** The split of idleRssMiB and burstRssMiB (absent in results of older runs). */
  idleMemory?: ProcessMemory;
  burstMemory?: ProcessMemory;
  /** NodePublishVolume latencies, one publish at a time. */
  sequentialMs: number[];
  /** Driver CPU (its own and its waited-for children's, e.g. the mount program) per sequential publish. */
  cpuPerPublishMs: number;
  /** The part of cpuPerPublishMs spent in children (absent in results of older runs). */
  childCpuPerPublishMs?: number;
  burstVolumes: number;
  burstWallMs: number;
  burstCpuPerPublishMs: number;
}

/** One repetition of the AWS provider benchmark, for one provider (against the lab's AWS). */
export interface ProviderRepetition {
  impl: Implementation;
  idleRssMiB: number;
  /** RSS after the first mounts of every pod. */
  mountedRssMiB: number;
  /** The split of idleRssMiB and mountedRssMiB (absent in results of older runs). */
  idleMemory?: ProcessMemory;
  mountedMemory?: ProcessMemory;
  pods: number;
  /** First-mount latencies (3 objects), one pod at a time. */
  mountMs: number[];
  /** AssumeRoleWithWebIdentity calls for the first mounts of every pod but the first. */
  stsAfterFirst: number;
  /** AWS calls (every service, as the lab's AWS endpoint counted them) to remount every pod but the first. */
  remountCalls: number;
  remountByOperation: Record<string, number>;
}

export interface RotationRun {
  impl: Implementation;
  /** Value changed in AWS -> file updated on disk, ms. */
  latenciesMs: number[];
  /** Samples that did not see the new value within the deadline. */
  missed: number;
  /** The driver's and the provider's memory, read together once the samples are done (absent in older results). */
  pair?: PairMemory;
}

/** The memory of a driver and its provider running side by side on one node. */
export interface PairMemory {
  driver: ProcessMemory;
  provider: ProcessMemory;
  /**
   * MiB of distinct physical pages mapped by either process: a page both map (node's binary, for
   * ours) counts once, whoever else on the machine maps it too. What the two cost a node on which
   * nothing else maps their files.
   */
  distinct: number;
}

export interface SideBySideResults {
  date: string;
  machine: string;
  node: string;
  /** V8 flags of our driver's and provider's #! lines. */
  oursFlags: { driver: string[]; provider: string[] };
  upstreamVersions: { driver: string; provider: string };
  drivers?: { repetitions: number; sequential: number; burst: number; runs: DriverRepetition[] };
  providers?: { repetitions: number; pods: number; runs: ProviderRepetition[] };
  rotation?: {
    pollInterval: string;
    republishIntervalMs: number;
    samples: number;
    runs: RotationRun[];
  };
}

/** The three sums of a pair that compare with one process's figures. */
export function pairSums(pair: PairMemory): { rss: number; anon: number; pss: number } {
  return {
    rss: pair.driver.rss + pair.provider.rss,
    anon: pair.driver.anon + pair.provider.anon,
    pss: pair.driver.pss + pair.provider.pss,
  };
}

/** Median of `values` (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The p-th percentile (nearest rank) of `values`; NaN for none. */
export function percentileOf(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** ours / upstream as `1.23x`; `-` when either is missing or upstream's is 0. */
export function ratio(ours: number, upstream: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(upstream) || upstream === 0) return '-';
  return `${(ours / upstream).toFixed(2)}x`;
}

/** A figure with the unit and a precision that suits its size. */
export function formatFigure(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '-';
  const digits = Math.abs(value) >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

/** The median over repetitions, with the range when the repetitions differ: `7.4 ms (7.1-8.0)`. */
export function formatSpread(values: readonly number[], unit: string): string {
  if (values.length === 0) return '-';
  const mid = formatFigure(median(values), unit);
  const low = Math.min(...values);
  const high = Math.max(...values);
  if (values.length === 1 || low === high) return mid;
  const digits = Math.abs(high) >= 100 ? 0 : 1;
  return `${mid} (${low.toFixed(digits)}-${high.toFixed(digits)})`;
}

export type Row = [figure: string, upstream: string, ours: string, ratio: string];

function compare<T extends { impl: Implementation }>(
  runs: readonly T[],
  figure: string,
  unit: string,
  of: (run: T) => number,
): Row {
  const values = (impl: Implementation) => runs.filter((r) => r.impl === impl).map(of);
  const upstream = values('upstream');
  const ours = values('ours');
  return [
    figure,
    formatSpread(upstream, unit),
    formatSpread(ours, unit),
    ratio(median(ours), median(upstream)),
  ];
}

/**
 * The split of a process's RSS at one reading, when every repetition read it: its anonymous and
 * file-backed parts and its Pss, e.g. `driver RssAnon idle`.
 */
function memoryRows<T extends { impl: Implementation }>(
  runs: readonly T[],
  who: string,
  when: string,
  of: (run: T) => ProcessMemory | undefined,
): Row[] {
  const memories = runs.map(of);
  if (memories.some((m) => m === undefined)) return [];
  const at = (run: T) => of(run) as ProcessMemory;
  return [
    compare(runs, `${who} RssAnon ${when}`, 'MiB', (r) => at(r).anon),
    compare(runs, `${who} RssFile ${when}`, 'MiB', (r) => at(r).file),
    compare(runs, `${who} Pss ${when} (shared with this machine's Node processes)`, 'MiB', (r) => at(r).pss),
  ];
}

/** The issue's table: one row per figure, medians over the repetitions, ratio ours / upstream. */
export function comparisonRows(results: SideBySideResults): Row[] {
  const rows: Row[] = [];
  const d = results.drivers;
  if (d) {
    rows.push(
      compare(d.runs, 'NodePublishVolume p50, one at a time', 'ms', (r) => median(r.sequentialMs)),
      compare(d.runs, 'driver CPU per publish (one at a time)', 'ms', (r) => r.cpuPerPublishMs),
      ...(d.runs.every((r) => r.childCpuPerPublishMs !== undefined)
        ? [
            compare(
              d.runs,
              'of which child processes (the mount program)',
              'ms',
              (r) => r.childCpuPerPublishMs ?? 0,
            ),
          ]
        : []),
      compare(d.runs, `${d.burst} publishes at once, wall`, 'ms', (r) => r.burstWallMs),
      compare(d.runs, `driver CPU per publish (${d.burst} at once)`, 'ms', (r) => r.burstCpuPerPublishMs),
      compare(d.runs, 'driver RSS idle', 'MiB', (r) => r.idleRssMiB),
      ...memoryRows(d.runs, 'driver', 'idle', (r) => r.idleMemory),
      compare(d.runs, `driver RSS at ${d.burst} volumes`, 'MiB', (r) => r.burstRssMiB),
      ...memoryRows(d.runs, 'driver', `at ${d.burst} volumes`, (r) => r.burstMemory),
    );
  }
  const p = results.providers;
  if (p) {
    rows.push(
      compare(p.runs, 'mount p50 with the AWS provider (3 objects)', 'ms', (r) => median(r.mountMs)),
      compare(p.runs, `STS calls, ${p.pods - 1} pods of one ServiceAccount`, '', (r) => r.stsAfterFirst),
      compare(p.runs, `AWS calls to remount ${p.pods - 1} pods x 3 objects`, '', (r) => r.remountCalls),
      compare(p.runs, `provider RSS after ${p.pods} mounts`, 'MiB', (r) => r.mountedRssMiB),
      ...memoryRows(p.runs, 'provider', `after ${p.pods} mounts`, (r) => r.mountedMemory),
    );
  }
  const rot = results.rotation;
  if (rot) {
    const of = (impl: Implementation) =>
      rot.runs.filter((r) => r.impl === impl).flatMap((r) => r.latenciesMs);
    for (const [name, p] of [
      ['p50', 50],
      ['p90', 90],
      ['max', 100],
    ] as const) {
      const upstream = percentileOf(of('upstream'), p);
      const ours = percentileOf(of('ours'), p);
      rows.push([
        `rotation latency ${name} (poll interval ${rot.pollInterval})`,
        formatFigure(upstream, 'ms'),
        formatFigure(ours, 'ms'),
        ratio(ours, upstream),
      ]);
    }
    if (rot.runs.every((r) => r.pair !== undefined)) {
      const sums = (r: RotationRun) => pairSums(r.pair as PairMemory);
      rows.push(
        compare(rot.runs, 'driver + provider RSS (rotation, 1 volume)', 'MiB', (r) => sums(r).rss),
        compare(rot.runs, 'driver + provider RssAnon', 'MiB', (r) => sums(r).anon),
        compare(
          rot.runs,
          "driver + provider Pss (shared with this machine's Node processes)",
          'MiB',
          (r) => sums(r).pss,
        ),
        compare(rot.runs, 'driver + provider distinct pages', 'MiB', (r) => (r.pair as PairMemory).distinct),
      );
    }
  }
  return rows;
}

/** A markdown table (prettier's column alignment, so that docs/benchmarks.md can take it as is). */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

/**
 * The vega-lite specification of the rotation latency chart: each implementation's empirical
 * distribution (the share of samples at or below a latency), with every sample as a tick below.
 */
export function rotationChartSpec(results: SideBySideResults): Record<string, unknown> {
  const rot = results.rotation;
  if (!rot) throw new Error('the results hold no rotation samples: run the rotation part first');
  const values = rot.runs.flatMap((run) =>
    run.latenciesMs.map((ms) => ({ implementation: run.impl, seconds: ms / 1000 })),
  );
  const x = { field: 'seconds', type: 'quantitative', title: 'value changed in AWS -> file updated (s)' };
  const color = {
    field: 'implementation',
    type: 'nominal',
    scale: { domain: ['upstream', 'ours'], range: ['#7f7f7f', '#1f77b4'] },
    title: null,
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Rotation latency, upstream (driver v1.6.0 + AWS provider) and ours',
      subtitle: `--rotation-poll-interval=${rot.pollInterval}, kubelet republish every ${rot.republishIntervalMs} ms, ${rot.samples} samples each; ${results.date}`,
    },
    data: { values },
    vconcat: [
      {
        width: 560,
        height: 260,
        transform: [
          {
            window: [{ op: 'cume_dist', as: 'share' }],
            sort: [{ field: 'seconds' }],
            groupby: ['implementation'],
          },
        ],
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
        encoding: {
          x,
          y: { field: 'share', type: 'quantitative', title: 'share of samples', axis: { format: '%' } },
          color,
        },
      },
      {
        width: 560,
        height: 60,
        mark: { type: 'tick', thickness: 1.5 },
        encoding: {
          x,
          y: { field: 'implementation', type: 'nominal', title: null, sort: ['upstream', 'ours'] },
          color,
        },
      },
    ],
    config: { font: 'sans-serif', view: { stroke: null } },
  };
}
