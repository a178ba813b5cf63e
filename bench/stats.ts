// Small helpers shared by the benchmark scripts: percentiles, a process's memory, markdown tables.
import fs from 'node:fs';

/** The p-th percentile (nearest rank) of `samples`, formatted with one decimal. */
export function percentile(samples: readonly number[], p: number): string {
  if (samples.length === 0) return '-';
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return (sorted[rank] as number).toFixed(1);
}

/**
 * A process's resident memory as the node pays it, MiB: `rss` = `anon` + `file` (+ shared memory,
 * none here); `anon` cannot be reclaimed without swap; `file` is clean pages of the program's
 * files (for ours, node's binary), which the kernel can drop and reread, held once in the page
 * cache for every process that maps the same file; `pss` charges each page 1/n to each of the n
 * processes mapping it.
 */
export interface ProcessMemory {
  rss: number;
  anon: number;
  file: number;
  pss: number;
}

/**
 * The memory figures of /proc/<pid>/status (VmRSS, RssAnon, RssFile) and of
 * /proc/<pid>/smaps_rollup (Pss), in MiB.
 */
export function parseProcessMemory(status: string, smapsRollup: string): ProcessMemory {
  const kib = (text: string, field: string, file: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`${file} has no ${field} line`);
    return Number(m[1]) / 1024;
  };
  return {
    rss: kib(status, 'VmRSS', 'status'),
    anon: kib(status, 'RssAnon', 'status'),
    file: kib(status, 'RssFile', 'status'),
    pss: kib(smapsRollup, 'Pss', 'smaps_rollup'),
  };
}

/** RSS and its split (anonymous, file-backed, Pss) of a running process, MiB. */
export function processMemory(pid: number): ProcessMemory {
  return parseProcessMemory(
    fs.readFileSync(`/proc/${pid}/status`, 'utf8'),
    fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'),
  );
}

/** Resident set size of a process, in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

export function printTable(title: string, rows: string[][]): void {
  const [head, ...body] = rows;
  if (!head) return;
  const lines = [`\n### ${title}\n`, `| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const row of body) lines.push(`| ${row.join(' | ')} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
