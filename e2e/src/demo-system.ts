// The whole system on one machine, for the walkthrough (`make demo`) and the end-to-end suite: the
// lab's control plane and AWS endpoint (the lab's AWS gate, which answers as AWS does: trust
// policies, identity policies, Pod Identity), the driver and the AWS provider as local processes
// with the arguments the Helm charts give their containers, and the kubelet stand-in running as a
// node's kubelet.
import type { KubeClient } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import { AwsGate } from './aws-gate-client';
import { awsProviderEnv, labPodIdentityAgentArgs } from './aws-provider';
import type { DaemonSetManifest } from './charts';
import {
  ARTICLE_FLAGS,
  containerOf,
  csiDriverOf,
  expandedArgs,
  objectOf,
  renderDriver,
  renderProvider,
  withFlags,
} from './charts';
import { CRD_DIR, ensureCsiDriver, kubectl, mountsUnder } from './cluster';
import { KubeletStandIn } from './kubelet-standin';
import type { Lab } from './lab';
import { adminClient, eventually, requireLab, uniqueSuffix } from './lab';
import type { ManagedProcess } from './processes';
import { DRIVER_MAIN, metricsAddressOf, PROVIDER_AWS_MAIN, startNodeProgram } from './processes';

export const DEMO_REGION = 'ap-northeast-1';

export interface RunningProcess extends ManagedProcess {
  metricsUrl: string;
}

export interface DemoSystem {
  lab: Lab;
  kube: KubeClient;
  /** The lab's AWS endpoint's control API (faults, call counts). */
  gate: AwsGate;
  nodeName: string;
  root: string;
  kubeletRoot: string;
  providerDir: string;
  kubelet: KubeletStandIn;
  driver: RunningProcess;
  provider: RunningProcess;
  /** The arguments the charts gave, as run here (local paths substituted). */
  driverArgs: string[];
  providerArgs: string[];
  restartDriver(): Promise<RunningProcess>;
  restartProvider(): Promise<RunningProcess>;
  close(): Promise<void>;
}

export interface DemoSystemOptions {
  nodeName?: string;
  /** The driver chart's rotationPollInterval; short so that a rotation shows within seconds. */
  rotationPollInterval?: string;
  /** How often the kubelet stand-in republishes (the real kubelet: about every minute). */
  republishIntervalMs?: number;
  /** Run the kubelet stand-in as a kubelet (default); false: tests call it themselves. */
  runKubelet?: boolean;
  /** The stand-in's deadline for each CSI call (the kubelet's: 2 minutes). */
  callTimeoutMs?: number;
}

/** Starts a program of this checkout and waits for its line saying it started, which names its metrics address. */
export async function startProgram(
  name: string,
  main: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  started: RegExp,
): Promise<RunningProcess> {
  const proc = startNodeProgram(name, main, args, env);
  const line = await proc.waitForLog(started);
  return Object.assign(proc, { metricsUrl: `http://${metricsAddressOf(line)}/metrics` });
}

export async function startDemoSystem(o: DemoSystemOptions = {}): Promise<DemoSystem> {
  const lab = requireLab();
  const kube = adminClient(lab);
  const nodeName = o.nodeName ?? `demo-node-${uniqueSuffix()}`;
  const root = fs.mkdtempSync(path.join(lab.stateDir, `${nodeName}-`));
  const kubeletRoot = path.join(root, 'kubelet');
  const providerDir = path.join(root, 'providers');
  fs.mkdirSync(kubeletRoot, { recursive: true });

  // The driver chart with the article's flags: CRDs, the CSIDriver object and the driver's arguments.
  const driverChart = renderDriver(lab, {
    ...ARTICLE_FLAGS,
    rotationPollInterval: o.rotationPollInterval ?? '5s',
  });
  kubectl(lab, ['apply', '--server-side', '--force-conflicts', '-f', CRD_DIR]);
  await ensureCsiDriver(kube, csiDriverOf(driverChart).spec);
  const driverContainer = containerOf(objectOf<DaemonSetManifest>(driverChart, 'DaemonSet'), 'secrets-store');
  const driverArgs = withFlags(expandedArgs(driverContainer, { 'spec.nodeName': nodeName }), {
    endpoint: `unix://${path.join(root, 'csi', 'csi.sock')}`,
    'provider-volume': providerDir,
    'additional-provider-volume-paths': '',
    'metrics-addr': '127.0.0.1:0',
    kubeconfig: lab.kubeconfig,
  });

  const providerChart = renderProvider(lab, { awsRegion: DEMO_REGION });
  const providerDaemonSet = objectOf<DaemonSetManifest>(providerChart, 'DaemonSet');
  const providerContainer = providerDaemonSet.spec.template.spec.containers[0];
  if (!providerContainer) throw new Error('the AWS provider chart renders no container');
  // The node's EKS Pod Identity agent is the lab's (the gate's), not 169.254.170.23.
  const agentFlags = Object.fromEntries(
    labPodIdentityAgentArgs().map((flag) => flag.slice(2).split(/=(.*)/s, 2) as [string, string]),
  );
  const providerArgs = withFlags(expandedArgs(providerContainer), {
    'provider-volume': providerDir,
    'metrics-addr': '127.0.0.1:0',
    kubeconfig: lab.kubeconfig,
    ...agentFlags,
  });

  const gate = AwsGate.of(lab);
  // The provider has no credentials of its own: every AWS call goes out with a pod's identity.
  const providerEnv = awsProviderEnv(lab.awsEndpoint, DEMO_REGION);
  const startProvider = () =>
    startProgram(
      'demo-provider-aws',
      PROVIDER_AWS_MAIN,
      providerArgs,
      providerEnv,
      /secrets-store-csi-driver-provider-aws started/,
    );
  const startDriverProcess = () =>
    startProgram(
      `demo-driver-${nodeName}`,
      DRIVER_MAIN,
      driverArgs,
      process.env,
      /secrets-store-csi-driver started/,
    );

  const kubelet = new KubeletStandIn({
    kube,
    nodeName,
    driverSocket: path.join(root, 'csi', 'csi.sock'),
    rootDir: kubeletRoot,
    republishIntervalMs: o.republishIntervalMs ?? 2000,
    callTimeoutMs: o.callTimeoutMs,
  });
  const system: DemoSystem = {
    lab,
    kube,
    gate,
    nodeName,
    root,
    kubeletRoot,
    providerDir,
    kubelet,
    provider: await startProvider(),
    driver: await startDriverProcess(),
    driverArgs,
    providerArgs,
    async restartDriver() {
      await system.driver.stop();
      system.driver = await startDriverProcess();
      return system.driver;
    },
    async restartProvider() {
      await system.provider.stop();
      system.provider = await startProvider();
      return system.provider;
    },
    async close() {
      await kubelet.unpublishAll().catch(() => undefined);
      await kubelet.stop();
      await system.driver.stop();
      await system.provider.stop();
      await kube.delete(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
      kube.close();
      await eventually(
        'no mount left under the demo node',
        () => (mountsUnder(root).length === 0 ? true : undefined),
        10_000,
      );
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  await kubelet.registerNode();
  if (o.runKubelet ?? true) await kubelet.start();
  return system;
}
