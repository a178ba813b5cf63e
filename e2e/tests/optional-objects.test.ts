// Optional objects (driver #567) through the whole system: the driver, the AWS provider and the
// lab's AWS gate enforcing IAM. A missing optional object (not found, a secret scheduled for
// deletion, a parameter deleted) does not fail the mount or the rotation; its file is absent or
// removed, and the miss shows in the SecretProviderClassPodStatus, a pod Event and the provider's
// metric. Access denied is never missing.
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  RestoreSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import type * as grpc from '@grpc/grpc-js';
import type { Pod, SecretProviderClassPodStatus } from '@sscsi/common';
import { Resources, resourcePath, Status } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

import {
  createRole,
  createSecretProviderClass,
  createServiceAccount,
  DEMO_REGION,
  eventually,
  LAB_ACCOUNT,
  metricValue,
  podEvents,
} from '../src';
import { systemSuite } from './system-suite';

const POLL = '2s';
const suite = systemSuite('opt', { runKubelet: false, rotationPollInterval: POLL });
const { sfx, ns } = suite;
const DB = `opt-db-${sfx}`;
const FLAG = `opt-flag-${sfx}`;
const ABSENT = `opt-absent-${sfx}`;
const OUTSIDE = `other-${sfx}`;
const EXTRA = `/opt-${sfx}/extra`;
const NO_PARAM = `/opt-${sfx}/none`;
let podCount = 0;

const objects = [
  `- {objectName: ${DB}, objectType: secretsmanager, objectAlias: db}`,
  `- {objectName: ${FLAG}, objectType: secretsmanager, objectAlias: flag, optional: true}`,
  `- {objectName: ${ABSENT}, objectType: secretsmanager, objectAlias: absent, optional: true}`,
  `- {objectName: "${EXTRA}", objectType: ssmparameter, objectAlias: extra, optional: true}`,
  `- {objectName: "${NO_PARAM}", objectType: ssmparameter, objectAlias: none, optional: true}`,
].join('\n');

/** The files in the volume, skipping the writer's own `..` entries. */
const filesIn = (dir: string) =>
  Object.fromEntries(
    fs
      .readdirSync(dir)
      .filter((f) => !f.startsWith('..'))
      .map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]),
  );

async function podStatus(pod: Pod, spc: string): Promise<Record<string, string>> {
  const status = await suite.system.kube.get<SecretProviderClassPodStatus>(
    resourcePath(Resources.secretProviderClassPodStatuses, ns, `${pod.metadata.name}-${ns}-${spc}`),
  );
  return Object.fromEntries((status.status?.objects ?? []).map((o) => [o.id, o.version]));
}

const missingEvents = async (pod: Pod) =>
  (await podEvents(suite.system.kube, pod))
    .filter((e) => e.reason === 'OptionalObjectMissing')
    .map((e) => e.message ?? '');

async function publishedPod(spc: string): Promise<{ pod: Pod; dir: string }> {
  const pod = await suite.createPod(`p${++podCount}`, 'app', spc);
  const [call] = await suite.system.kubelet.publish(pod);
  return { pod, dir: call?.targetPath ?? '' };
}

beforeAll(async () => {
  const { secretsManager, ssm, iam } = suite.aws;
  for (const [name, value] of [
    [DB, 'db-password'],
    [FLAG, 'flag-on'],
    [OUTSIDE, 'not for this role'],
  ])
    await secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  await ssm.send(new PutParameterCommand({ Name: EXTRA, Value: 'extra-value', Type: 'SecureString' }));
  // `opt-*-<sfx>*`, not `...-*`: a secret that does not exist is judged on the ARN of its name,
  // without the suffix AWS adds; a policy that does not cover it answers AccessDenied, not missing.
  const reader = await createRole(iam, `opt-reader-${sfx}`, [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: `arn:aws:secretsmanager:${DEMO_REGION}:${LAB_ACCOUNT}:secret:opt-*-${sfx}*`,
    },
    {
      Effect: 'Allow',
      Action: 'ssm:GetParameters',
      Resource: `arn:aws:ssm:${DEMO_REGION}:${LAB_ACCOUNT}:parameter/opt-${sfx}/*`,
    },
  ]);
  await createServiceAccount(suite.system.kube, ns, 'app', reader);
  await createSecretProviderClass(suite.system.kube, ns, 'optional', {
    provider: 'aws',
    parameters: { objects },
  });
  await createSecretProviderClass(suite.system.kube, ns, 'denied', {
    provider: 'aws',
    parameters: {
      objects: `${objects}\n- {objectName: ${OUTSIDE}, objectType: secretsmanager, optional: true}`,
    },
  });
});

describe('optional objects', () => {
  it('a first mount without two of them: the pod starts, their files are absent, the miss is recorded', async () => {
    const before = await metricValue(
      suite.system.provider.metricsUrl,
      'aws_provider_optional_objects_missing_total',
    );
    const { pod, dir } = await publishedPod('optional');
    expect(filesIn(dir)).toEqual({ db: 'db-password', flag: 'flag-on', extra: 'extra-value' });
    expect(await podStatus(pod, 'optional')).toMatchObject({ absent: 'missing', none: 'missing' });
    const events = await eventually('the OptionalObjectMissing events', async () => {
      const messages = await missingEvents(pod);
      return messages.length >= 2 ? messages : undefined;
    });
    expect(events.sort()).toEqual([
      `optional object "${NO_PARAM}" (ssmparameter) is missing in ${DEMO_REGION} (ParameterNotFound): the volume has no file "none"`,
      `optional object "${ABSENT}" (secretsmanager) is missing in ${DEMO_REGION} (ResourceNotFoundException): the volume has no file "absent"`,
    ]);
    expect(
      await metricValue(suite.system.provider.metricsUrl, 'aws_provider_optional_objects_missing_total'),
    ).toBeGreaterThanOrEqual(before + 2);
  });

  it('access denied to an optional object is not missing: the mount fails as for any object', async () => {
    const pod = await suite.createPod(`p${++podCount}`, 'app', 'denied');
    const err = await suite.system.kubelet.publish(pod).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(Status.PERMISSION_DENIED);
    expect(err?.details).toContain('AccessDeniedException');
    expect(err?.details).toContain(OUTSIDE);
  });

  it('rotation: a secret scheduled for deletion and a deleted parameter lose their files, and come back', async () => {
    const { pod, dir } = await publishedPod('optional');
    expect(filesIn(dir)).toMatchObject({ flag: 'flag-on', extra: 'extra-value' });
    await suite.aws.secretsManager.send(new DeleteSecretCommand({ SecretId: FLAG, RecoveryWindowInDays: 7 }));
    await suite.aws.ssm.send(new DeleteParameterCommand({ Name: EXTRA }));
    await eventually(
      'a rotation that removes the files',
      async () => {
        await suite.system.kubelet.publish(pod);
        const files = filesIn(dir);
        return !('flag' in files) && !('extra' in files) ? true : undefined;
      },
      30_000,
      1000,
    );
    expect(filesIn(dir)).toEqual({ db: 'db-password' });
    expect(await podStatus(pod, 'optional')).toMatchObject({ flag: 'missing', extra: 'missing' });
    const removed = await eventually('the events of the removal', async () => {
      const messages = (await missingEvents(pod)).filter((m) => m.includes('was removed'));
      return messages.length >= 2 ? messages : undefined;
    });
    expect(removed.sort()).toEqual([
      `optional object "${EXTRA}" (ssmparameter) is missing in ${DEMO_REGION} (ParameterNotFound): its file "extra" was removed from the volume`,
      `optional object "${FLAG}" (secretsmanager) is missing in ${DEMO_REGION} (InvalidRequestException): its file "flag" was removed from the volume`,
    ]);

    await suite.aws.secretsManager.send(new RestoreSecretCommand({ SecretId: FLAG }));
    await suite.aws.ssm.send(
      new PutParameterCommand({ Name: EXTRA, Value: 'extra-again', Type: 'SecureString' }),
    );
    await eventually(
      'a rotation that brings them back',
      async () => {
        await suite.system.kubelet.publish(pod);
        return filesIn(dir).extra === 'extra-again' && 'flag' in filesIn(dir) ? true : undefined;
      },
      30_000,
      1000,
    );
    expect(filesIn(dir)).toEqual({ db: 'db-password', flag: 'flag-on', extra: 'extra-again' });
    expect(await podStatus(pod, 'optional')).not.toMatchObject({ flag: 'missing' });
  });
});
