// The built executable through its bin link, as `npx secrets-store-csi-lint` or a CI step runs it
// (in the lab project: it needs the build that `make test-lab` makes, not the lab itself).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const EXE = path.join(ROOT, 'node_modules', '.bin', 'secrets-store-csi-lint');
// The Node.js the tests run on first on PATH: the link's `#!/usr/bin/env node` picks it.
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` };

const CLASS = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: db
spec:
  provider: aws
  parameters:
    objects: |
      - objectName: "MyDBSecret"
        objectType: "OBJECT_TYPE"
`;

describe('secrets-store-csi-lint (built)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-lint-bin-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and prints nothing for a class a mount accepts', () => {
    const file = path.join(dir, 'good.yaml');
    fs.writeFileSync(file, CLASS.replace('OBJECT_TYPE', 'secretsmanager'));
    const run = spawnSync(EXE, [file], { env, encoding: 'utf8' });
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
      status: 0,
      stdout: '',
      stderr: '',
    });
  });

  it('exits 1 with one line per problem for a class a mount refuses, also from stdin', () => {
    const text = CLASS.replace('OBJECT_TYPE', 'secretmanager');
    const run = spawnSync(EXE, ['-'], { env, encoding: 'utf8', input: text });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe(
      '<stdin>:1: spec.parameters: object "MyDBSecret": objectType must be "secretsmanager" or "ssmparameter", got "secretmanager"\n',
    );
    expect(run.stderr).toBe('');
  });
});
