// Helpers that put objects into the lab the way a user would, and read back what a user checks.
import type { CoreEvent, KubeClient, KubeList, Pod, SecretProviderClass } from '@sscsi/common';
import { isAlreadyExists, isNotFound, Resources, resourcePath } from '@sscsi/common';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { CSIDriverSpec } from './kubelet-standin';
import { DRIVER_NAME } from './kubelet-standin';
import type { Lab } from './lab';
import { eventually, REPO_ROOT } from './lab';

export const CRD_DIR = path.join(REPO_ROOT, 'charts', 'secrets-store-csi-driver', 'crds');

/** Runs the lab's kubectl. */
export function kubectl(lab: Lab, args: string[], input?: string): string {
  return execFileSync(path.join(lab.binDir, 'kubectl'), args, {
    env: { ...process.env, KUBECONFIG: lab.kubeconfig },
    input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/**
 * Runs the lab's kubectl without blocking this process: needed whenever the kubelet stand-in runs
 * in the same process (`kubectl delete pod` waits for it to finish the pod).
 */
export function kubectlAsync(lab: Lab, args: string[], input?: string): Promise<string> {
  return labToolAsync(lab, 'kubectl', args, input);
}

/** The lab's kubectl or helm, without blocking this process; rejects with the tool's message. */
export function labToolAsync(
  lab: Lab,
  tool: 'kubectl' | 'helm',
  args: string[],
  input?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, KUBECONFIG: lab.kubeconfig };
    const child = execFile(
      path.join(lab.binDir, tool),
      args,
      { env, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`${tool} ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`, {
              cause: err,
            }),
          );
        else resolve(String(stdout));
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/**
 * The lab's kubectl run to its end whatever its exit status: `kubectl exec` exits with the status
 * of the command it ran, and the command's output is wanted either way.
 */
export function kubectlStatus(
  lab: Lab,
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string; status: number }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, KUBECONFIG: lab.kubeconfig };
    const child = execFile(
      path.join(lab.binDir, 'kubectl'),
      args,
      { env, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const status = err ? (err as { code?: unknown }).code : 0;
        if (typeof status !== 'number')
          reject(new Error(`kubectl ${args.join(' ')}: ${err?.message}`, { cause: err }));
        else resolve({ stdout: String(stdout), stderr: String(stderr), status });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/** Applies the chart's CRDs and waits until the API serves them. */
export async function ensureCrds(lab: Lab, kube: KubeClient): Promise<void> {
  kubectl(lab, ['apply', '--server-side', '--force-conflicts', '-f', CRD_DIR]);
  await eventually('the secrets-store CRDs to be served', async () => {
    await kube.get(resourcePath(Resources.secretProviderClasses, 'default'));
    await kube.get(resourcePath(Resources.secretProviderClassPodStatuses, 'default'));
    return true;
  });
}

/** Creates or replaces the CSIDriver object, as the chart would. */
export async function ensureCsiDriver(kube: KubeClient, spec: CSIDriverSpec): Promise<void> {
  const body = {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'CSIDriver',
    metadata: { name: DRIVER_NAME },
    spec: { attachRequired: false, volumeLifecycleModes: ['Ephemeral'], ...spec },
  };
  const one = resourcePath(Resources.csiDrivers, undefined, DRIVER_NAME);
  try {
    await kube.create(resourcePath(Resources.csiDrivers), body);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    // Most of a CSIDriver's spec is immutable: replace it.
    await kube.delete(one);
    await eventually('the old CSIDriver to go', async () => {
      try {
        await kube.get(one);
        return undefined;
      } catch (e) {
        if (isNotFound(e)) return true;
        throw e;
      }
    });
    await kube.create(resourcePath(Resources.csiDrivers), body);
  }
}

/** Creates a namespace and waits for its default ServiceAccount (pods need it). */
export async function createNamespace(kube: KubeClient, name: string): Promise<void> {
  await kube.create(resourcePath(Resources.namespaces), { metadata: { name } });
  await eventually(`the default ServiceAccount of ${name}`, () =>
    kube.get(resourcePath(Resources.serviceAccounts, name, 'default')),
  );
}

export async function deleteNamespace(kube: KubeClient, name: string): Promise<void> {
  await kube.delete(resourcePath(Resources.namespaces, undefined, name)).catch(() => undefined);
}

export async function createSecretProviderClass(
  kube: KubeClient,
  namespace: string,
  name: string,
  spec: SecretProviderClass['spec'],
): Promise<SecretProviderClass> {
  return kube.create<SecretProviderClass>(resourcePath(Resources.secretProviderClasses, namespace), {
    apiVersion: 'secrets-store.csi.x-k8s.io/v1',
    kind: 'SecretProviderClass',
    metadata: { name, namespace },
    spec,
  });
}

export interface PodVolume {
  name?: string;
  spc: string;
  readOnly?: boolean;
  attributes?: Record<string, string>;
}

/** A pod bound to `nodeName` with secrets-store volumes, as the article's manifests write them. */
export async function createPod(
  kube: KubeClient,
  namespace: string,
  name: string,
  o: {
    nodeName: string;
    serviceAccountName?: string;
    volumes: PodVolume[];
    ownerReferences?: Pod['metadata']['ownerReferences'];
    /** The pod's securityContext (fsGroup, runAsUser, ...). */
    securityContext?: Record<string, unknown>;
  },
): Promise<Pod> {
  const volumes = o.volumes.map((v, i) => ({
    name: v.name ?? `secrets-store-inline-${i}`,
    csi: {
      driver: DRIVER_NAME,
      readOnly: v.readOnly ?? true,
      volumeAttributes: { secretProviderClass: v.spc, ...v.attributes },
    },
  }));
  return kube.create<Pod>(resourcePath(Resources.pods, namespace), {
    metadata: { name, namespace, ownerReferences: o.ownerReferences },
    spec: {
      nodeName: o.nodeName,
      serviceAccountName: o.serviceAccountName ?? 'default',
      ...(o.securityContext ? { securityContext: o.securityContext } : {}),
      containers: [
        {
          name: 'app',
          image: 'busybox:lab',
          imagePullPolicy: 'Never',
          volumeMounts: volumes.map((v, i) => ({
            name: v.name,
            mountPath: `/mnt/secrets-store${i ? `-${i}` : ''}`,
            readOnly: true,
          })),
        },
      ],
      volumes,
    },
  });
}

export async function deletePod(kube: KubeClient, pod: Pod): Promise<void> {
  await kube
    .delete(resourcePath(Resources.pods, pod.metadata.namespace, pod.metadata.name), {
      body: { gracePeriodSeconds: 0 },
    })
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
}

export async function podEvents(kube: KubeClient, pod: Pod): Promise<CoreEvent[]> {
  const list = await kube.get<KubeList<CoreEvent>>(resourcePath(Resources.events, pod.metadata.namespace), {
    query: { fieldSelector: `involvedObject.name=${pod.metadata.name}` },
  });
  return list.items;
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
}

/** Mounts of this process's mount namespace, from /proc/self/mountinfo. */
export function mounts(): MountEntry[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const sep = fields.indexOf('-');
      const decode = (s: string) =>
        s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return { mountPoint: decode(fields[4] ?? ''), fsType: fields[sep + 1] ?? '' };
    });
}

export function mountsUnder(dir: string): MountEntry[] {
  return mounts().filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));
}
