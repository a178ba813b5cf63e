import { parseOptIn, RESTART_ON_ROTATION_ANNOTATION } from '@sscsi/common';

import { readDocuments } from './documents';
import { formatFinding } from './findings';
import { lintDocuments } from './lint';

const OPT_IN = RESTART_ON_ROTATION_ANNOTATION;

/** The lines printed for one file of YAML documents. */
function lint(...documents: string[]): string[] {
  const { documents: read, findings } = readDocuments('app.yaml', documents.join('---\n'));
  return [...findings, ...lintDocuments(read)].map(formatFinding);
}

const CLASS = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: db
spec:
  provider: aws
  secretObjects:
    - secretName: db-env
      type: Opaque
      data:
        - objectName: MyDBSecret
          key: password
  parameters:
    objects: |
      - objectName: "MyDBSecret"
        objectType: "secretsmanager"
`;

const MOUNTS = `      volumes:
        - name: secrets
          csi:
            driver: secrets-store.csi.k8s.io
            readOnly: true
            volumeAttributes:
              secretProviderClass: db
      containers:
        - name: app
          image: busybox
`;

const envFrom = (secret: string) => `      containers:
        - name: app
          image: busybox
          envFrom:
            - secretRef:
                name: ${secret}
`;

/** A workload of `kind` (apps/v1) with the annotation `value` (YAML as written) and a pod spec. */
const workload = (kind: string, value: string | undefined, spec = MOUNTS, templateValue?: string) =>
  [
    'apiVersion: apps/v1',
    `kind: ${kind}`,
    'metadata:',
    '  name: app',
    ...(value === undefined ? [] : ['  annotations:', `    ${OPT_IN}: ${value}`]),
    'spec:',
    '  template:',
    ...(templateValue === undefined
      ? []
      : ['    metadata:', '      annotations:', `        ${OPT_IN}: ${templateValue}`]),
    '    spec:',
    spec,
  ].join('\n');

describe('the restart-on-rotation opt-in', () => {
  it.each(['Deployment', 'StatefulSet', 'DaemonSet'])(
    'passes "true" and "false" on a %s that mounts a class, silently',
    (kind) => {
      expect(lint(CLASS, workload(kind, '"true"'))).toEqual([]);
      expect(lint(CLASS, workload(kind, '"false"'))).toEqual([]);
    },
  );

  it("refuses another value in the sync controller's own words (its Warning Event)", () => {
    const event = parseOptIn({ [OPT_IN]: 'yes' });
    expect(event.kind).toBe('invalid');
    expect(lint(CLASS, workload('Deployment', '"yes"'))).toEqual([
      `app.yaml:2: metadata.annotations.${OPT_IN}: ${event.kind === 'invalid' ? event.message : ''}`,
    ]);
    expect(lint(CLASS, workload('Deployment', '"yes"'))[0]).toContain('want "true" or "false"');
  });

  it('refuses an unquoted true: YAML makes it a boolean, which the API server refuses', () => {
    expect(lint(CLASS, workload('StatefulSet', 'true'))).toEqual([
      `app.yaml:2: metadata.annotations.${OPT_IN}: must be a string, got boolean (quote it in YAML: "true"); the API server refuses anything else`,
    ]);
  });

  it('passes a workload that reads, through envFrom, a Secret a class of the files syncs', () => {
    expect(lint(CLASS, workload('Deployment', '"true"', envFrom('db-env')))).toEqual([]);
  });

  it('passes a workload that reads the Secret of a SecretSync of the files', () => {
    const sync = [
      'apiVersion: secret-sync.x-k8s.io/v1alpha1',
      'kind: SecretSync',
      'metadata:',
      '  name: synced',
      '',
    ].join('\n');
    expect(lint(sync, workload('Deployment', '"true"', envFrom('synced')))).toEqual([]);
  });

  it('warns that a workload with nothing that rotates is never restarted', () => {
    const warning = `app.yaml:2: metadata.annotations.${OPT_IN}: warning: the pod template neither mounts a secrets-store.csi.k8s.io volume nor reads a Secret that a SecretProviderClass's secretObjects or a SecretSync in the files checked writes: nothing it uses rotates, so it is never restarted`;
    expect(lint(CLASS, workload('Deployment', '"true"', envFrom('other')))).toEqual([warning]);
    // A Secret of the same name in another namespace is not the one it reads.
    const elsewhere = CLASS.replace('  name: db\n', '  name: db\n  namespace: other\n');
    expect(lint(elsewhere, workload('Deployment', '"true"', envFrom('db-env')))).toEqual([warning]);
    // Opted out: nothing to say.
    expect(lint(CLASS, workload('Deployment', '"false"', envFrom('other')))).toEqual([]);
  });

  it('warns that it has no effect on a pod template, and says where it belongs', () => {
    expect(lint(CLASS, workload('Deployment', undefined, MOUNTS, '"true"'))).toEqual([
      `app.yaml:2: spec.template.metadata.annotations.${OPT_IN}: warning: has no effect on a pod template: it belongs on a Deployment's, StatefulSet's or DaemonSet's own metadata.annotations`,
    ]);
  });

  it.each([
    ['ReplicaSet', workload('ReplicaSet', '"true"')],
    ['Job', workload('Job', '"true"').replace('apps/v1', 'batch/v1')],
    [
      'Pod',
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  annotations:\n    ${OPT_IN}: "true"\nspec:\n  containers:\n    - name: app\n      image: busybox\n`,
    ],
  ])('warns that it has no effect on a %s, and says where it belongs', (kind, manifest) => {
    expect(lint(CLASS, manifest)).toEqual([
      `app.yaml:2: metadata.annotations.${OPT_IN}: warning: has no effect on a ${kind}: only a Deployment, StatefulSet or DaemonSet is restarted on rotation; it belongs on a Deployment's, StatefulSet's or DaemonSet's own metadata.annotations`,
    ]);
  });

  it("warns on a CronJob's job template's pod template, with its path", () => {
    const cronJob = [
      'apiVersion: batch/v1',
      'kind: CronJob',
      'metadata:',
      '  name: app',
      'spec:',
      '  jobTemplate:',
      '    spec:',
      '      template:',
      '        metadata:',
      '          annotations:',
      `            ${OPT_IN}: "true"`,
      '        spec:',
      '          containers:',
      '            - name: app',
      '              image: busybox',
      '',
    ].join('\n');
    expect(lint(cronJob)).toEqual([
      `app.yaml:1: spec.jobTemplate.spec.template.metadata.annotations.${OPT_IN}: warning: has no effect on a pod template: it belongs on a Deployment's, StatefulSet's or DaemonSet's own metadata.annotations`,
    ]);
  });
});
