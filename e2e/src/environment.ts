// One node's worth of the system for a test file: a kubelet root, a providers folder with the test
// provider on a real socket, the real driver process, and the kubelet stand-in, all against the lab.
import type { KubeClient } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import { createNamespace, deleteNamespace, ensureCrds, ensureCsiDriver, mountsUnder } from './cluster';
import type { CSIDriverSpec } from './kubelet-standin';
import { KubeletStandIn } from './kubelet-standin';
import type { Lab } from './lab';
import { adminClient, requireLab, uniqueSuffix } from './lab';
import type { DriverProcess } from './processes';
import { startDriver } from './processes';
import { TestProvider } from './test-provider';

export interface NodeEnvironment {
  lab: Lab;
  kube: KubeClient;
  namespace: string;
  nodeName: string;
  root: string;
  kubeletRoot: string;
  providerDir: string;
  driverSocket: string;
  provider: TestProvider;
  driver: DriverProcess;
  kubelet: KubeletStandIn;
  /** Restarts the driver with the same flags (volumes stay mounted). */
  restartDriver(): Promise<DriverProcess>;
  close(): Promise<void>;
}

export interface NodeEnvironmentOptions {
  rotation?: { pollInterval: string };
  csiDriver?: CSIDriverSpec;
  driverArgs?: string[];
}

export const DEFAULT_CSI_DRIVER: CSIDriverSpec = {
  podInfoOnMount: true,
  requiresRepublish: true,
  tokenRequests: [{ audience: 'sts.amazonaws.com' }, { audience: 'pods.eks.amazonaws.com' }],
};

export async function startNodeEnvironment(o: NodeEnvironmentOptions = {}): Promise<NodeEnvironment> {
  const lab = requireLab();
  const kube = adminClient(lab);
  const suffix = uniqueSuffix();
  const namespace = `ns-${suffix}`;
  const nodeName = `node-${suffix}`;
  // Under the lab's state folder rather than /tmp: a leftover mount is then easy to find.
  const root = fs.mkdtempSync(path.join(lab.stateDir, `node-${suffix}-`));
  const kubeletRoot = path.join(root, 'kubelet');
  const providerDir = path.join(root, 'providers');
  const driverSocket = path.join(root, 'csi', 'csi.sock');
  fs.mkdirSync(kubeletRoot, { recursive: true });
  fs.mkdirSync(providerDir, { recursive: true });

  await ensureCrds(lab, kube);
  await ensureCsiDriver(kube, o.csiDriver ?? DEFAULT_CSI_DRIVER);
  await createNamespace(kube, namespace);

  const provider = new TestProvider(path.join(providerDir, 'test.sock'));
  await provider.start();
  const driverOptions = {
    nodeId: nodeName,
    socketPath: driverSocket,
    providerDir,
    kubeconfig: lab.kubeconfig,
    rotation: o.rotation,
    extraArgs: o.driverArgs,
  };
  const env: NodeEnvironment = {
    lab,
    kube,
    namespace,
    nodeName,
    root,
    kubeletRoot,
    providerDir,
    driverSocket,
    provider,
    driver: await startDriver(driverOptions),
    kubelet: new KubeletStandIn({ kube, nodeName, driverSocket, rootDir: kubeletRoot }),
    async restartDriver() {
      await env.driver.stop();
      env.driver = await startDriver(driverOptions);
      return env.driver;
    },
    async close() {
      await env.kubelet.unpublishAll().catch(() => undefined);
      await env.kubelet.stop();
      await env.driver.stop();
      await provider.stop();
      await deleteNamespace(kube, namespace);
      await kube.delete(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
      const leftovers = mountsUnder(root);
      kube.close();
      if (leftovers.length > 0) {
        throw new Error(`mounts left behind under ${root}: ${leftovers.map((m) => m.mountPoint).join(', ')}`);
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  await env.kubelet.registerNode();
  return env;
}
