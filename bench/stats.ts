// Small helpers shared by the benchmark scripts: percentiles, RSS of a process, markdown tables.
import fs from 'node:fs';

/** The p-th percentile (nearest rank) of `samples`, formatted with one decimal. */
export function percentile(samples: readonly number[], p: number): string {
  if (samples.length === 0) return '-';
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return (sorted[rank] as number).toFixed(1);
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
