// The article's walkthrough on the lab's real node (make lab-up NODE=1; make test starts it): a
// kubelet with containerd, the charts installed with helm, the AWS provider from its installer, real
// pods, and `kubectl exec` into them. The steps are the ones `make demo NODE=1` prints. Without the
// real node these tests fail and say why; they never pass by skipping. First, the images the node
// runs: the ones built from driver/Dockerfile, provider-aws/Dockerfile and sync-controller/Dockerfile
// (make lab-images), node and the bundled programs with no shell.
import { NodeWalkthrough, transcriptReporter } from '@sscsi/demo';

import { eventually, mustRun, requireLab, uniqueSuffix } from '../src';
import { ContainerLogKeeper } from '../src/container-logs';
import { itRunsEachStep } from './walkthrough-steps';

const lab = requireLab();
const transcript: string[] = [];
let walkthrough: NodeWalkthrough | undefined;
// The containers' logs go with their pods: kept for the log audit.
const containerLogs = new ContainerLogKeeper();

beforeAll(async () => {
  containerLogs.start();
  walkthrough = await NodeWalkthrough.start(lab, transcriptReporter(transcript));
});

afterAll(async () => {
  await walkthrough?.close();
  containerLogs.stop();
});

/**
 * What a container of `image` printed and how it ended, run on the node as its image says (user
 * included); `container` sets its command or arguments.
 */
async function runOnNode(
  image: string,
  container: {
    command?: string[];
    args?: string[];
    securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean };
  },
): Promise<{ phase: string; logs: string }> {
  const name = `image-check-${uniqueSuffix()}`;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: process.env.LAB_NODE_NAME ?? 'lab-node',
      restartPolicy: 'Never',
      containers: [{ name: 'check', image, imagePullPolicy: 'Never', ...container }],
    },
  };
  mustRun(lab, 'kubectl', ['create', '-f', '-'], JSON.stringify(pod));
  try {
    const phase = await eventually(
      `pod ${name} to finish`,
      () => {
        const now = mustRun(lab, 'kubectl', ['get', 'pod', name, '-o', 'jsonpath={.status.phase}']);
        return now === 'Succeeded' || now === 'Failed' ? now : undefined;
      },
      120_000,
      500,
    );
    return { phase, logs: mustRun(lab, 'kubectl', ['logs', name]) };
  } finally {
    mustRun(lab, 'kubectl', ['delete', 'pod', name, '--ignore-not-found', '--wait=true']);
  }
}

/**
 * Run by the image's node (there is nothing else to run): the user it runs as, where the program's
 * and the linter's executables lead (null: no linter), and whether a shell or a package manager is
 * there.
 */
const INSPECT = `
const fs = require('node:fs');
const uid = String(process.getuid());
const user = fs.readFileSync('/etc/passwd', 'utf8').split('\\n').map((l) => l.split(':')).find((f) => f[2] === uid);
const any = (paths) => paths.some((p) => fs.existsSync(p));
console.log(JSON.stringify({
  user: user ? user[0] : uid,
  program: fs.realpathSync('/usr/local/bin/' + process.argv[1]),
  lint: fs.existsSync('/usr/local/bin/secrets-store-csi-lint') ? fs.realpathSync('/usr/local/bin/secrets-store-csi-lint') : null,
  shell: any(['/bin/sh', '/bin/bash', '/usr/bin/sh', '/bin/busybox']),
  packageManager: any(['/usr/bin/apt-get', '/usr/bin/dpkg', '/usr/local/bin/npm', '/usr/local/lib/node_modules']),
}));
`;

describe('the images on the node', () => {
  beforeAll(() => {
    if (process.env.LAB_MODE !== 'node') {
      throw new Error(
        'the lab runs without its real node (LAB_MODE is not "node"): make lab-up NODE=1 (make test starts it)',
      );
    }
  });

  const lint = '/opt/secrets-store-csi-lint/dist/main.js';
  it.each([
    {
      dockerfile: 'driver/Dockerfile',
      image: 'ghcr.io/sscsi-ts/secrets-store-csi-driver:0.1.0',
      program: 'secrets-store-csi-driver',
      version: { version: 'v0.1.0', runtime: 'node' },
      user: 'root',
      lint,
    },
    {
      dockerfile: 'provider-aws/Dockerfile',
      image: 'ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:0.1.0',
      program: 'secrets-store-csi-driver-provider-aws',
      version: { version: 'v0.1.0', runtime: 'node' },
      user: 'secrets-store',
      lint,
      // Its chart's: the image's numeric user satisfies runAsNonRoot.
      securityContext: { runAsNonRoot: true },
    },
    {
      dockerfile: 'sync-controller/Dockerfile',
      image: 'ghcr.io/sscsi-ts/secrets-store-sync-controller:0.1.0',
      program: 'secrets-store-sync-controller',
      version: { BuildVersion: 'v0.1.0' },
      user: 'secrets-store',
      lint: null,
      // Its chart's defaults, but for the user, which the image gives.
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true },
    },
  ])('are built from $dockerfile: node and the bundles only, $program on the PATH, user $user', async (c) => {
    // The image's own entrypoint: node with the program's flags, then the program.
    const version = await runOnNode(c.image, { args: ['--version'], securityContext: c.securityContext });
    if (version.phase !== 'Succeeded')
      throw new Error(`--version ended ${version.phase}, printing:\n${version.logs}`);
    expect(JSON.parse(version.logs)).toMatchObject(c.version);

    const look = await runOnNode(c.image, { command: ['/usr/local/bin/node', '-e', INSPECT, c.program] });
    if (look.phase !== 'Succeeded') throw new Error(`node -e ended ${look.phase}, printing:\n${look.logs}`);
    expect(JSON.parse(look.logs)).toEqual({
      user: c.user,
      program: `/opt/${c.program}/dist/main.js`,
      lint: c.lint,
      shell: false,
      packageManager: false,
    });
  });
});

describe("the article's walkthrough on a real node", () => {
  itRunsEachStep(NodeWalkthrough.titles(), (i) => walkthrough?.steps[i], transcript);
});
