// Rotation through kubelet republish (CSIDriver requiresRepublish) with --enable-secret-rotation.
import type { CoreEvent, Pod, SecretProviderClass, SecretProviderClassPodStatus } from '@sscsi/common';
import { Resources, resourcePath } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import type { NodeEnvironment } from '../src';
import {
  createPod,
  createSecretProviderClass,
  eventually,
  metricValue,
  mountsUnder,
  podEvents,
  startNodeEnvironment,
  uniqueSuffix,
} from '../src';

const POLL_MS = 2000;
let env: NodeEnvironment;

beforeAll(async () => {
  env = await startNodeEnvironment({ rotation: { pollInterval: `${POLL_MS}ms` } });
});

afterAll(async () => {
  await env?.close();
});

/**
 * Republishes, as the kubelet does every few seconds, until the driver has asked the provider
 * `calls` times for this pod: the poll interval has passed and the republish reached the provider.
 */
async function republishUntilProviderCalled(pod: Pod, calls: () => number, want: number): Promise<void> {
  await eventually(
    `a republish that reaches the provider (call ${want})`,
    async () => {
      await env.kubelet.publish(pod);
      return calls() >= want ? true : undefined;
    },
    POLL_MS * 10,
    POLL_MS / 4,
  );
  expect(calls()).toBe(want);
}

async function setup(
  objectName: string,
): Promise<{ pod: Pod; spc: string; target: string; calls: () => number }> {
  const spc = `rot-${uniqueSuffix()}`;
  env.provider.set(objectName, 'value-1', 'v1');
  await createSecretProviderClass(env.kube, env.namespace, spc, {
    provider: 'test',
    parameters: { objects: objectName },
  });
  const pod = await createPod(env.kube, env.namespace, `app-${uniqueSuffix()}`, {
    nodeName: env.nodeName,
    volumes: [{ name: 'secrets', spc }],
  });
  const [call] = await env.kubelet.publish(pod);
  const calls = () =>
    env.provider.mounts.filter((m) => m.attributes['csi.storage.k8s.io/pod.uid'] === pod.metadata.uid).length;
  return { pod, spc, target: call?.targetPath ?? '', calls };
}

function status(pod: Pod, spc: string): Promise<SecretProviderClassPodStatus> {
  return env.kube.get(
    resourcePath(
      Resources.secretProviderClassPodStatuses,
      env.namespace,
      `${pod.metadata.name}-${env.namespace}-${spc}`,
    ),
  );
}

const eventsOf = async (pod: Pod, reason: string): Promise<CoreEvent[]> =>
  (await podEvents(env.kube, pod)).filter((e) => e.reason === reason);

describe('rotation on republish', () => {
  it('calls the provider at most once per poll interval and swaps in changed contents', async () => {
    const { pod, spc, target, calls } = await setup('token');
    const read = () => fs.readFileSync(path.join(target, 'token'), 'utf8');
    expect(read()).toBe('value-1');

    env.provider.set('token', 'value-2', 'v2');
    await env.kubelet.publish(pod);
    expect(calls()).toBe(1);
    expect(read()).toBe('value-1');

    await republishUntilProviderCalled(pod, calls, 2);
    expect(env.provider.mounts.at(-1)?.currentObjectVersion).toEqual([{ id: 'token', version: 'v1' }]);
    expect(read()).toBe('value-2');
    expect((await status(pod, spc)).status?.objects).toEqual([{ id: 'token', version: 'v2' }]);
    const rotated = await eventually('a MountRotationComplete event', async () => {
      const events = await eventsOf(pod, 'MountRotationComplete');
      return events.length > 0 ? events : undefined;
    });
    expect(rotated[0]?.type).toBe('Normal');
    expect(rotated[0]?.message).toContain(spc);
    expect(
      await metricValue(env.driver.metricsUrl, 'rotation_reconcile_total', {
        provider: 'test',
        rotated: 'true',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await metricValue(env.driver.metricsUrl, 'rotation_reconcile_changed_total', { provider: 'test' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('rewrites nothing and records nothing when nothing changed', async () => {
    const { pod, spc, target, calls } = await setup('stable');
    const dataBefore = fs.readlinkSync(path.join(target, '..data'));
    const versionBefore = (await status(pod, spc)).metadata.resourceVersion;
    const changedBefore = await metricValue(env.driver.metricsUrl, 'rotation_reconcile_changed_total', {
      provider: 'test',
    });
    await republishUntilProviderCalled(pod, calls, 2);
    expect(fs.readlinkSync(path.join(target, '..data'))).toBe(dataBefore);
    expect((await status(pod, spc)).metadata.resourceVersion).toBe(versionBefore);
    expect(await eventsOf(pod, 'MountRotationComplete')).toEqual([]);
    expect(
      await metricValue(env.driver.metricsUrl, 'rotation_reconcile_changed_total', { provider: 'test' }),
    ).toBe(changedBefore);
  });

  it('keeps the old files and reports a Warning event when a republish fails', async () => {
    const { pod, spc, target, calls } = await setup('fragile');
    const spcPath = resourcePath(Resources.secretProviderClasses, env.namespace, spc);
    const current = await env.kube.get<SecretProviderClass>(spcPath);
    await env.kube.replace(spcPath, {
      ...current,
      spec: { ...current.spec, parameters: { objects: 'fragile', failWith: 'UNAUTHENTICATED' } },
    });
    env.provider.set('fragile', 'value-2', 'v2');
    // Each of these republishes answers success to the kubelet, the failing one included.
    await republishUntilProviderCalled(pod, calls, 2);
    expect(fs.readFileSync(path.join(target, 'fragile'), 'utf8')).toBe('value-1');
    expect(mountsUnder(target)).toHaveLength(1);
    const failed = await eventually('a MountRotationFailed event', async () => {
      const events = await eventsOf(pod, 'MountRotationFailed');
      return events.length > 0 ? events : undefined;
    });
    expect(failed[0]?.type).toBe('Warning');
    expect(failed[0]?.message).toMatch(/keeps its current files: .*UNAUTHENTICATED/);
    expect(
      await metricValue(env.driver.metricsUrl, 'rotation_reconcile_error_total', {
        provider: 'test',
        rotated: 'true',
        error_type: 'GRPCProviderError',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('survives a driver restart: the files stay and rotation resumes from the recorded versions', async () => {
    const { pod, target } = await setup('durable');
    await env.restartDriver();
    expect(fs.readFileSync(path.join(target, 'durable'), 'utf8')).toBe('value-1');
    expect(mountsUnder(target)).toHaveLength(1);
    env.provider.set('durable', 'value-2', 'v2');
    await env.kubelet.publish(pod);
    expect(env.provider.mounts.at(-1)?.currentObjectVersion).toEqual([{ id: 'durable', version: 'v1' }]);
    expect(fs.readFileSync(path.join(target, 'durable'), 'utf8')).toBe('value-2');
  });
});
