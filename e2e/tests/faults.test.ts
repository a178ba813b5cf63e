// The faults nodes meet in production, through the whole system: the provider killed with mounts
// in flight, the driver restarted with volumes mounted, AWS throttling, the API server going away.
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type * as grpc from '@grpc/grpc-js';
import type { Pod } from '@sscsi/common';
import { Status } from '@sscsi/common';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  eventually,
  mountsUnder,
  REPO_ROOT,
} from '../src';
import { systemSuite } from './system-suite';

const CALL_TIMEOUT_MS = 15_000;
const suite = systemSuite('faults', { runKubelet: false, callTimeoutMs: CALL_TIMEOUT_MS });
const { sfx, ns } = suite;
const SECRET = `fault-${sfx}`;
let podCount = 0;

const lab = (...args: string[]) =>
  execFileSync(path.join(REPO_ROOT, 'e2e', 'lab', 'lab.sh'), args, { stdio: 'pipe' });

async function newPod(serviceAccountName = 'app'): Promise<Pod> {
  return suite.createPod(`app-${++podCount}`, serviceAccountName, 'db');
}

// Mounts of one identity share one read of a secret (the provider's shared answers): the test that
// needs several reads in flight gives each pod a ServiceAccount of its own.
const OWN_IDENTITIES = ['app-a', 'app-b', 'app-c'];

const read = (p: Pod) => fs.readFileSync(path.join(suite.system.kubelet.targetPath(p, 'v'), SECRET), 'utf8');

beforeAll(async () => {
  await suite.aws.secretsManager.send(new CreateSecretCommand({ Name: SECRET, SecretString: 'v1' }));
  const roleArn = await createRole(suite.aws.iam, `faults-${sfx}`, [
    { Effect: 'Allow', Action: ['secretsmanager:*'], Resource: ['*'] },
  ]);
  for (const sa of ['app', ...OWN_IDENTITIES]) await createServiceAccount(suite.system.kube, ns, sa, roleArn);
  await createSecretProviderClass(suite.system.kube, ns, 'db', {
    provider: 'aws',
    parameters: { objects: `- {objectName: ${SECRET}, objectType: secretsmanager}` },
  });
});

describe('faults', () => {
  // A test that fails midway must not leave its fault to the next one.
  afterEach(async () => {
    await suite.system.gate.clearFaults();
  });

  it('the provider killed with mounts in flight: clear errors, nothing left mounted, the next publish works after its restart', async () => {
    await suite.system.gate.resetCounts();
    await suite.system.gate.inject({
      service: 'secretsmanager',
      operation: 'GetSecretValue',
      kind: 'latency',
      latencyMs: 4000,
    });
    const pods = await Promise.all(OWN_IDENTITIES.map((sa) => newPod(sa)));
    const prepared = await Promise.all(pods.map((p) => suite.system.kubelet.preparePublish(p, 'v')));
    const inFlight = prepared.map((p) =>
      suite.system.kubelet.sendPublish(p).then(
        () => undefined,
        (err: grpc.ServiceError) => err,
      ),
    );
    // All three mounts are in flight once AWS has seen their reads (each held there by the latency).
    await eventually(
      'the three mounts to reach AWS',
      async () =>
        (await suite.system.gate.count('secretsmanager', 'GetSecretValue')) >= 3 ? true : undefined,
      10_000,
      50,
    );
    await suite.system.provider.kill();
    const errors = await Promise.all(inFlight);
    for (const err of errors) {
      expect(err).toBeDefined();
      expect([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED]).toContain(err?.code);
      expect(err?.details).toMatch(/provider "aws"|Deadline exceeded/);
    }
    await eventually(
      'no mount left',
      () => (mountsUnder(suite.system.kubeletRoot).length === 0 ? true : undefined),
      10_000,
    );
    await suite.system.gate.clearFaults();
    await suite.system.restartProvider();
    const next = await newPod();
    await suite.system.kubelet.publish(next);
    expect(read(next)).toBe('v1');
  });

  it('the driver restarted with volumes mounted: the files stay and rotation resumes', async () => {
    const p = await newPod();
    await suite.system.kubelet.publish(p);
    await suite.system.restartDriver();
    expect(read(p)).toBe('v1');
    expect(mountsUnder(suite.system.kubelet.targetPath(p, 'v'))).toHaveLength(1);
    await suite.aws.secretsManager.send(new PutSecretValueCommand({ SecretId: SECRET, SecretString: 'v2' }));
    // The first republish after a restart asks the provider at once, with the versions recorded.
    await suite.system.kubelet.publish(p);
    expect(read(p)).toBe('v2');
  });

  it('AWS throttling for a while: the mount succeeds after retries, within the kubelet deadline', async () => {
    await suite.system.gate.resetCounts();
    await suite.system.gate.inject({
      service: 'secretsmanager',
      operation: 'GetSecretValue',
      kind: 'throttle',
      times: 3,
    });
    const p = await newPod();
    const started = Date.now();
    await suite.system.kubelet.publish(p);
    expect(Date.now() - started).toBeLessThan(CALL_TIMEOUT_MS);
    expect(await suite.system.gate.count('secretsmanager', 'GetSecretValue')).toBe(4);
    expect(read(p)).toBe('v2');
  });

  it('the API server stopped and started: publish fails cleanly, then works', async () => {
    const p = await newPod();
    const prepared = await suite.system.kubelet.preparePublish(p, 'v');
    lab('stop', 'kube-apiserver');
    try {
      const err = await suite.system.kubelet.sendPublish(prepared).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err).toBeDefined();
      expect(err?.details).toMatch(/ECONNREFUSED|API server/);
      expect(mountsUnder(suite.system.kubelet.targetPath(p, 'v'))).toEqual([]);
    } finally {
      lab('start', 'kube-apiserver');
    }
    await eventually(
      'the publish to work again',
      () => suite.system.kubelet.sendPublish(prepared).then(() => true),
      60_000,
      1000,
    );
    expect(read(p)).toBe('v2');
  });
});
