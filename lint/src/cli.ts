// The command: which files, what is printed, and the exit status (0 clean or warnings only, 1 a
// mount would be refused, 2 the command itself was used wrongly or a file cannot be read).
import fs from 'node:fs';
import path from 'node:path';

import type { ManifestDocument } from './documents';
import { readDocuments } from './documents';
import type { Finding } from './findings';
import { formatFinding } from './findings';
import { lintDocuments } from './lint';

export const USAGE = `usage: secrets-store-csi-lint FILE|DIR|- ...

Checks SecretProviderClasses, and the Pods, Deployments and other workloads that mount them through
secrets-store.csi.k8s.io, as the driver and the AWS provider would at mount time. No cluster and no
AWS needed. A directory is searched for *.yaml and *.yml files; - reads stdin.
Prints file:document: field: problem; exits 1 when a mount would be refused, 0 otherwise.`;

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

function yamlFilesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Lints `args` (files, directories, `-`); returns the exit status. */
export function lintFiles(
  args: readonly string[],
  output: Output,
  readStdin = () => fs.readFileSync(0, 'utf8'),
): number {
  if (args.length === 0 || args.includes('-h') || args.includes('--help')) {
    (args.length === 0 ? output.err : output.out)(USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const documents: ManifestDocument[] = [];
  const findings: Finding[] = [];
  const fileOrder = new Map<string, number>();
  for (const arg of args) {
    let files: { name: string; read: () => string }[];
    try {
      files =
        arg === '-'
          ? [{ name: '<stdin>', read: readStdin }]
          : fs.statSync(arg).isDirectory()
            ? yamlFilesUnder(arg).map((f) => ({ name: f, read: () => fs.readFileSync(f, 'utf8') }))
            : [{ name: arg, read: () => fs.readFileSync(arg, 'utf8') }];
      for (const file of files) {
        fileOrder.set(file.name, fileOrder.size);
        const read = readDocuments(file.name, file.read());
        documents.push(...read.documents);
        findings.push(...read.findings);
      }
    } catch (err) {
      output.err(
        `secrets-store-csi-lint: cannot read ${arg}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
      return 2;
    }
  }
  findings.push(...lintDocuments(documents));
  // In the order of the files and of their documents (a stable sort keeps each document's order).
  findings.sort(
    (a, b) => (fileOrder.get(a.file) ?? 0) - (fileOrder.get(b.file) ?? 0) || a.document - b.document,
  );
  for (const f of findings) output.out(formatFinding(f));
  return findings.some((f) => f.severity === 'error') ? 1 : 0;
}
