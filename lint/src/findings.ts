// One problem found in one YAML document, and how it is printed: `file:document: field: problem`.

export type Severity = 'error' | 'warning';

export interface Finding {
  file: string;
  /** 1-based position of the document in its file (documents are separated by `---`). */
  document: number;
  /** Where in the document, as a path such as `spec.parameters` or `spec.volumes[0].csi`. */
  field: string;
  message: string;
  /** error: a mount would be refused. warning: accepted, but probably not what was meant. */
  severity: Severity;
}

export function formatFinding(f: Finding): string {
  const problem = f.severity === 'warning' ? `warning: ${f.message}` : f.message;
  return `${f.file}:${f.document}: ${f.field}: ${problem}`;
}
