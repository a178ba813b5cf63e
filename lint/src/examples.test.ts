// What CI lints: every manifest under examples/ (the article's, which the walkthroughs apply), the
// article's pods as the lab adapts them, and the YAML blocks of the READMEs that show a class or a
// pod mounting one.
import {
  articleSecretSyncs,
  MANIFESTS,
  podManifest,
  restartedDeployment,
  secretSyncClasses,
} from '@sscsi/demo';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { lintFiles } from './cli';

const ROOT = path.resolve(__dirname, '..', '..');

function readmeManifests(): Record<string, string> {
  const readmes = [
    'README.md',
    ...fs.readdirSync(path.join(ROOT, 'charts')).map((c) => `charts/${c}/README.md`),
  ];
  const found: Record<string, string> = {};
  for (const readme of readmes) {
    const file = path.join(ROOT, readme);
    if (!fs.existsSync(file)) continue;
    const blocks = [...fs.readFileSync(file, 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)];
    blocks.forEach((m, i) => {
      const text = m[1] as string;
      if (/kind: SecretProviderClass|secrets-store\.csi\.k8s\.io/.test(text))
        found[`${readme}#${i + 1}`] = text;
    });
  }
  return found;
}

describe('the repository examples', () => {
  it("lint clean: the article's pods as the walkthroughs apply them on the lab", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-lint-article-'));
    try {
      const stages = Object.entries(MANIFESTS);
      for (const [stage, files] of stages) {
        const text = [fs.readFileSync(path.join(ROOT, 'examples', files.secretProviderClass), 'utf8')];
        text.push(podManifest(files.pod), podManifest(files.pod, 'lab-node'));
        fs.writeFileSync(path.join(dir, `${stage}.yaml`), text.join('---\n'));
      }
      const out: string[] = [];
      const status = lintFiles([dir], { out: (l) => out.push(l), err: (l) => out.push(l) });
      expect(out).toEqual([]);
      expect(status).toBe(0);
      expect(stages.map(([stage]) => stage)).toEqual([
        'secretsManager',
        'parameterStore',
        'syncSecret',
        'templatedFiles',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lint clean: the demo's SecretSyncs and the Deployment that restarts when their Secret rotates", () => {
    const text = [...secretSyncClasses(), ...articleSecretSyncs(), restartedDeployment('lab-node')].join(
      '---\n',
    );
    const out: string[] = [];
    const status = lintFiles(['-'], { out: (l) => out.push(l), err: (l) => out.push(l) }, () => text);
    expect(out).toEqual([]);
    expect(status).toBe(0);
    // Not vacuous: without the SecretSync it reads, the Deployment is never restarted.
    lintFiles(['-'], { out: (l) => out.push(l), err: (l) => out.push(l) }, () =>
      restartedDeployment('lab-node'),
    );
    expect(out).toEqual([expect.stringContaining('so it is never restarted')]);
  });

  it("reports a broken copy of the article's class as file:document: field: problem, with status 1", () => {
    const file = MANIFESTS.secretsManager.secretProviderClass;
    const text = fs.readFileSync(path.join(ROOT, 'examples', file), 'utf8');
    const broken = text.replace('objectType: "secretsmanager"', 'objectType: "secretmanager"');
    expect(broken).not.toBe(text);
    const out: string[] = [];
    const status = lintFiles(['-'], { out: (l) => out.push(l), err: (l) => out.push(l) }, () => broken);
    expect(out).toEqual([
      '<stdin>:1: spec.parameters: object "MyDBSecret": objectType must be "secretsmanager" or "ssmparameter", got "secretmanager"',
    ]);
    expect(status).toBe(1);
  });

  it('lint clean: examples/ and the READMEs', () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    const examples = path.join(ROOT, 'examples');
    // Not vacuous: the linter would pass a folder without manifests.
    const yamlFiles = fs
      .readdirSync(examples, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.yaml'));
    expect(yamlFiles.length).toBeGreaterThanOrEqual(8);
    expect(lintFiles([examples], io)).toBe(0);
    for (const [name, text] of Object.entries(readmeManifests())) {
      expect(
        lintFiles(['-'], { out: (l) => out.push(l.replace('<stdin>', name)), err: io.err }, () => text),
      ).toBe(0);
    }
    expect(out).toEqual([]);
  });
});
