// YAML files split into their documents, each parsed on its own: a syntax error in one document is
// reported for that document and the others are still checked.
import { parseAllDocuments } from 'yaml';

import type { Finding } from './findings';

/** One document of a file: a Kubernetes object as plain data. */
export interface ManifestDocument {
  file: string;
  /** 1-based position in the file. */
  document: number;
  object: Record<string, unknown>;
}

export function readDocuments(
  file: string,
  text: string,
): { documents: ManifestDocument[]; findings: Finding[] } {
  const documents: ManifestDocument[] = [];
  const findings: Finding[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    const document = index + 1;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        findings.push({
          file,
          document,
          field: '(yaml)',
          message: err.message.split('\n')[0] ?? err.message,
          severity: 'error',
        });
      }
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // an empty document, as after a trailing ---
    if (typeof value !== 'object' || Array.isArray(value)) {
      findings.push({
        file,
        document,
        field: '(document)',
        message: 'is not a Kubernetes object (a YAML mapping)',
        severity: 'error',
      });
      return;
    }
    const object = value as Record<string, unknown>;
    // kubectl's `List` (what `kubectl get -o yaml` prints) holds the objects in `items`.
    if (object.kind === 'List' && Array.isArray(object.items)) {
      for (const item of object.items) {
        if (item && typeof item === 'object' && !Array.isArray(item))
          documents.push({ file, document, object: item as Record<string, unknown> });
      }
      return;
    }
    documents.push({ file, document, object });
  });
  return { documents, findings };
}
