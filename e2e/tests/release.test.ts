// `make release` as a user meets it: the chart repository it writes, served over HTTP on loopback,
// added and installed with the article's own commands (`helm repo add`, `helm repo update`,
// `helm upgrade --install ... --version`), then the installer it writes applied with kubectl; what
// the API server then holds is what the release says.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';

import type { DaemonSetManifest, DeploymentManifest, Manifest } from '../src/charts';
import { labEnv, labTool, parseManifests, run } from '../src/charts';
import { REPO_ROOT, requireLab } from '../src/lab';

const lab = requireLab();
const execFileAsync = promisify(execFile);

/** The version the article installs (`--version 1.2.1`). */
const VERSION = '1.2.1';
const RELEASE_SCRIPT = path.join(REPO_ROOT, 'scripts', 'release.sh');
const NAMESPACE = 'kube-system';
const DRIVER_RELEASE = 'secrets-store-csi-driver';
const CHARTS = [
  'secrets-store-csi-driver',
  'secrets-store-csi-driver-provider-aws',
  'secrets-store-sync-controller',
];

let work: string;
let releaseDir: string;
/** What scripts/release.sh printed. */
let releaseOutput = '';
let server: http.Server;
let repoUrl: string;
/** Paths the chart repository was asked for. */
const requests: string[] = [];
/** helm with its own configuration and cache: a user's repositories are left alone. */
let helmEnv: NodeJS.ProcessEnv;

function release(version: string, dir: string) {
  return run(RELEASE_SCRIPT, [version], {
    env: { ...labEnv(lab), RELEASE_DIR: dir, HELM: path.join(lab.binDir, 'helm') },
  });
}

/** helm, asynchronously: the repository is served from this process while helm runs. */
async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(path.join(lab.binDir, 'helm'), args, { env: helmEnv });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`, {
      cause: err,
    });
  }
}

function kubectlJson<T>(args: string[]): T {
  const result = labTool(lab, 'kubectl', [...args, '-o', 'json']);
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

function uninstall(): void {
  labTool(lab, 'helm', ['uninstall', DRIVER_RELEASE, '--namespace', NAMESPACE, '--wait']);
  const installer = path.join(releaseDir, 'aws-provider-installer.yaml');
  if (fs.existsSync(installer))
    labTool(lab, 'kubectl', ['delete', '-f', installer, '--ignore-not-found', '--wait=true']);
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-release-'));
  releaseDir = path.join(work, 'dist');
  helmEnv = {
    ...labEnv(lab),
    HELM_CONFIG_HOME: path.join(work, 'helm-config'),
    HELM_CACHE_HOME: path.join(work, 'helm-cache'),
    HELM_DATA_HOME: path.join(work, 'helm-data'),
  };
  const made = release(VERSION, releaseDir);
  if (made.status !== 0)
    throw new Error(`scripts/release.sh ${VERSION} failed: ${made.stderr}${made.stdout}`);
  releaseOutput = made.stdout;
  // The repository under /charts, as the article's URL has it.
  server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    const name = url.startsWith('/charts/') ? path.basename(url.slice('/charts/'.length)) : '';
    const file = path.join(releaseDir, 'helm', name);
    if (!name || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': name.endsWith('.yaml') ? 'text/yaml' : 'application/gzip' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  repoUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/charts`;
});

afterAll(async () => {
  if (releaseDir) uninstall();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('make release', () => {
  it('writes the three charts at the version, an index that lists them with their digests, and the installer', () => {
    const index = parseYaml(fs.readFileSync(path.join(releaseDir, 'helm', 'index.yaml'), 'utf8')) as {
      entries: Record<string, Array<{ version: string; appVersion: string; digest: string; urls: string[] }>>;
    };
    expect(Object.keys(index.entries).sort()).toEqual(CHARTS);
    for (const chart of CHARTS) {
      const [entry] = index.entries[chart]!;
      expect(entry).toMatchObject({
        version: VERSION,
        appVersion: VERSION,
        urls: [`${chart}-${VERSION}.tgz`],
      });
      const tgz = fs.readFileSync(path.join(releaseDir, 'helm', `${chart}-${VERSION}.tgz`));
      expect(entry!.digest).toBe(crypto.createHash('sha256').update(tgz).digest('hex'));
    }
    const installer = parseManifests(
      fs.readFileSync(path.join(releaseDir, 'aws-provider-installer.yaml'), 'utf8'),
    );
    const ds = installer.find((o) => o.kind === 'DaemonSet') as DaemonSetManifest;
    const images = [...(ds.spec.template.spec.initContainers ?? []), ...ds.spec.template.spec.containers].map(
      (c) => c.image,
    );
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(new RegExp(`:${VERSION.replace(/\./g, '\\.')}$`));
  });

  it("packages the sync controller's chart with its image, both CRDs and an AWS example of the release's version", () => {
    const tgz = path.join(releaseDir, 'helm', `secrets-store-sync-controller-${VERSION}.tgz`);
    const files = run('tar', ['-tzf', tgz]);
    expect(files.status).toBe(0);
    expect(
      files.stdout
        .split('\n')
        .filter((f) => f.includes('/crds/'))
        .sort(),
    ).toEqual([
      'secrets-store-sync-controller/crds/secret-sync.x-k8s.io_secretsyncs.yaml',
      'secrets-store-sync-controller/crds/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml',
    ]);
    const rendered = parseManifests(
      labTool(lab, 'helm', ['template', 'secrets-store-sync-controller', tgz, '--kube-version', '1.34.4'])
        .stdout,
    );
    const deployment = rendered.find((o) => o.kind === 'Deployment') as DeploymentManifest;
    expect(deployment.spec.template.spec.containers.map((c) => c.image)).toEqual([
      `ghcr.io/sscsi-ts/secrets-store-sync-controller:${VERSION}`,
    ]);
    const example = parseYaml(
      run('tar', ['-xzOf', tgz, 'secrets-store-sync-controller/examples/aws-provider-sidecar.yaml']).stdout,
    ) as { providerContainer: Array<{ image: string }> };
    expect(example.providerContainer.map((c) => c.image)).toEqual([
      `ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:${VERSION}`,
    ]);
  });

  it('names the program images its charts and installer run, which scripts/build-images.sh builds at the version', () => {
    const listed =
      releaseOutput
        .split(/^images the charts run .*$/m)[1]
        ?.trim()
        .split(/\s+/) ?? [];
    const imagesOf = (objects: Manifest[]) =>
      objects
        .filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment')
        .flatMap((o) => {
          const pod = (o as DaemonSetManifest).spec.template.spec;
          return [...(pod.initContainers ?? []), ...pod.containers].map((c) => c.image);
        });
    const run = [
      ...CHARTS.flatMap((chart) =>
        imagesOf(
          parseManifests(
            labTool(lab, 'helm', [
              'template',
              chart,
              path.join(releaseDir, 'helm', `${chart}-${VERSION}.tgz`),
              '--kube-version',
              '1.34.4',
            ]).stdout,
          ),
        ),
      ),
      ...imagesOf(
        parseManifests(fs.readFileSync(path.join(releaseDir, 'aws-provider-installer.yaml'), 'utf8')),
      ),
    ];
    // The sidecars the driver chart runs are Kubernetes' own (registry.k8s.io).
    const ours = [...new Set(run.filter((image) => image.startsWith('ghcr.io/sscsi-ts/')))].sort();
    expect(ours).toEqual([
      `ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:${VERSION}`,
      `ghcr.io/sscsi-ts/secrets-store-csi-driver:${VERSION}`,
      `ghcr.io/sscsi-ts/secrets-store-sync-controller:${VERSION}`,
    ]);
    expect([...listed].sort()).toEqual(ours);
  });

  it.each(['', '1.2', 'v1.2.1', '1.2.1 '])(
    'refuses the version %j, saying how to call it, and writes nothing',
    (version) => {
      const dir = path.join(work, 'refused');
      const result = release(version, dir);
      expect(result.status).toBe(2);
      expect(result.stderr).toBe(
        `release: the version must be a semantic version such as 1.2.3, got '${version}': make release VERSION=1.2.3\n`,
      );
      expect(fs.existsSync(dir)).toBe(false);
    },
  );

  it("installs from the served repository with the article's commands, and the installer with kubectl", async () => {
    // The article, verbatim but for the repository's address.
    await helm(['repo', 'add', 'secrets-store-csi-driver', repoUrl]);
    await helm(['repo', 'update']);
    expect(requests).toContain('/charts/index.yaml');
    const found = JSON.parse(
      await helm(['search', 'repo', 'secrets-store-csi-driver', '--versions', '-o', 'json']),
    ) as Array<{
      name: string;
      version: string;
    }>;
    expect(found).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'secrets-store-csi-driver/secrets-store-csi-driver',
          version: VERSION,
        }),
        expect.objectContaining({
          name: 'secrets-store-csi-driver/secrets-store-csi-driver-provider-aws',
          version: VERSION,
        }),
        expect.objectContaining({
          name: 'secrets-store-csi-driver/secrets-store-sync-controller',
          version: VERSION,
        }),
      ]),
    );
    await helm([
      'upgrade',
      '--install',
      DRIVER_RELEASE,
      'secrets-store-csi-driver/secrets-store-csi-driver',
      '--namespace',
      NAMESPACE,
      '--version',
      VERSION,
      '--set',
      'syncSecret.enabled=true',
      '--set',
      'enableSecretRotation=true',
      '--wait',
      '--timeout',
      '2m',
    ]);
    expect(requests).toContain(`/charts/secrets-store-csi-driver-${VERSION}.tgz`);
    const releases = JSON.parse(await helm(['list', '--namespace', NAMESPACE, '-o', 'json'])) as Array<{
      name: string;
      chart: string;
      app_version: string;
      status: string;
    }>;
    expect(releases.find((r) => r.name === DRIVER_RELEASE)).toMatchObject({
      chart: `secrets-store-csi-driver-${VERSION}`,
      app_version: VERSION,
      status: 'deployed',
    });
    // What the API server holds: the DaemonSet of that chart version, the article's options on.
    const { items } = kubectlJson<{ items: DaemonSetManifest[] }>([
      'get',
      'daemonset',
      '--namespace',
      NAMESPACE,
      '-l',
      'app.kubernetes.io/name=secrets-store-csi-driver',
    ]);
    expect(items).toHaveLength(1);
    const driver = items[0]!;
    expect(driver.metadata.labels?.['helm.sh/chart']).toBe(`secrets-store-csi-driver-${VERSION}`);
    const main = driver.spec.template.spec.containers.find((c) => c.name === 'secrets-store');
    expect(main?.image).toMatch(new RegExp(`:${VERSION.replace(/\./g, '\\.')}$`));
    expect(main?.args).toEqual(expect.arrayContaining(['--enable-secret-rotation=true']));
    const csiDriver = kubectlJson<Manifest & { spec: { requiresRepublish?: boolean } }>([
      'get',
      'csidriver',
      'secrets-store.csi.k8s.io',
    ]);
    expect(csiDriver.spec.requiresRepublish).toBe(true);

    // The article's second command, with the installer of the same release.
    const applied = labTool(lab, 'kubectl', [
      'apply',
      '-f',
      path.join(releaseDir, 'aws-provider-installer.yaml'),
    ]);
    expect({ status: applied.status, stderr: applied.stderr }).toEqual({ status: 0, stderr: '' });
    const provider = kubectlJson<DaemonSetManifest>([
      'get',
      'daemonset',
      'csi-secrets-store-provider-aws',
      '--namespace',
      NAMESPACE,
    ]);
    expect(provider.spec.template.spec.containers[0]?.image).toMatch(
      new RegExp(`:${VERSION.replace(/\./g, '\\.')}$`),
    );

    uninstall();
    expect(
      labTool(lab, 'kubectl', ['get', 'daemonset', '--namespace', NAMESPACE, DRIVER_RELEASE]).status,
    ).not.toBe(0);
    expect(
      labTool(lab, 'kubectl', [
        'get',
        'daemonset',
        '--namespace',
        NAMESPACE,
        'csi-secrets-store-provider-aws',
      ]).status,
    ).not.toBe(0);
  });
});
