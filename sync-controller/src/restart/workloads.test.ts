import type { KubeObject, Pod } from '@sscsi/common';

import type { Workload } from './workloads';
import { currentPods, referencedSecrets, restartRollingOut, selectorQuery, workloadView } from './workloads';

const owner = (uid: string) => [{ apiVersion: 'apps/v1', kind: 'X', name: 'x', uid, controller: true }];

function pod(
  name: string,
  ownerUid: string,
  labels: Record<string, string> = {},
  extra: Partial<Pod> = {},
): Pod {
  return { metadata: { name, uid: `uid-${name}`, labels, ownerReferences: owner(ownerUid) }, ...extra };
}

const workload = (
  o: Partial<Workload['metadata']> = {},
  status: Workload['status'] = { observedGeneration: 1 },
): Workload => ({
  metadata: { name: 'web', namespace: 'shop', uid: 'uid-web', generation: 1, ...o },
  status,
});

describe('currentPods', () => {
  it("takes a Deployment's pods of its newest ReplicaSet, not the ones being replaced", () => {
    const rs = (name: string, revision: string, ownerUid = 'uid-web'): KubeObject => ({
      metadata: {
        name,
        uid: `uid-${name}`,
        annotations: { 'deployment.kubernetes.io/revision': revision },
        ownerReferences: owner(ownerUid),
      },
    });
    const pods = [pod('a', 'uid-rs1'), pod('b', 'uid-rs2'), pod('c', 'uid-rs10'), pod('d', 'uid-other')];
    const replicaSets = [
      rs('rs1', '1'),
      rs('rs2', '2'),
      rs('rs10', '10'),
      rs('other', '11', 'uid-someone-else'),
    ];
    expect(currentPods('Deployment', workload(), pods, replicaSets)?.map((p) => p.metadata.name)).toEqual([
      'c',
    ]);
    expect(currentPods('Deployment', workload(), pods, [])).toEqual([]);
  });

  it("takes a StatefulSet's pods of its update revision", () => {
    const pods = [
      pod('web-0', 'uid-web', { 'controller-revision-hash': 'web-new' }),
      pod('web-1', 'uid-web', { 'controller-revision-hash': 'web-old' }),
    ];
    const sts = workload({}, { observedGeneration: 1, updateRevision: 'web-new' });
    expect(currentPods('StatefulSet', sts, pods)?.map((p) => p.metadata.name)).toEqual(['web-0']);
  });

  it("takes a DaemonSet's pods of its template generation", () => {
    const pods = [
      pod('a', 'uid-web', { 'pod-template-generation': '3' }),
      pod('b', 'uid-web', { 'pod-template-generation': '2' }),
    ];
    const ds = workload({ annotations: { 'deprecated.daemonset.template.generation': '3' } });
    expect(currentPods('DaemonSet', ds, pods)?.map((p) => p.metadata.name)).toEqual(['a']);
  });

  it('leaves out pods being deleted or finished, and pods of others', () => {
    const pods = [
      pod('a', 'uid-web'),
      pod('b', 'uid-web', {}, { status: { phase: 'Succeeded' } }),
      {
        ...pod('c', 'uid-web'),
        metadata: { ...pod('c', 'uid-web').metadata, deletionTimestamp: '2026-01-01T00:00:00Z' },
      },
      pod('d', 'uid-other'),
    ];
    expect(currentPods('DaemonSet', workload(), pods)?.map((p) => p.metadata.name)).toEqual(['a']);
  });

  it("does not know before the workload's controller has seen its latest spec", () => {
    expect(
      currentPods('StatefulSet', workload({ generation: 2 }, { observedGeneration: 1 }), []),
    ).toBeUndefined();
    expect(currentPods('StatefulSet', workload({ generation: 2 }, {}), [])).toBeUndefined();
  });
});

describe('referencedSecrets', () => {
  it('finds env, envFrom, secret and projected volumes, of containers and init containers', () => {
    expect(
      referencedSecrets({
        spec: {
          containers: [
            {
              env: [{ valueFrom: { secretKeyRef: { name: 'one' } } }, {}],
              envFrom: [{ secretRef: { name: 'two' } }, {}],
            },
          ],
          initContainers: [{ envFrom: [{ secretRef: { name: 'three' } }] }],
          volumes: [
            { secret: { secretName: 'four' } },
            { projected: { sources: [{ secret: { name: 'five' } }, {}] } },
            {},
          ],
        },
      }),
    ).toEqual(['five', 'four', 'one', 'three', 'two']);
    expect(referencedSecrets(undefined)).toEqual([]);
  });
});

describe('selectorQuery', () => {
  it('writes matchLabels and matchExpressions as a label selector', () => {
    expect(
      selectorQuery({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'x', operator: 'NotIn', values: ['c'] },
          { key: 'y', operator: 'Exists' },
          { key: 'z', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,tier in (a,b),x notin (c),y,!z');
  });

  it('selects nothing from an empty or missing selector (not every pod of the namespace)', () => {
    expect(selectorQuery({})).toBeUndefined();
    expect(selectorQuery(undefined)).toBeUndefined();
  });
});

describe('restartRollingOut', () => {
  const at = 'kubectl.kubernetes.io/restartedAt';
  const pod = (restartedAt?: string): Pod => ({
    metadata: { name: 'p', annotations: restartedAt === undefined ? {} : { [at]: restartedAt } },
  });
  const asked = (restartedAt?: string): Workload => ({
    metadata: { name: 'web' },
    spec: { template: { metadata: { annotations: restartedAt === undefined ? {} : { [at]: restartedAt } } } },
  });
  it('says whether a current pod still runs another restartedAt than the template asks', () => {
    expect(restartRollingOut(asked(), [pod(), pod()], at)).toBe(false);
    expect(restartRollingOut(asked('t2'), [pod('t2')], at)).toBe(false);
    expect(restartRollingOut(asked('t2'), [pod('t2'), pod('t1')], at)).toBe(true);
    expect(restartRollingOut(asked('t1'), [pod()], at)).toBe(true);
  });
});

describe('workloadView', () => {
  it('keeps the template of opted-in workloads only, and only the annotations it reads', () => {
    const w: Workload = {
      ...workload({ annotations: { keep: 'x', drop: 'y' } }),
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } } } },
    };
    expect(workloadView(w, 'opt', ['keep']).spec).toEqual({
      selector: { matchLabels: { app: 'web' } },
      template: undefined,
      paused: undefined,
    });
    expect(workloadView({ ...w, spec: { ...w.spec, paused: true } }, 'opt', []).spec?.paused).toBe(true);
    const opted = workloadView(
      { ...w, metadata: { ...w.metadata, annotations: { opt: 'yes', drop: 'y' } } },
      'opt',
      ['opt'],
    );
    expect(opted.spec?.template).toEqual({ metadata: { labels: { app: 'web' } } });
    expect(opted.metadata.annotations).toEqual({ opt: 'yes' });
  });
});
