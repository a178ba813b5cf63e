// The driver and the AWS provider under exactly the roles their charts grant them: the charts'
// ServiceAccounts, ClusterRoles and bindings applied to the lab (nothing else), each program given a
// kubeconfig with a token of its chart's ServiceAccount, and the article's walkthrough run against
// them: publish, Secret sync, rotation, the pod's deletion. A call the roles do not allow shows as a
// failed step or as a Forbidden answer in a program's log.
import { transcriptReporter, Walkthrough } from '@sscsi/demo';
import fs from 'node:fs';
import path from 'node:path';

import type { DemoSystem, Manifest, RunningProcess } from '../src';
import {
  ARTICLE_FLAGS,
  DEMO_REGION,
  DRIVER_MAIN,
  mustRun,
  objectOf,
  PROVIDER_AWS_MAIN,
  rbacObjectsOf,
  renderDriver,
  renderProvider,
  requireLab,
  serviceAccountKubeconfig,
  startDemoSystem,
  startProgram,
  SYSTEM_NAMESPACE,
  uniqueSuffix,
} from '../src';
import { itRunsEachStep } from './walkthrough-steps';

const lab = requireLab();
const transcript: string[] = [];

let system: DemoSystem | undefined;
let walkthrough: Walkthrough | undefined;
let rbac: Manifest[] = [];
let kubeconfigDir: string | undefined;

/** The same values the demo system renders the charts with, so that its programs' roles match. */
function chartRbac(): { driver: Manifest[]; provider: Manifest[] } {
  const driver = renderDriver(lab, ARTICLE_FLAGS);
  const provider = renderProvider(lab, { awsRegion: DEMO_REGION });
  return { driver: rbacObjectsOf(driver), provider: rbacObjectsOf(provider) };
}

function asList(objects: Manifest[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
}

/** `--kubeconfig=` set to `file`, every other argument as the chart gave it. */
function withKubeconfig(args: string[], file: string): string[] {
  return [...args.filter((a) => !a.startsWith('--kubeconfig=')), `--kubeconfig=${file}`];
}

/** The environment a running child process was started with (the demo system's AWS settings). */
function environmentOf(proc: RunningProcess): NodeJS.ProcessEnv {
  const raw = fs.readFileSync(`/proc/${proc.child.pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter((entry) => entry.includes('='))
      .map((entry) => entry.split(/=(.*)/s, 2) as [string, string]),
  );
}

beforeAll(async () => {
  const { driver, provider } = chartRbac();
  rbac = [...driver, ...provider];
  mustRun(
    lab,
    'kubectl',
    ['apply', '--server-side', '--force-conflicts', '--field-manager=chart-roles-test', '-f', '-'],
    asList(rbac),
  );
  system = await startDemoSystem({ nodeName: `chart-roles-${uniqueSuffix()}` });
  kubeconfigDir = fs.mkdtempSync(path.join(lab.stateDir, 'chart-roles-'));
  const driverKubeconfig = await serviceAccountKubeconfig(
    lab,
    system.kube,
    { namespace: SYSTEM_NAMESPACE, name: objectOf<Manifest>(driver, 'ServiceAccount').metadata.name },
    path.join(kubeconfigDir, 'driver.kubeconfig'),
  );
  const providerKubeconfig = await serviceAccountKubeconfig(
    lab,
    system.kube,
    { namespace: SYSTEM_NAMESPACE, name: objectOf<Manifest>(provider, 'ServiceAccount').metadata.name },
    path.join(kubeconfigDir, 'provider.kubeconfig'),
  );

  // The demo system's programs run as the lab's admin: replace them by the same programs with the
  // same arguments and environment, as the charts' ServiceAccounts.
  const driverEnv = environmentOf(system.driver);
  const providerEnv = environmentOf(system.provider);
  await system.driver.stop();
  await system.provider.stop();
  system.provider = await startProgram(
    'chart-roles-provider-aws',
    PROVIDER_AWS_MAIN,
    withKubeconfig(system.providerArgs, providerKubeconfig),
    providerEnv,
    /secrets-store-csi-driver-provider-aws started/,
  );
  system.driver = await startProgram(
    `chart-roles-driver-${system.nodeName}`,
    DRIVER_MAIN,
    withKubeconfig(system.driverArgs, driverKubeconfig),
    driverEnv,
    /secrets-store-csi-driver started/,
  );
  walkthrough = new Walkthrough(system, transcriptReporter(transcript));
});

afterAll(async () => {
  await walkthrough?.close();
  await system?.close();
  if (rbac.length > 0) {
    mustRun(lab, 'kubectl', ['delete', '--ignore-not-found', '--wait=true', '-f', '-'], asList(rbac));
  }
  if (kubeconfigDir) fs.rmSync(kubeconfigDir, { recursive: true, force: true });
});

describe("the walkthrough with the driver and the provider under their charts' roles", () => {
  itRunsEachStep(Walkthrough.titles(), (i) => walkthrough?.steps[i], transcript);

  it('records the rotation as an Event on the pod', () => {
    const nodeName = system?.nodeName ?? '';
    const events = JSON.parse(
      mustRun(lab, 'kubectl', [
        'get',
        'events',
        '--namespace',
        'default',
        '--field-selector',
        'reason=MountRotationComplete,involvedObject.name=sample-app',
        '-o',
        'json',
      ]),
    ) as { items: Array<{ source?: { host?: string } }> };
    expect(events.items.filter((e) => e.source?.host === nodeName).length).toBeGreaterThan(0);
  });

  it('got no Forbidden answer from the API server, in either program', () => {
    const forbidden = (logs: string) => logs.split('\n').filter((line) => /forbidden/i.test(line));
    expect(forbidden(system?.driver.logs() ?? '')).toEqual([]);
    expect(forbidden(system?.provider.logs() ?? '')).toEqual([]);
    // Both logs were read: each program logged its start.
    expect(system?.driver.logs()).toMatch(/secrets-store-csi-driver started/);
    expect(system?.provider.logs()).toMatch(/secrets-store-csi-driver-provider-aws started/);
  });
});
