// The article's walkthrough on the lab's real node (make lab-up NODE=1; make test starts it): a
// kubelet with containerd, the charts installed with helm, the AWS provider from its installer, real
// pods, and `kubectl exec` into them. The steps are the ones `make demo NODE=1` prints. Without the
// real node these tests fail and say why; they never pass by skipping. First, the images the node
// runs: the ones built from driver/Dockerfile and provider-aws/Dockerfile (make lab-images).
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

/** What a container of `image` printed and how it ended, run on the node as its image says (user included). */
async function runOnNode(image: string, script: string): Promise<{ phase: string; logs: string }> {
  const name = `image-check-${uniqueSuffix()}`;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: process.env.LAB_NODE_NAME ?? 'lab-node',
      restartPolicy: 'Never',
      containers: [{ name: 'check', image, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', script] }],
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

describe('the images on the node', () => {
  beforeAll(() => {
    if (process.env.LAB_MODE !== 'node') {
      throw new Error(
        'the lab runs without its real node (LAB_MODE is not "node"): make lab-up NODE=1 (make test starts it)',
      );
    }
  });

  it.each([
    {
      dockerfile: 'driver/Dockerfile',
      image: 'ghcr.io/sscsi-ts/secrets-store-csi-driver:0.1.0',
      program: 'secrets-store-csi-driver',
      user: 'root',
    },
    {
      dockerfile: 'provider-aws/Dockerfile',
      image: 'ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:0.1.0',
      program: 'secrets-store-csi-driver-provider-aws',
      user: 'secrets-store',
    },
  ])('are built from $dockerfile: Debian with Node.js, $program on the PATH, user $user', async (c) => {
    const { phase, logs } = await runOnNode(
      c.image,
      `. /etc/os-release; echo "os=$ID $VERSION_CODENAME"; echo "user=$(id -un)"; echo "program=$(command -v ${c.program})"; ${c.program} --version`,
    );
    if (phase !== 'Succeeded') throw new Error(`the container ended ${phase}, printing:\n${logs}`);
    const [os, user, program, version] = logs.trim().split('\n');
    // The Dockerfiles' base: node:<version>-trixie-slim, or the lab's stand-in of it.
    expect(os).toBe('os=debian trixie');
    expect(user).toBe(`user=${c.user}`);
    expect(program).toBe(`program=/usr/local/bin/${c.program}`);
    expect(JSON.parse(version ?? '')).toMatchObject({ version: 'v0.1.0', runtime: 'node' });
  });
});

describe("the article's walkthrough on a real node", () => {
  itRunsEachStep(NodeWalkthrough.titles(), (i) => walkthrough?.steps[i], transcript);
});
