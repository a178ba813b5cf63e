// Tests of the side-by-side report's pure helpers: `node --test bench/side-by-side-report.test.ts`
// (jest's projects do not include bench/, whose scripts run as Node's own TypeScript).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type {
  DriverRepetition,
  ProviderRepetition,
  RotationRun,
  SideBySideResults,
} from './side-by-side-report.ts';
import {
  comparisonRows,
  formatSpread,
  markdownTable,
  median,
  percentileOf,
  ratio,
  rotationChartSpec,
} from './side-by-side-report.ts';
import type { ProcessMemory } from './stats.ts';
import { parseProcessMemory } from './stats.ts';

const base: SideBySideResults = {
  date: '2026-12-01',
  machine: '2 cores',
  node: 'Node.js 24',
  oursFlags: { driver: ['--lite-mode'], provider: ['--lite-mode'] },
  upstreamVersions: { driver: 'v1.6.0', provider: '3.1.1' },
};

function driverRun(impl: 'ours' | 'upstream', p50: number, cpu: number, rss: number): DriverRepetition {
  return {
    impl,
    idleRssMiB: rss,
    burstRssMiB: rss + 10,
    sequentialMs: [p50 - 1, p50, p50 + 5],
    cpuPerPublishMs: cpu,
    burstVolumes: 110,
    burstWallMs: 1000,
    burstCpuPerPublishMs: cpu,
  };
}

/** Memory whose RSS is `anon` + `file`, MiB. */
const memory = (anon: number, file: number, pss: number): ProcessMemory => ({
  rss: anon + file,
  anon,
  file,
  pss,
});

describe('parseProcessMemory', () => {
  const status = [
    'Name:\tnode',
    'VmRSS:\t   81920 kB',
    'RssAnon:\t   46080 kB',
    'RssFile:\t   35840 kB',
    'RssShmem:\t       0 kB',
  ].join('\n');
  const rollup = ['Rss:               81920 kB', 'Pss:               58368 kB', 'Pss_Anon:   46080 kB'].join(
    '\n',
  );

  it('reads RSS, its anonymous and file-backed parts, and Pss, in MiB', () => {
    assert.deepEqual(parseProcessMemory(status, rollup), { rss: 80, anon: 45, file: 35, pss: 57 });
  });

  it('names the line it did not find', () => {
    assert.throws(
      () => parseProcessMemory(status.replace(/^RssFile.*$/m, ''), rollup),
      /status has no RssFile line/,
    );
    assert.throws(() => parseProcessMemory(status, 'Rss: 1 kB'), /smaps_rollup has no Pss line/);
  });
});

describe('median and percentiles', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('does not reorder the caller’s samples', () => {
    const samples = [3, 1, 2];
    median(samples);
    percentileOf(samples, 50);
    assert.deepEqual(samples, [3, 1, 2]);
  });

  it('takes percentiles by nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentileOf(samples, 50), 50);
    assert.equal(percentileOf(samples, 90), 90);
    assert.equal(percentileOf(samples, 100), 100);
    assert.equal(percentileOf([7], 1), 7);
  });
});

describe('ratio', () => {
  it('is ours over upstream', () => {
    assert.equal(ratio(3, 2), '1.50x');
    assert.equal(ratio(0, 29), '0.00x');
  });

  it('says nothing when a side is missing or upstream is zero', () => {
    assert.equal(ratio(1, 0), '-');
    assert.equal(ratio(Number.NaN, 2), '-');
    assert.equal(ratio(2, Number.NaN), '-');
  });
});

describe('formatSpread', () => {
  it('gives the median and the range of differing repetitions', () => {
    assert.equal(formatSpread([7.1, 8.04, 7.4], 'ms'), '7.4 ms (7.1-8.0)');
    assert.equal(formatSpread([29, 29, 29], ''), '29');
    assert.equal(formatSpread([], 'ms'), '-');
  });
});

describe('comparisonRows', () => {
  it('compares the medians of the repetitions of each side', () => {
    const rows = comparisonRows({
      ...base,
      drivers: {
        repetitions: 3,
        sequential: 3,
        burst: 110,
        runs: [
          driverRun('upstream', 8, 3, 44),
          driverRun('ours', 10, 6, 70),
          driverRun('upstream', 7, 3.2, 45),
          driverRun('ours', 12, 7, 72),
          driverRun('upstream', 9, 3.4, 46),
          driverRun('ours', 11, 6.5, 71),
        ],
      },
    });
    const p50 = rows.find((r) => r[0] === 'NodePublishVolume p50, one at a time');
    assert.deepEqual(p50, [
      'NodePublishVolume p50, one at a time',
      '8 ms (7.0-9.0)',
      '11 ms (10.0-12.0)',
      '1.38x',
    ]);
    const idle = rows.find((r) => r[0] === 'driver RSS idle');
    assert.deepEqual(idle, ['driver RSS idle', '45 MiB (44.0-46.0)', '71 MiB (70.0-72.0)', '1.58x']);
  });

  it('shows the CPU of child processes only when every repetition measured it', () => {
    const child = 'of which child processes (the mount program)';
    const runs = [driverRun('upstream', 8, 6, 40), driverRun('ours', 9, 5, 70)];
    const drivers = { repetitions: 1, sequential: 3, burst: 110 };
    const without = comparisonRows({ ...base, drivers: { ...drivers, runs } });
    assert.equal(
      without.find((r) => r[0] === child),
      undefined,
    );
    const withChildren = comparisonRows({
      ...base,
      drivers: {
        ...drivers,
        runs: runs.map((r) => ({ ...r, childCpuPerPublishMs: r.impl === 'upstream' ? 2.5 : 0 })),
      },
    });
    assert.deepEqual(
      withChildren.find((r) => r[0] === child),
      [child, '2.5 ms', '0 ms', '0.00x'],
    );
  });

  it('names the provider rows after the pods that were measured', () => {
    const run = (impl: 'ours' | 'upstream', sts: number, calls: number): ProviderRepetition => ({
      impl,
      idleRssMiB: 40,
      mountedRssMiB: 50,
      pods: 30,
      mountMs: [20],
      stsAfterFirst: sts,
      remountCalls: calls,
      remountByOperation: {},
    });
    const rows = comparisonRows({
      ...base,
      providers: { repetitions: 1, pods: 30, runs: [run('upstream', 29, 87), run('ours', 0, 2)] },
    });
    assert.deepEqual(
      rows.map((r) => r[0]),
      [
        'mount p50 with the AWS provider (3 objects)',
        'STS calls, 29 pods of one ServiceAccount',
        'AWS calls to remount 29 pods x 3 objects',
        'provider RSS after 30 mounts',
      ],
    );
    assert.deepEqual(rows[1], ['STS calls, 29 pods of one ServiceAccount', '29', '0', '0.00x']);
    assert.deepEqual(rows[2], ['AWS calls to remount 29 pods x 3 objects', '87', '2', '0.02x']);
  });

  it('splits each RSS reading into RssAnon, RssFile and Pss when every repetition read them', () => {
    const withMemory = (run: DriverRepetition, idle: ProcessMemory, burst: ProcessMemory) => ({
      ...run,
      idleRssMiB: idle.rss,
      burstRssMiB: burst.rss,
      idleMemory: idle,
      burstMemory: burst,
    });
    const runs = [
      withMemory(driverRun('upstream', 8, 3, 0), memory(30, 8, 34), memory(44, 8, 48)),
      withMemory(driverRun('ours', 9, 3, 0), memory(36, 34, 50), memory(46, 34, 60)),
      withMemory(driverRun('ours', 9, 3, 0), memory(38, 34, 52), memory(48, 34, 62)),
    ];
    const drivers = { repetitions: 2, sequential: 3, burst: 110 };
    const names = (rows: string[][]) => rows.map((r) => r[0]).filter((n) => /RSS|Rss|Pss/.test(n ?? ''));
    assert.deepEqual(names(comparisonRows({ ...base, drivers: { ...drivers, runs } })), [
      'driver RSS idle',
      'driver RssAnon idle',
      'driver RssFile idle',
      "driver Pss idle (shared with this machine's Node processes)",
      'driver RSS at 110 volumes',
      'driver RssAnon at 110 volumes',
      'driver RssFile at 110 volumes',
      "driver Pss at 110 volumes (shared with this machine's Node processes)",
    ]);
    const rows = comparisonRows({ ...base, drivers: { ...drivers, runs } });
    assert.deepEqual(
      rows.find((r) => r[0] === 'driver RssAnon at 110 volumes'),
      ['driver RssAnon at 110 volumes', '44 MiB', '47 MiB (46.0-48.0)', '1.07x'],
    );
    assert.deepEqual(
      rows.find((r) => r[0] === 'driver RssFile idle'),
      ['driver RssFile idle', '8 MiB', '34 MiB', '4.25x'],
    );
    // A repetition of an older run without the split: no split rows rather than a half-empty median.
    const older = [...runs, driverRun('upstream', 8, 3, 40)];
    assert.deepEqual(names(comparisonRows({ ...base, drivers: { ...drivers, runs: older } })), [
      'driver RSS idle',
      'driver RSS at 110 volumes',
    ]);
  });

  it('splits the provider RSS after the mounts the same way', () => {
    const run = (impl: 'ours' | 'upstream', mounted: ProcessMemory): ProviderRepetition => ({
      impl,
      idleRssMiB: 40,
      mountedRssMiB: mounted.rss,
      mountedMemory: mounted,
      pods: 30,
      mountMs: [20],
      stsAfterFirst: 0,
      remountCalls: 2,
      remountByOperation: {},
    });
    const rows = comparisonRows({
      ...base,
      providers: {
        repetitions: 1,
        pods: 30,
        runs: [run('upstream', memory(11, 29, 40)), run('ours', memory(35, 45, 45))],
      },
    });
    assert.deepEqual(rows.slice(3), [
      ['provider RSS after 30 mounts', '40 MiB', '80 MiB', '2.00x'],
      ['provider RssAnon after 30 mounts', '11 MiB', '35 MiB', '3.18x'],
      ['provider RssFile after 30 mounts', '29 MiB', '45 MiB', '1.55x'],
      [
        "provider Pss after 30 mounts (shared with this machine's Node processes)",
        '40 MiB',
        '45 MiB',
        '1.13x',
      ],
    ]);
  });

  it('adds the pair of driver and provider: summed RSS, RssAnon and Pss, and their distinct pages', () => {
    const run = (impl: 'ours' | 'upstream', pair: RotationRun['pair']): RotationRun => ({
      impl,
      latenciesMs: [1000],
      missed: 0,
      pair,
    });
    const rotation = { pollInterval: '2s', republishIntervalMs: 1000, samples: 1 };
    const rows = comparisonRows({
      ...base,
      rotation: {
        ...rotation,
        runs: [
          run('upstream', { driver: memory(30, 10, 40), provider: memory(25, 10, 35), distinct: 75 }),
          run('ours', { driver: memory(40, 35, 55), provider: memory(45, 35, 60), distinct: 120 }),
        ],
      },
    });
    assert.deepEqual(rows.slice(3), [
      ['driver + provider RSS (rotation, 1 volume)', '75 MiB', '155 MiB', '2.07x'],
      ['driver + provider RssAnon', '55 MiB', '85 MiB', '1.55x'],
      ["driver + provider Pss (shared with this machine's Node processes)", '75 MiB', '115 MiB', '1.53x'],
      ['driver + provider distinct pages', '75 MiB', '120 MiB', '1.60x'],
    ]);
    const withoutPair = comparisonRows({
      ...base,
      rotation: { ...rotation, runs: [run('upstream', undefined), run('ours', undefined)] },
    });
    assert.equal(withoutPair.length, 3);
  });

  it('gives rotation percentiles over every sample of a side', () => {
    const rows = comparisonRows({
      ...base,
      rotation: {
        pollInterval: '2s',
        republishIntervalMs: 1000,
        samples: 4,
        runs: [
          { impl: 'upstream', latenciesMs: [1000, 2000, 3000, 4000], missed: 0 },
          { impl: 'ours', latenciesMs: [500, 1000, 1500, 2000], missed: 0 },
        ],
      },
    });
    assert.deepEqual(rows[0], ['rotation latency p50 (poll interval 2s)', '2000 ms', '1000 ms', '0.50x']);
    assert.deepEqual(rows[2], ['rotation latency max (poll interval 2s)', '4000 ms', '2000 ms', '0.50x']);
  });

  it('leaves out the parts that did not run', () => {
    assert.deepEqual(comparisonRows(base), []);
  });
});

describe('markdownTable', () => {
  it('pads every column to its widest cell', () => {
    assert.equal(
      markdownTable(['a', 'figure'], [['long cell', 'x']]),
      ['| a         | figure |', '| --------- | ------ |', '| long cell | x      |'].join('\n'),
    );
  });
});

describe('rotationChartSpec', () => {
  it('plots every sample, in seconds, by implementation', () => {
    const spec = rotationChartSpec({
      ...base,
      rotation: {
        pollInterval: '2s',
        republishIntervalMs: 1000,
        samples: 2,
        runs: [
          { impl: 'upstream', latenciesMs: [1500, 2500], missed: 0 },
          { impl: 'ours', latenciesMs: [500], missed: 1 },
        ],
      },
    });
    assert.deepEqual((spec.data as { values: unknown[] }).values, [
      { implementation: 'upstream', seconds: 1.5 },
      { implementation: 'upstream', seconds: 2.5 },
      { implementation: 'ours', seconds: 0.5 },
    ]);
  });

  it('refuses results without rotation samples', () => {
    assert.throws(() => rotationChartSpec(base), /no rotation samples/);
  });
});
