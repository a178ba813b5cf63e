// Pods on the lab's real node, as a user runs them: created with kubectl, scheduled and started by
// the real kubelet, read through `kubectl exec`. For the tests that check a claim on the kubelet
// itself rather than on the stand-in (e2e/src/kubelet-standin.ts).
import { DRIVER_NAME } from './kubelet-standin';
import type { Lab } from './lab';
import { kubectlAsync, kubectlStatus, mountsUnder } from './cluster';
import type { MountEntry } from './cluster';

/** The kubelet's root folder on the lab's node (e2e/lab/lab.sh). */
export const KUBELET_ROOT = '/var/lib/kubelet';

/** The node's AWS endpoint and region, or a failure that says the real node is needed. */
export function requireRealNode(what: string): { awsEndpoint: string; region: string; containerd: string } {
  const awsEndpoint = process.env.LAB_NODE_AWS_ENDPOINT_URL;
  const containerd = process.env.LAB_CONTAINERD_SOCKET;
  if (process.env.LAB_MODE !== 'node' || !awsEndpoint || !containerd) {
    throw new Error(
      `the lab runs without its real node (LAB_MODE is not "node"): ${what} needs \`make lab-up NODE=1\` and \`make lab-images\` (make test starts both)`,
    );
  }
  return { awsEndpoint, region: process.env.LAB_NODE_REGION ?? 'ap-northeast-1', containerd };
}

export interface SecretsPodOptions {
  name: string;
  namespace: string;
  serviceAccountName: string;
  /** The SecretProviderClass of its one secrets-store volume, mounted read-only at /mnt/secrets. */
  secretProviderClass: string;
  /** The pod's securityContext (runAsUser, fsGroup, supplementalGroups, ...). */
  securityContext?: Record<string, unknown>;
}

/** Where a SecretsPod mounts its secrets-store volume. */
export const SECRETS_MOUNT = '/mnt/secrets';

/**
 * A pod with one secrets-store volume and a busybox container that waits (the lab's image, never
 * pulled) and leaves at once on SIGTERM, so that deleting it takes no grace period.
 */
export function secretsPodManifest(o: SecretsPodOptions): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      serviceAccountName: o.serviceAccountName,
      terminationGracePeriodSeconds: 1,
      ...(o.securityContext ? { securityContext: o.securityContext } : {}),
      containers: [
        {
          name: 'app',
          image: 'busybox:lab',
          imagePullPolicy: 'Never',
          command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'],
          volumeMounts: [{ name: 'secrets', mountPath: SECRETS_MOUNT, readOnly: true }],
        },
      ],
      volumes: [
        {
          name: 'secrets',
          csi: {
            driver: DRIVER_NAME,
            readOnly: true,
            volumeAttributes: { secretProviderClass: o.secretProviderClass },
          },
        },
      ],
    },
  };
}

/** Creates the pod with kubectl and waits until it is Ready (its volume mounted). */
export async function startSecretsPod(lab: Lab, o: SecretsPodOptions, timeoutS = 120): Promise<void> {
  await kubectlAsync(lab, ['apply', '-f', '-'], JSON.stringify(secretsPodManifest(o)));
  await kubectlAsync(lab, [
    'wait',
    '-n',
    o.namespace,
    '--for=condition=Ready',
    `pod/${o.name}`,
    `--timeout=${timeoutS}s`,
  ]);
}

/** What a command run in the pod's container printed (stdout, else stderr) and its exit status. */
export async function execInPod(
  lab: Lab,
  namespace: string,
  pod: string,
  command: string[],
): Promise<{ status: number; out: string }> {
  const r = await kubectlStatus(lab, ['exec', '-n', namespace, pod, '--', ...command]);
  const stderr = r.stderr.replace(/^command terminated with exit code \d+\n?/m, '').trim();
  return { status: r.status, out: r.status === 0 ? r.stdout : stderr };
}

/** The secrets-store volume mounts the kubelet's pod folder of `podUid` holds on the node. */
export function podVolumeMounts(podUid: string): MountEntry[] {
  return mountsUnder(`${KUBELET_ROOT}/pods/${podUid}/volumes/kubernetes.io~csi`);
}
