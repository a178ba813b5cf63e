// The driver against the lab: real tmpfs mounts, the test provider on a real Unix socket, the real
// API server for SecretProviderClasses, SecretProviderClassPodStatuses and tokens.
import type * as grpc from '@grpc/grpc-js';
import type { Pod, SecretProviderClassPodStatus } from '@sscsi/common';
import { Resources, resourcePath, Status } from '@sscsi/common';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { NodeEnvironment } from '../src';
import {
  createPod,
  createSecretProviderClass,
  DRIVER_MAIN,
  eventually,
  KubeletStandIn,
  metricValue,
  mounts,
  mountsUnder,
  startDriver,
  startNodeEnvironment,
  uniqueSuffix,
} from '../src';

const USERNAME = 'mamezou-tech';
const PASSWORD = 'my-super-secret-password';

let env: NodeEnvironment;

beforeAll(async () => {
  env = await startNodeEnvironment();
  env.provider.set('username', USERNAME, 'v1');
  env.provider.set('password', PASSWORD, 'v7');
  await createSecretProviderClass(env.kube, env.namespace, 'db', {
    provider: 'test',
    parameters: { objects: 'username,password' },
  });
});

afterAll(async () => {
  await env?.close();
});

async function newPod(spc: string, attributes?: Record<string, string>, readOnly = true): Promise<Pod> {
  return createPod(env.kube, env.namespace, `app-${uniqueSuffix()}`, {
    nodeName: env.nodeName,
    volumes: [{ name: 'secrets', spc, attributes, readOnly }],
  });
}

function spcps(pod: Pod, spc: string): Promise<SecretProviderClassPodStatus> {
  return env.kube.get<SecretProviderClassPodStatus>(
    resourcePath(
      Resources.secretProviderClassPodStatuses,
      env.namespace,
      `${pod.metadata.name}-${env.namespace}-${spc}`,
    ),
  );
}

async function publishError(pod: Pod, timeoutMs?: number): Promise<grpc.ServiceError> {
  try {
    await env.kubelet.publish(pod, { timeoutMs });
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('publish was expected to fail');
}

function jwtAudience(token: string): unknown {
  return (
    JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud: unknown }
  ).aud;
}

describe('NodePublishVolume', () => {
  it('mounts a tmpfs, writes the files atomically and records the pod status', async () => {
    const pod = await newPod('db');
    const [call] = await env.kubelet.publish(pod);
    const target = call?.targetPath ?? '';

    expect(mounts().filter((m) => m.mountPoint === target)).toEqual([
      { mountPoint: target, fsType: 'tmpfs' },
    ]);
    expect(fs.readFileSync(path.join(target, 'username'), 'utf8')).toBe(USERNAME);
    expect(fs.readFileSync(path.join(target, 'password'), 'utf8')).toBe(PASSWORD);
    expect(fs.statSync(path.join(target, 'password')).mode & 0o777).toBe(0o644);
    expect(fs.readlinkSync(path.join(target, 'password'))).toBe('..data/password');

    const status = await spcps(pod, 'db');
    expect(status.metadata.labels?.['internal.secrets-store.csi.k8s.io/node-name']).toBe(env.nodeName);
    expect(status.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
    ]);
    expect(status.status).toEqual({
      podName: pod.metadata.name,
      secretProviderClassName: 'db',
      mounted: true,
      targetPath: target,
      objects: [
        { id: 'password', version: 'v7' },
        { id: 'username', version: 'v1' },
      ],
    });
    expect(
      await metricValue(env.driver.metricsUrl, 'node_publish_total', { provider: 'test', os_type: 'linux' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('sends the provider the class parameters, the pod attributes and the tokens of the CSIDriver audiences', async () => {
    const pod = await newPod('db', { extra: 'from-pod' });
    await env.kubelet.publish(pod);
    const received = env.provider.mounts.at(-1);
    expect(received?.attributes.objects).toBe('username,password');
    expect(received?.attributes.extra).toBe('from-pod');
    expect(received?.attributes['csi.storage.k8s.io/pod.name']).toBe(pod.metadata.name);
    expect(received?.attributes['csi.storage.k8s.io/serviceAccount.name']).toBe('default');
    expect(received?.permission).toBe('420');
    expect(received?.secrets).toBe('null');
    expect(received?.currentObjectVersion).toEqual([]);
    const tokens = JSON.parse(
      received?.attributes['csi.storage.k8s.io/serviceAccount.tokens'] ?? '{}',
    ) as Record<string, { token: string }>;
    expect(Object.keys(tokens).sort()).toEqual(['pods.eks.amazonaws.com', 'sts.amazonaws.com']);
    expect(jwtAudience(tokens['sts.amazonaws.com']?.token ?? '')).toEqual(['sts.amazonaws.com']);
  });

  it('leaves the files to a provider that writes them itself', async () => {
    await createSecretProviderClass(env.kube, env.namespace, 'provider-writes', {
      provider: 'test',
      parameters: { objects: 'username', writeMode: 'provider' },
    });
    const pod = await newPod('provider-writes');
    const [call] = await env.kubelet.publish(pod);
    const target = call?.targetPath ?? '';
    expect(mountsUnder(target)).toEqual([{ mountPoint: target, fsType: 'tmpfs' }]);
    expect(fs.readFileSync(path.join(target, 'username'), 'utf8')).toBe(USERNAME);
    expect(fs.existsSync(path.join(target, '..data'))).toBe(false);
    expect((await spcps(pod, 'provider-writes')).status?.objects).toEqual([
      { id: 'username', version: 'v1' },
    ]);
  });

  it('writes nested paths and per-file modes', async () => {
    await createSecretProviderClass(env.kube, env.namespace, 'modes', {
      provider: 'test',
      parameters: { objects: 'password', filePath: 'db/password', fileMode: String(0o600) },
    });
    const pod = await newPod('modes');
    const [call] = await env.kubelet.publish(pod);
    const file = path.join(call?.targetPath ?? '', 'db', 'password');
    expect(fs.readFileSync(file, 'utf8')).toBe(PASSWORD);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('republish without --enable-secret-rotation', () => {
  it('is a no-op for a mounted volume', async () => {
    const pod = await newPod('db');
    await env.kubelet.publish(pod);
    const calls = () =>
      env.provider.mounts.filter((m) => m.attributes['csi.storage.k8s.io/pod.uid'] === pod.metadata.uid)
        .length;
    expect(calls()).toBe(1);
    await env.kubelet.publish(pod);
    await env.kubelet.publish(pod);
    expect(calls()).toBe(1);
  });
});

describe('a republish of a mounted volume that shows no files', () => {
  it('fills it again instead of answering success for an empty volume', async () => {
    const pod = await newPod('db');
    // What a driver stopped between mount and write leaves: the tmpfs, nothing in it.
    const prepared = await env.kubelet.preparePublish(pod, 'secrets');
    const target = prepared.call.targetPath;
    fs.mkdirSync(target);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', target]);
    await env.kubelet.sendPublish(prepared);
    expect(fs.readFileSync(path.join(target, 'password'), 'utf8')).toBe(PASSWORD);
    expect(mountsUnder(target)).toEqual([{ mountPoint: target, fsType: 'tmpfs' }]);
    expect((await spcps(pod, 'db')).status?.mounted).toBe(true);
    await env.kubelet.unpublish(pod);
    expect(mountsUnder(target)).toEqual([]);
  });
});

describe('a kubelet root reached through a symlink', () => {
  it('republishes without stacking mounts, and unpublishes leaving none', async () => {
    const link = path.join(env.root, 'kubelet-link');
    fs.symlinkSync(env.kubeletRoot, link);
    const kubelet = new KubeletStandIn({
      kube: env.kube,
      nodeName: env.nodeName,
      driverSocket: env.driverSocket,
      rootDir: link,
    });
    try {
      const pod = await newPod('db');
      const [call] = await kubelet.publish(pod);
      await kubelet.publish(pod);
      await kubelet.publish(pod);
      const realTarget = env.kubelet.targetPath(pod, 'secrets');
      expect(call?.targetPath).not.toBe(realTarget);
      expect(mountsUnder(realTarget)).toEqual([{ mountPoint: realTarget, fsType: 'tmpfs' }]);
      expect(fs.readFileSync(path.join(call?.targetPath ?? '', 'username'), 'utf8')).toBe(USERNAME);
      await kubelet.unpublish(pod);
      expect(mountsUnder(realTarget)).toEqual([]);
    } finally {
      await kubelet.stop();
    }
  });
});

describe('publish and unpublish racing on one volume', () => {
  const callsFor = (pod: Pod) =>
    env.provider.mounts.filter((m) => m.attributes['csi.storage.k8s.io/pod.uid'] === pod.metadata.uid).length;

  beforeAll(async () => {
    await createSecretProviderClass(env.kube, env.namespace, 'slow', {
      provider: 'test',
      parameters: { objects: 'username', hangMs: '1500' },
    });
  });

  it('an unpublish sent while the publish is with the provider runs after it and leaves nothing', async () => {
    const pod = await newPod('slow');
    const prepared = await env.kubelet.preparePublish(pod, 'secrets');
    const target = prepared.call.targetPath;
    const publishing = env.kubelet.sendPublish(prepared);
    await eventually('the provider to receive the Mount', () => (callsFor(pod) === 1 ? true : undefined));
    const unpublishing = env.kubelet.call('nodeUnpublishVolume', { volumeId: 'v', targetPath: target });
    await expect(publishing).resolves.toBeDefined();
    await expect(unpublishing).resolves.toBeDefined();
    expect(mountsUnder(target)).toEqual([]);
    expect(fs.existsSync(target)).toBe(false);
  });
  // The other order (a publish arriving during an unpublish) is in node-server.test.ts, where the
  // unpublish can be held; here nothing makes the two calls reach the driver in a known order.
});

describe('NodeUnpublishVolume', () => {
  it('unmounts and removes the target, and succeeds again when it is already gone', async () => {
    const pod = await newPod('db');
    const [call] = await env.kubelet.publish(pod);
    const target = call?.targetPath ?? '';
    expect(mountsUnder(target)).toHaveLength(1);
    await env.kubelet.unpublishVolume(pod, 'secrets');
    expect(mountsUnder(target)).toEqual([]);
    expect(fs.existsSync(target)).toBe(false);
    await expect(
      env.kubelet.call('nodeUnpublishVolume', { volumeId: 'v', targetPath: target }),
    ).resolves.toBeDefined();
    expect(await metricValue(env.driver.metricsUrl, 'node_unpublish_total')).toBeGreaterThanOrEqual(2);
  });
});

describe('bad input leaves nothing behind and says what is wrong', () => {
  const cases: Array<{
    name: string;
    spc?: { name: string; parameters: Record<string, string>; provider?: string };
    useSpc?: string;
    readOnly?: boolean;
    timeoutMs?: number;
    code: Status;
    message: RegExp;
    errorType?: string;
  }> = [
    {
      name: 'an unknown SecretProviderClass',
      useSpc: 'does-not-exist',
      code: Status.NOT_FOUND,
      message: /SecretProviderClass "does-not-exist" not found in namespace/,
      errorType: 'SecretProviderClassNotFound',
    },
    {
      name: 'a read-write mount',
      useSpc: 'db',
      readOnly: false,
      code: Status.INVALID_ARGUMENT,
      message: /readonly is not true/,
    },
    {
      name: 'a provider that is not installed',
      spc: { name: 'absent', provider: 'absent', parameters: { objects: 'username' } },
      code: Status.UNAVAILABLE,
      message: /provider "absent" not found: no absent\.sock/,
      errorType: 'FailedToLookupProviderGRPCClient',
    },
    {
      name: 'a provider that fails',
      spc: { name: 'denied', parameters: { objects: 'username', failWith: 'PERMISSION_DENIED' } },
      code: Status.PERMISSION_DENIED,
      message: /provider "test": test provider fails with PERMISSION_DENIED/,
    },
    {
      name: 'a provider error code',
      spc: { name: 'errcode', parameters: { objects: 'username', errorCode: 'SomeProviderError' } },
      code: Status.INTERNAL,
      message: /error code SomeProviderError/,
      errorType: 'SomeProviderError',
    },
    {
      name: 'an oversized response',
      spc: { name: 'huge', parameters: { objects: 'username', padBytes: String(5 * 1024 * 1024) } },
      code: Status.RESOURCE_EXHAUSTED,
      message: /larger than --max-call-recv-msg-size/,
    },
    {
      name: 'a file path that escapes the mount',
      spc: { name: 'escape', parameters: { objects: 'password', filePath: '../../escaped' } },
      code: Status.INTERNAL,
      message: /invalid file: file path "\.\.\/\.\.\/escaped"/,
      errorType: 'FileWriteError',
    },
    {
      name: 'an absolute file path',
      spc: { name: 'absolute', parameters: { objects: 'password', filePath: '/etc/escaped' } },
      code: Status.INTERNAL,
      message: /file path "\/etc\/escaped" is absolute/,
    },
    {
      name: 'a file mode out of range',
      spc: { name: 'badmode', parameters: { objects: 'password', fileMode: '4096' } },
      code: Status.INTERNAL,
      message: /mode 4096, outside 0\.\.0777/,
    },
    {
      name: 'a response without object versions',
      spc: { name: 'noversions', parameters: { objects: 'password', noVersions: 'true' } },
      code: Status.INTERNAL,
      message: /returned no object versions/,
    },
    {
      // The driver answers just before the kubelet's deadline, having cleaned up.
      name: 'a provider that hangs past the kubelet deadline',
      spc: { name: 'hang', parameters: { objects: 'password', hangMs: '20000' } },
      timeoutMs: 3000,
      code: Status.DEADLINE_EXCEEDED,
      message:
        /failed to mount secrets store objects for pod .*: provider "test" did not answer before the deadline/,
      errorType: 'GRPCProviderError',
    },
  ];

  it.each(cases)('$name', async (c) => {
    if (c.spc) {
      await createSecretProviderClass(env.kube, env.namespace, c.spc.name, {
        provider: c.spc.provider ?? 'test',
        parameters: c.spc.parameters,
      });
    }
    const pod = await newPod(c.useSpc ?? c.spc?.name ?? '', undefined, c.readOnly ?? true);
    const before = c.errorType
      ? await metricValue(env.driver.metricsUrl, 'node_publish_error_total', { error_type: c.errorType })
      : 0;
    const err = await publishError(pod, c.timeoutMs);
    expect(err.code).toBe(c.code);
    expect(err.details).toMatch(c.message);
    // Nothing of the secrets or the tokens in what the kubelet (and the user, in events) sees.
    expect(err.details).not.toContain(PASSWORD);
    expect(err.details).not.toMatch(/eyJ[\w-]+\.[\w-]+/);
    const target = env.kubelet.targetPath(pod, 'secrets');
    // The driver cleans up before it answers.
    expect(mountsUnder(path.dirname(target))).toEqual([]);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(path.join(env.kubeletRoot, 'escaped'))).toBe(false);
    if (c.errorType) {
      expect(
        await metricValue(env.driver.metricsUrl, 'node_publish_error_total', { error_type: c.errorType }),
      ).toBe(before + 1);
    }
  });

  it('never uses a SecretProviderClass of another namespace', async () => {
    const other = `other-${uniqueSuffix()}`;
    await env.kube.create(resourcePath(Resources.namespaces), { metadata: { name: other } });
    try {
      await createSecretProviderClass(env.kube, other, 'elsewhere', {
        provider: 'test',
        parameters: { objects: 'password' },
      });
      const pod = await newPod('elsewhere');
      const err = await publishError(pod);
      expect(err.code).toBe(Status.NOT_FOUND);
      expect(err.details).toContain(`not found in namespace "${env.namespace}"`);
      expect(
        env.provider.mounts.filter((m) => m.attributes['csi.storage.k8s.io/pod.name'] === pod.metadata.name),
      ).toEqual([]);
    } finally {
      await env.kube.delete(resourcePath(Resources.namespaces, undefined, other)).catch(() => undefined);
    }
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'no volume id',
      { targetPath: '/x/mount', volumeCapability: { mount: {} }, readonly: true, volumeContext: { a: 'b' } },
      /volume ID missing/,
    ],
    [
      'no target path',
      { volumeId: 'v', volumeCapability: { mount: {} }, readonly: true, volumeContext: { a: 'b' } },
      /target path missing/,
    ],
    [
      'no capability',
      { volumeId: 'v', targetPath: '/x/mount', readonly: true, volumeContext: { a: 'b' } },
      /volume capability missing/,
    ],
    [
      'no volume context',
      { volumeId: 'v', targetPath: '/x/mount', volumeCapability: { mount: {} }, readonly: true },
      /volume attributes missing/,
    ],
  ])('rejects a request with %s as INVALID_ARGUMENT', async (_name, request, message) => {
    const err = (await env.kubelet
      .call('nodePublishVolume', request)
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toMatch(message);
    expect(fs.existsSync('/x/mount')).toBe(false);
  });
});

describe('the provider connection', () => {
  it('reconnects when the provider restarts on a new socket', async () => {
    const first = await newPod('db');
    await env.kubelet.publish(first);
    await env.provider.stop();
    await env.provider.start();
    const second = await newPod('db');
    await expect(env.kubelet.publish(second)).resolves.toHaveLength(1);
    expect(env.driver.logs()).toMatch(/provider socket replaced; reconnecting/);
  });
});

describe('the process', () => {
  it('replaces a stale socket at start and removes its socket on SIGTERM', async () => {
    const socketPath = path.join(env.root, 'stale', 'csi.sock');
    fs.mkdirSync(path.dirname(socketPath));
    // A socket file left by a process that died without cleaning up.
    execFileSync('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(socketPath)})`,
    ]);
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    const driver = await startDriver({
      nodeId: env.nodeName,
      socketPath,
      providerDir: env.providerDir,
      kubeconfig: env.lab.kubeconfig,
    });
    const info = await new KubeletStandIn({
      kube: env.kube,
      nodeName: env.nodeName,
      driverSocket: socketPath,
      rootDir: env.kubeletRoot,
    }).call<{
      nodeId: string;
    }>('nodeGetInfo', {});
    expect(info.nodeId).toBe(env.nodeName);
    expect(await driver.stop()).toBe(0);
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  it('prints its version as JSON', () => {
    const out = execFileSync(process.execPath, [DRIVER_MAIN, '--version'], { encoding: 'utf8' });
    expect(JSON.parse(out)).toMatchObject({
      version: expect.stringMatching(/^v\d+\.\d+\.\d+/),
      runtime: 'node',
    });
  });

  it('refuses to start without --nodeid and says so', () => {
    const result = spawnSync(process.execPath, [DRIVER_MAIN], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--nodeid is required');
  });
});

describe('the metrics endpoint', () => {
  it('serves the upstream metric names and the process metrics', async () => {
    const text = await (await fetch(env.driver.metricsUrl)).text();
    for (const name of [
      'node_publish_total',
      'node_publish_error_total',
      'node_unpublish_total',
      'process_resident_memory_bytes',
    ]) {
      expect(text).toContain(`\n${name}`);
    }
  });
});
