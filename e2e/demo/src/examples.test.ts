// examples/ as the walkthroughs read it: placeholders filled as envsubst fills them (but refusing a
// missing value), every placeholder one the README documents, and the lab's changes to the pod.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { MANIFESTS, SECRETS_MANAGER_POLICY } from './article';
import type { Placeholder } from './examples';
import {
  envsubstCommand,
  EXAMPLES_DIR,
  ExampleError,
  fillPlaceholders,
  forTheLab,
  LAB_IMAGE,
  placeholdersOf,
  readExample,
} from './examples';

const DOCUMENTED: Placeholder[] = [
  'AWS_ACCOUNT_ID',
  'AWS_REGION',
  'OIDC_PROVIDER',
  'NAMESPACE',
  'SERVICE_ACCOUNT',
];

const exampleFiles = () =>
  fs
    .readdirSync(EXAMPLES_DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(json|ya?ml)$/.test(f))
    .sort();

describe('fillPlaceholders', () => {
  it('replaces each named placeholder and leaves the rest of the text as it is', () => {
    expect(
      fillPlaceholders('arn:aws:iam::${AWS_ACCOUNT_ID}:role/x $HOME ${AWS_ACCOUNT_ID}', {
        AWS_ACCOUNT_ID: '111122223333',
      }),
    ).toBe('arn:aws:iam::111122223333:role/x $HOME 111122223333');
  });

  it('refuses a placeholder without a value, naming the file and every missing name', () => {
    const fill = () =>
      fillPlaceholders('${OIDC_PROVIDER}:sub ${NAMESPACE} ${OIDC_PROVIDER}', {}, { file: 'examples/x.json' });
    expect(fill).toThrow(ExampleError);
    expect(fill).toThrow('examples/x.json: no value for ${OIDC_PROVIDER}, ${NAMESPACE}');
  });

  it('leaves placeholders without a value when asked for a partial fill', () => {
    expect(
      fillPlaceholders('${NAMESPACE}:${SERVICE_ACCOUNT}', { NAMESPACE: 'default' }, { partial: true }),
    ).toBe('default:${SERVICE_ACCOUNT}');
  });

  // The documented command is envsubst (Debian's gettext-base); where it is not installed there is
  // nothing to compare with.
  const hasEnvsubst = spawnSync('envsubst', ['--version']).status === 0;
  (hasEnvsubst ? it : it.skip)('writes what the documented envsubst command writes', () => {
    const { file, values } = SECRETS_MANAGER_POLICY;
    const run = spawnSync(
      'envsubst',
      [
        Object.keys(values)
          .map((n) => `\${${n}}`)
          .join(' '),
      ],
      {
        input: readExample(file),
        env: { PATH: process.env.PATH, ...values },
        encoding: 'utf8',
      },
    );
    expect(run.status).toBe(0);
    expect(SECRETS_MANAGER_POLICY.json).toBe(run.stdout);
    expect(envsubstCommand(file, values)).toBe(
      "AWS_ACCOUNT_ID=123456789012 AWS_REGION=ap-northeast-1 envsubst '${AWS_ACCOUNT_ID} ${AWS_REGION}' < examples/iam/secrets-manager-policy.json",
    );
  });
});

describe('the files of examples/', () => {
  it('use only the placeholders examples/README.md documents, and each IAM document is JSON once filled', () => {
    const readme = fs.readFileSync(path.join(EXAMPLES_DIR, 'README.md'), 'utf8');
    for (const name of DOCUMENTED) expect(readme).toContain(`\${${name}}`);
    const used = new Set<string>();
    for (const file of exampleFiles()) {
      const text = readExample(file);
      for (const name of placeholdersOf(text)) used.add(name);
      if (file.endsWith('.json')) {
        const values = Object.fromEntries(DOCUMENTED.map((n) => [n, `value-of-${n}`]));
        expect(() => JSON.parse(fillPlaceholders(text, values)) as unknown).not.toThrow();
      }
    }
    expect([...used].sort()).toEqual([...DOCUMENTED].sort());
  });

  it('hold every manifest the walkthroughs apply', () => {
    const files = Object.values(MANIFESTS).flatMap((stage) => Object.values(stage) as string[]);
    for (const file of files) expect(exampleFiles()).toContain(file);
  });
});

describe('forTheLab', () => {
  const pod = readExample(MANIFESTS.secretsManager.pod);

  it("replaces the article's image by the lab's, never pulled, and changes nothing else", () => {
    const lab = forTheLab(pod);
    expect(lab).not.toContain('alpine:latest');
    expect(lab).toContain(`      image: ${LAB_IMAGE}`);
    expect(lab).toContain('      imagePullPolicy: Never');
    const changed = lab.split('\n').filter((line) => !pod.split('\n').includes(line));
    expect(changed.map((l) => l.trim().split(':')[0])).toEqual(['image', 'imagePullPolicy']);
  });

  it('binds the pod to a node for the kubelet stand-in', () => {
    expect(forTheLab(pod, { nodeName: 'demo-node' })).toMatch(
      /\n {2}serviceAccountName: sample-app-secrets-manager\n {2}nodeName: demo-node /,
    );
  });

  it('says so when a manifest has no image to replace', () => {
    expect(() => forTheLab(pod.replace('alpine:latest', 'alpine:3.20'))).toThrow(
      'the pod manifest has no `image: alpine:latest` line to replace',
    );
  });
});
