// What CI lints: the article's manifests as the walkthroughs apply them, every manifest under
// examples/, and the YAML blocks of the READMEs that show a class or a pod mounting one.
import {
  PARAMETER_STORE_OBJECTS,
  podManifest,
  SECRETS_MANAGER_OBJECTS,
  serviceAccountManifest,
  spcManifest,
} from '@sscsi/e2e';
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
  it("lint clean: the article's class and pod for Secrets Manager and for Parameter Store with sync", () => {
    const manifests = {
      'secrets-manager.yaml': [
        serviceAccountManifest('sample-app-secrets-manager', 'MySampleAppSecretsManager'),
        spcManifest(SECRETS_MANAGER_OBJECTS),
        podManifest({ serviceAccount: 'sample-app-secrets-manager' }),
      ].join('---\n'),
      'parameter-store.yaml': [
        spcManifest(PARAMETER_STORE_OBJECTS, true),
        podManifest({ serviceAccount: 'sample-app-parameter-store', withSecretVolume: true }),
      ].join('---\n'),
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-lint-article-'));
    try {
      for (const [name, text] of Object.entries(manifests)) fs.writeFileSync(path.join(dir, name), text);
      const out: string[] = [];
      const status = lintFiles([dir], { out: (l) => out.push(l), err: (l) => out.push(l) });
      expect(out).toEqual([]);
      expect(status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lint clean: examples/ and the READMEs', () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    const examples = path.join(ROOT, 'examples');
    if (fs.existsSync(examples)) expect(lintFiles([examples], io)).toBe(0);
    for (const [name, text] of Object.entries(readmeManifests())) {
      expect(
        lintFiles(['-'], { out: (l) => out.push(l.replace('<stdin>', name)), err: io.err }, () => text),
      ).toBe(0);
    }
    expect(out).toEqual([]);
  });
});
