// scripts/build-images.sh's archive cache, with a stand-in for buildah that records what it is asked
// and keeps "images" as files: an image is built and saved again only when what it is built from
// changed, a missing or mismatched archive is made again, and two runs at once build each image once.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { REPO_ROOT } from './lab';

const run = promisify(execFile);

const FAKE_BUILDAH = `#!/bin/bash
# Images are files in $FAKE_STATE/images holding an id; every call is appended to $FAKE_STATE/calls.
echo "$*" >>"$FAKE_STATE/calls"
file_of() { echo "$FAKE_STATE/images/$(echo "$1" | tr '/:' '__')"; }
case "$1" in
  info) echo '{}' ;;
  inspect) f=$(file_of "\${@: -1}"); [ -f "$f" ] && cat "$f" ;;
  pull) exit 1 ;;
  bud)
    while [ $# -gt 0 ]; do [ "$1" = -t ] && name=$2; shift; done
    [ -n "$FAKE_FAIL" ] && { echo 'npm error code E404'; exit 1; }
    mkdir -p "$FAKE_STATE/images"
    sleep 0.2
    echo "id-$name-$(date +%s%N)" >"$(file_of "$name")"
    ;;
  push)
    dest=\${@: -1}; out=\${dest#docker-archive:}; out=\${out%%:*}
    cat "$(file_of "$3")" >"$out"
    ;;
  *) exit 2 ;;
esac
`;

const LOCAL_BASE = 'localhost/sscsi-ts/node';
const DRIVER = 'ghcr.io/sscsi-ts/secrets-store-csi-driver:0.1.0';
const PROVIDER = 'ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:0.1.0';
const SYNC_CONTROLLER = 'ghcr.io/sscsi-ts/secrets-store-sync-controller:0.1.0';
const ALL = ['driver', 'provider-aws', 'sync-controller'];

interface Sandbox {
  repo: string;
  state: string;
  archives: string;
  env: NodeJS.ProcessEnv;
}

/** A repository with the script, the files the Dockerfiles copy, and the stand-in buildah. */
function sandbox(): Sandbox {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'build-images-'));
  const repo = path.join(root, 'repo');
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    fs.writeFileSync(path.join(repo, file), text);
  };
  for (const file of ['scripts/build-images.sh', 'e2e/lab/versions.env']) {
    write(file, fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'));
  }
  fs.chmodSync(path.join(repo, 'scripts/build-images.sh'), 0o755);
  write('charts/secrets-store-csi-driver/Chart.yaml', "appVersion: '0.1.0'\n");
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.base.json']) write(file, '{}\n');
  write('scripts/bundle.mjs', '// bundles\n');
  write('scripts/image-root.sh', '# the image root\n');
  for (const ws of ['proto', 'common', 'driver', 'provider-aws', 'sync-controller', 'lint'])
    write(`${ws}/src/index.ts`, `// ${ws}\n`);
  for (const ws of ['driver', 'provider-aws', 'sync-controller']) write(`${ws}/Dockerfile`, 'FROM base\n');
  const bin = path.join(root, 'bin');
  const state = path.join(root, 'state');
  fs.mkdirSync(path.join(state, 'images'), { recursive: true });
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'buildah'), FAKE_BUILDAH, { mode: 0o755 });
  const nodeVersion = /^NODE_VERSION=(.*)$/m.exec(
    fs.readFileSync(path.join(repo, 'e2e/lab/versions.env'), 'utf8'),
  )?.[1];
  setBase(state, `${LOCAL_BASE}:${nodeVersion}-trixie-slim`, 'base-1');
  return {
    repo,
    state,
    archives: path.join(root, 'archives'),
    env: {
      ...process.env,
      PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
      FAKE_STATE: state,
      TMPDIR: root,
      IMAGE_BUILDER: 'buildah',
      NODE_IMAGE: 'local',
      IMAGE_ARCHIVE_DIR: path.join(root, 'archives'),
    },
  };
}

function setBase(state: string, name: string, id: string): void {
  fs.writeFileSync(path.join(state, 'images', name.replace(/[/:]/g, '_')), `${id}\n`);
}

function baseName(s: Sandbox): string {
  const file = fs.readdirSync(path.join(s.state, 'images')).find((f) => f.startsWith('localhost_'));
  return (file ?? '').replace(/^localhost_sscsi-ts_node_/, `${LOCAL_BASE}:`);
}

async function build(s: Sandbox): Promise<string[]> {
  fs.rmSync(path.join(s.state, 'calls'), { force: true });
  await run(path.join(s.repo, 'scripts/build-images.sh'), [], { env: s.env });
  const calls = fs.existsSync(path.join(s.state, 'calls'))
    ? fs.readFileSync(path.join(s.state, 'calls'), 'utf8')
    : '';
  return calls
    .split('\n')
    .filter((c) => c.startsWith('bud '))
    .map((c) =>
      c.includes(DRIVER)
        ? 'driver'
        : c.includes(PROVIDER)
          ? 'provider-aws'
          : c.includes(SYNC_CONTROLLER)
            ? 'sync-controller'
            : c,
    );
}

/** The archive holds the image the builder has under that name now. */
function archiveOf(s: Sandbox, archive: string, image: string): { archive: string; image: string } {
  return {
    archive: fs.readFileSync(path.join(s.archives, `${archive}.tar`), 'utf8'),
    image: fs.readFileSync(path.join(s.state, 'images', image.replace(/[/:]/g, '_')), 'utf8'),
  };
}

const cleanups: string[] = [];
afterAll(() => {
  for (const dir of cleanups) fs.rmSync(dir, { recursive: true, force: true });
});

function newSandbox(): Sandbox {
  const s = sandbox();
  cleanups.push(path.dirname(s.repo));
  return s;
}

describe('scripts/build-images.sh with IMAGE_ARCHIVE_DIR', () => {
  it('builds and saves each image once, then only what changed', async () => {
    const s = newSandbox();
    expect(await build(s)).toEqual(ALL);
    for (const [archive, image] of [
      ['driver', DRIVER],
      ['provider-aws', PROVIDER],
      ['sync-controller', SYNC_CONTROLLER],
    ] as const) {
      const saved = archiveOf(s, archive, image);
      expect(saved.archive).toBe(saved.image);
    }
    expect(await build(s)).toEqual([]);

    fs.appendFileSync(path.join(s.repo, 'driver/Dockerfile'), '# changed\n');
    expect(await build(s)).toEqual(['driver']);
    // What the Dockerfiles leave out (.dockerignore, the tests and testing/) changes nothing.
    fs.writeFileSync(path.join(s.repo, 'driver/src/index.test.ts'), '// a test\n');
    fs.mkdirSync(path.join(s.repo, 'common/src/testing'));
    fs.writeFileSync(path.join(s.repo, 'common/src/testing/fake.ts'), '// a fake\n');
    fs.mkdirSync(path.join(s.repo, 'common/dist'));
    fs.writeFileSync(path.join(s.repo, 'common/dist/index.js'), '');
    fs.mkdirSync(path.join(s.repo, 'provider-aws/node_modules'));
    fs.writeFileSync(path.join(s.repo, 'provider-aws/node_modules/x.js'), '');
    expect(await build(s)).toEqual([]);
    // Shared sources, the base image and the scripts that bundle the programs and gather the
    // images' files change all three. Either program or the linter changes the driver's and the
    // provider's images, which both carry secrets-store-csi-lint, which runs both programs' checks;
    // the sync controller changes its own only.
    fs.appendFileSync(path.join(s.repo, 'common/src/index.ts'), '// changed\n');
    expect(await build(s)).toEqual(ALL);
    for (const ws of ['driver', 'provider-aws', 'lint']) {
      fs.appendFileSync(path.join(s.repo, `${ws}/src/index.ts`), '// changed\n');
      expect(await build(s)).toEqual(['driver', 'provider-aws']);
    }
    fs.appendFileSync(path.join(s.repo, 'sync-controller/src/index.ts'), '// changed\n');
    expect(await build(s)).toEqual(['sync-controller']);
    for (const script of ['scripts/bundle.mjs', 'scripts/image-root.sh']) {
      fs.appendFileSync(path.join(s.repo, script), '# changed\n');
      expect(await build(s)).toEqual(ALL);
    }
    setBase(s.state, baseName(s), 'base-2');
    expect(await build(s)).toEqual(ALL);
    const saved = archiveOf(s, 'driver', DRIVER);
    expect(saved.archive).toBe(saved.image);
  });

  it('makes an archive again when it is missing or its key does not match', async () => {
    const s = newSandbox();
    await build(s);
    fs.rmSync(path.join(s.archives, 'driver.tar'));
    expect(await build(s)).toEqual(['driver']);
    fs.writeFileSync(path.join(s.archives, 'provider-aws.key'), 'something else\n');
    expect(await build(s)).toEqual(['provider-aws']);
    fs.rmSync(path.join(s.archives, 'provider-aws.key'));
    expect(await build(s)).toEqual(['provider-aws']);
    expect(await build(s)).toEqual([]);
    expect(fs.readdirSync(s.archives).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it("fails with the builder's last lines, and saves nothing", async () => {
    const s = newSandbox();
    const log = path.join(path.dirname(s.repo), 'build.log');
    const failed = await run(path.join(s.repo, 'scripts/build-images.sh'), [], {
      env: { ...s.env, FAKE_FAIL: '1', IMAGE_BUILD_LOG: log },
    }).catch((err: { code: number; stderr: string }) => err);
    expect('code' in failed && failed.code).toBe(1);
    expect(failed.stderr).toContain(`building ${DRIVER} failed; the last lines of ${log}:`);
    expect(failed.stderr).toContain('npm error code E404');
    expect(fs.existsSync(s.archives) ? fs.readdirSync(s.archives) : []).toEqual([]);
  });

  it('builds each image once when two runs start at the same time', async () => {
    const s = newSandbox();
    const calls = path.join(s.state, 'calls');
    const both = await Promise.all([
      run(path.join(s.repo, 'scripts/build-images.sh'), [], { env: s.env }),
      run(path.join(s.repo, 'scripts/build-images.sh'), [], { env: s.env }),
    ]);
    expect(both.map((r) => r.stderr).join('')).toMatch(/unchanged since/);
    const builds = fs
      .readFileSync(calls, 'utf8')
      .split('\n')
      .filter((c) => c.startsWith('bud '));
    expect(builds.length).toBe(3);
    const saved = archiveOf(s, 'provider-aws', PROVIDER);
    expect(saved.archive).toBe(saved.image);
  });

  it("names the images it builds, the charts' defaults or IMAGE_REGISTRY and IMAGE_TAG, and builds nothing", async () => {
    const s = newSandbox();
    const names = async (env: NodeJS.ProcessEnv) =>
      (await run(path.join(s.repo, 'scripts/build-images.sh'), ['names'], { env })).stdout;
    expect(await names(s.env)).toBe(`${DRIVER}\n${PROVIDER}\n${SYNC_CONTROLLER}\n`);
    expect(await names({ ...s.env, IMAGE_REGISTRY: 'my.registry/x', IMAGE_TAG: 'dev' })).toBe(
      [
        'my.registry/x/secrets-store-csi-driver:dev',
        'my.registry/x/secrets-store-csi-driver-provider-aws:dev',
        'my.registry/x/secrets-store-sync-controller:dev',
        '',
      ].join('\n'),
    );
    expect(fs.existsSync(path.join(s.state, 'calls'))).toBe(false);
  });
});
