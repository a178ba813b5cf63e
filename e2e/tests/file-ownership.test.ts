// Files for non-root readers (issue 16 item 3), through the whole node path: the kubelet stand-in
// sends the pod's fsGroup as the kubelet does (volume_mount_group, because the driver advertises
// VOLUME_MOUNT_GROUP), the driver mounts a real tmpfs, and the real AWS provider reads the secret
// through the lab's AWS gate with the pod's IRSA role, in both modes: the driver writes the files,
// or the provider writes them itself. A reader is a process of uid 1000 that sees the volume as a
// container does (the tmpfs bind-mounted in a mount namespace of its own), with the groups a pod's
// containers get.
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type * as grpc from '@grpc/grpc-js';
import type { Pod } from '@sscsi/common';
import { Status } from '@sscsi/common';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { AwsProviderProcess, NodeEnvironment } from '../src';
import {
  awsAdmin,
  createPod,
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  eventually,
  mountsUnder,
  startAwsProvider,
  startNodeEnvironment,
  uniqueSuffix,
} from '../src';

const REGION = 'us-east-1';
const sfx = uniqueSuffix();
const SECRET = `ownership-${sfx}`;
const FILE = 'db-password';
const FS_GROUP = 2000;
const CLASS_GROUP = 3000;

let env: NodeEnvironment;
let admin: ReturnType<typeof awsAdmin>;
let provider: AwsProviderProcess | undefined;
let podCount = 0;
let secretValue = 'first-value';

/** The classes: files 0440, so that only root and the owning group may read them. */
const objects = `- {objectName: ${SECRET}, objectType: secretsmanager, objectAlias: ${FILE}}`;
const CLASSES: Record<string, Record<string, string>> = {
  restricted: { region: REGION, objects, defaultFilePermission: '0440' },
  'class-group': { region: REGION, objects, defaultFilePermission: '0440', fileGroup: String(CLASS_GROUP) },
  'bad-group': { region: REGION, objects, fileGroup: 'www-data' },
};

beforeAll(async () => {
  env = await startNodeEnvironment({ rotation: { pollInterval: '1s' } });
  admin = awsAdmin(env.lab, REGION);
  await admin.secretsManager.send(new CreateSecretCommand({ Name: SECRET, SecretString: secretValue }));
  const role = await createRole(admin.iam, `ownership-${sfx}`, [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: '*',
    },
  ]);
  await createServiceAccount(env.kube, env.namespace, 'app', role);
  for (const [name, parameters] of Object.entries(CLASSES))
    await createSecretProviderClass(env.kube, env.namespace, name, { provider: 'aws', parameters });
  // A provider that writes its files itself and knows nothing of groups (the lab's test provider).
  env.provider.set('token', 'test-provider-value', 'v1');
  await createSecretProviderClass(env.kube, env.namespace, 'other-provider-writes', {
    provider: 'test',
    parameters: { objects: 'token', writeMode: 'provider', defaultFilePermission: '0440' },
  });
});

afterAll(async () => {
  await env?.kubelet.unpublishAll().catch(() => undefined);
  await provider?.stop();
  admin?.destroy();
  await env?.close();
});

async function useProvider(driverWritesSecrets: boolean): Promise<void> {
  await provider?.stop();
  provider = await startAwsProvider({
    providerDir: env.providerDir,
    kubeconfig: env.lab.kubeconfig,
    awsEndpoint: env.lab.awsEndpoint,
    region: REGION,
    driverWritesSecrets,
    // Every rotation asks AWS again, rather than taking another pod's answer of the last 30 s.
    extraArgs: ['--shared-answers-window=0s'],
    name: `provider-aws-ownership-${driverWritesSecrets ? 'driver' : 'provider'}-writes`,
  });
}

async function podOf(spc: string, fsGroup?: number): Promise<Pod> {
  return createPod(env.kube, env.namespace, `reader-${++podCount}`, {
    nodeName: env.nodeName,
    serviceAccountName: 'app',
    volumes: [{ name: 'secrets', spc }],
    securityContext: {
      runAsUser: 1000,
      runAsGroup: 1000,
      ...(fsGroup === undefined ? {} : { fsGroup }),
    },
  });
}

async function published(spc: string, fsGroup?: number): Promise<{ pod: Pod; target: string }> {
  const pod = await podOf(spc, fsGroup);
  const [call] = await env.kubelet.publish(pod);
  return { pod, target: call?.targetPath ?? '' };
}

/**
 * Reads the file as uid 1000 with the given supplementary groups (a pod's containers get its
 * fsGroup), through a bind mount of the volume in a private mount namespace: as a container sees
 * it, without the kubelet folders above it, and with nothing left mounted when the reader exits.
 */
function readAs(target: string, groups: number[], file = FILE): { ok: boolean; out: string } {
  const view = fs.mkdtempSync(path.join(os.tmpdir(), 'ownership-view-'));
  fs.chmodSync(view, 0o755);
  fs.mkdirSync(path.join(view, 'mnt'), { mode: 0o755 });
  try {
    const res = spawnSync(
      'unshare',
      [
        '--mount',
        '--propagation=private',
        'sh',
        '-c',
        'mount --bind "$1" "$2" && exec setpriv --reuid=1000 --regid=1000 "--groups=$3" cat "$2/$4"',
        'reader',
        target,
        path.join(view, 'mnt'),
        groups.join(','),
        file,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    return { ok: res.status === 0, out: res.status === 0 ? res.stdout : res.stderr.trim() };
  } finally {
    fs.rmSync(view, { recursive: true, force: true });
  }
}

function ownership(target: string): { root: string; file: string } {
  const show = (p: string) => {
    const st = fs.statSync(p);
    return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
  };
  return { root: show(target), file: show(path.join(target, FILE)) };
}

describe.each([
  ['the driver writes the files', true],
  ['the provider writes the files (--driver-writes-secrets=false)', false],
])('%s', (_mode, driverWritesSecrets) => {
  beforeAll(() => useProvider(driverWritesSecrets));

  it('without fsGroup or fileGroup the files stay root:root, and a non-root reader cannot read them', async () => {
    const { target } = await published('restricted');
    expect(ownership(target).file).toBe('0:0 0440');
    const read = readAs(target, [FS_GROUP]);
    expect(read).toEqual({ ok: false, out: expect.stringMatching(/Permission denied/) as unknown });
  });

  it("with the pod's fsGroup, the tmpfs and the files belong to it: its members read, others cannot", async () => {
    const { target } = await published('restricted', FS_GROUP);
    expect(ownership(target)).toEqual({ root: `0:${FS_GROUP} 2755`, file: `0:${FS_GROUP} 0440` });
    expect(readAs(target, [FS_GROUP])).toEqual({ ok: true, out: secretValue });
    expect(readAs(target, [FS_GROUP + 1]).ok).toBe(false);
  });

  it("a class's fileGroup serves a pod without fsGroup", async () => {
    const { target } = await published('class-group');
    expect(ownership(target).file).toBe(`0:${CLASS_GROUP} 0440`);
    expect(readAs(target, [CLASS_GROUP])).toEqual({ ok: true, out: secretValue });
    expect(readAs(target, [FS_GROUP]).ok).toBe(false);
  });

  it('rotation rewrites the files and keeps their group', async () => {
    const { pod, target } = await published('restricted', FS_GROUP);
    secretValue = `rotated-${driverWritesSecrets ? 'driver' : 'provider'}-${uniqueSuffix()}`;
    await admin.secretsManager.send(
      new PutSecretValueCommand({ SecretId: SECRET, SecretString: secretValue }),
    );
    await eventually('the rotated value in the file', async () => {
      await env.kubelet.publish(pod);
      return fs.readFileSync(path.join(target, FILE), 'utf8') === secretValue ? true : undefined;
    });
    expect(ownership(target).file).toBe(`0:${FS_GROUP} 0440`);
    expect(readAs(target, [FS_GROUP])).toEqual({ ok: true, out: secretValue });
  });
});

it("another provider writing its own files: they take the pod's fsGroup from the setgid tmpfs, with the mode it was asked for", async () => {
  const { target } = await published('other-provider-writes', FS_GROUP);
  const st = fs.statSync(path.join(target, 'token'));
  expect({ gid: st.gid, mode: st.mode & 0o777 }).toEqual({ gid: FS_GROUP, mode: 0o440 });
  expect(readAs(target, [FS_GROUP], 'token')).toEqual({ ok: true, out: 'test-provider-value' });
  expect(readAs(target, [FS_GROUP + 1], 'token').ok).toBe(false);
});

it('refuses a class whose fileGroup is not a group ID, before mounting, and leaves nothing', async () => {
  const pod = await podOf('bad-group', FS_GROUP);
  let err: grpc.ServiceError | undefined;
  try {
    await env.kubelet.publish(pod);
  } catch (e) {
    err = e as grpc.ServiceError;
  }
  expect(err?.code).toBe(Status.INVALID_ARGUMENT);
  expect(err?.details).toContain(
    `SecretProviderClass ${env.namespace}/bad-group: fileGroup must be a numeric group ID from 0 to 2147483647, got "www-data"`,
  );
  const target = env.kubelet.targetPath(pod, 'secrets');
  expect(mountsUnder(target)).toEqual([]);
  expect(fs.existsSync(target)).toBe(false);
});
