// The files of examples/ as the walkthroughs use them: read as they are, their `${NAME}`
// placeholders filled as examples/README.md tells a user to (envsubst with the list of names), and
// the lab's two changes to the pod (an image the lab has, a node for the kubelet stand-in).
import { REPO_ROOT } from '@sscsi/e2e';
import fs from 'node:fs';
import path from 'node:path';

export const EXAMPLES_DIR = path.join(REPO_ROOT, 'examples');

/** The placeholders the examples use, as envsubst and the README name them. */
export type Placeholder = 'AWS_ACCOUNT_ID' | 'AWS_REGION' | 'OIDC_PROVIDER' | 'NAMESPACE' | 'SERVICE_ACCOUNT';
export type PlaceholderValues = Partial<Record<Placeholder, string>>;

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export class ExampleError extends Error {
  override name = 'ExampleError';
}

/** The path of an example file, relative to the repository (as the demo prints it). */
export function examplePath(file: string): string {
  return path.join('examples', file);
}

export function readExample(file: string): string {
  return fs.readFileSync(path.join(EXAMPLES_DIR, file), 'utf8');
}

/** The names of the `${NAME}` placeholders in a text, each once, in order of appearance. */
export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] as string))];
}

/**
 * What `NAME=value ... envsubst '${NAME} ...'` writes: each named placeholder replaced by its
 * value. Unlike envsubst, a placeholder of the text without a value is an error, not an empty
 * string (an empty account ID makes a policy that allows nothing, silently), unless `partial`.
 */
export function fillPlaceholders(
  text: string,
  values: PlaceholderValues,
  o: { file?: string; partial?: boolean } = {},
): string {
  const missing = placeholdersOf(text).filter((name) => values[name as Placeholder] === undefined);
  if (missing.length > 0 && !o.partial) {
    throw new ExampleError(
      `${o.file ?? 'the text'}: no value for ${missing.map((n) => `\${${n}}`).join(', ')}`,
    );
  }
  return text.replace(PLACEHOLDER, (whole, name: string) => values[name as Placeholder] ?? whole);
}

/** The shell command a user runs for the same result (examples/README.md). */
export function envsubstCommand(file: string, values: PlaceholderValues): string {
  const names = Object.keys(values);
  const assignments = names.map((n) => `${n}=${values[n as Placeholder]}`).join(' ');
  return `${assignments} envsubst '${names.map((n) => `\${${n}}`).join(' ')}' < ${examplePath(file)}`;
}

/** An example file read and filled; its placeholders must all have values. */
export function filledExample(file: string, values: PlaceholderValues): string {
  return fillPlaceholders(readExample(file), values, { file: examplePath(file) });
}

/** The lab's image for the article's alpine:latest: the lab has no registry, only its own busybox. */
export const LAB_IMAGE = 'busybox:lab';

/**
 * A pod manifest of examples/ as the lab runs it: its `image: alpine:latest` replaced by the lab's
 * busybox (never pulled), and, for the kubelet stand-in (no scheduler), bound to a node.
 */
export function forTheLab(manifest: string, o: { nodeName?: string } = {}): string {
  const image = /^( *)image: alpine:latest$/m;
  const match = image.exec(manifest);
  if (!match) throw new ExampleError('the pod manifest has no `image: alpine:latest` line to replace');
  const indent = match[1] as string;
  let out = manifest.replace(
    image,
    `${indent}image: ${LAB_IMAGE}   # the lab has no registry: its own busybox image\n${indent}imagePullPolicy: Never`,
  );
  if (o.nodeName) {
    const account = /^( *)serviceAccountName: .*$/m;
    if (!account.test(out))
      throw new ExampleError('the pod manifest has no serviceAccountName line to bind a node after');
    out = out.replace(
      account,
      (line: string, ind: string) =>
        `${line}\n${ind}nodeName: ${o.nodeName}   # no scheduler for the kubelet stand-in: bound to its node`,
    );
  }
  return out;
}
