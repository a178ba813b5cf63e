// The charts and the AWS provider installer in the lab's cluster, as an operator installs them: the
// API server accepts the CRDs, the CSIDriver and everything either chart renders; the article's install
// commands work, grant what they should, and uninstall cleanly.
import fs from 'node:fs';

import type { CSIDriverManifest, DaemonSetManifest, Manifest } from '../src/charts';
import {
  ARTICLE_FLAGS,
  AWS_AUDIENCES,
  AWS_PROVIDER_INSTALLER,
  csiDriverOf,
  DRIVER_CHART,
  DRIVER_RELEASE,
  INSTALLER_NAME,
  labTool,
  mustRun,
  PROVIDER_CHART,
  PROVIDER_RELEASE,
  renderChart,
  renderDriver,
  SYSTEM_NAMESPACE,
} from '../src/charts';
import { CRD_DIR } from '../src/cluster';
import { ContainerLogKeeper } from '../src/container-logs';
import { DRIVER_NAME } from '../src/kubelet-standin';
import { eventually, requireLab, uniqueSuffix } from '../src/lab';

const lab = requireLab();

const DRIVER_SA = `system:serviceaccount:${SYSTEM_NAMESPACE}:secrets-store-csi-driver`;
const CRD_NAMES = [
  'secretproviderclasses.secrets-store.csi.x-k8s.io',
  'secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io',
];
const DRIVER_CLUSTER_ROLES = [
  'secretproviderclasses-role',
  'secretprovidersyncing-role',
  'secretproviderclasses-admin-role',
  'secretproviderclasses-viewer-role',
  'secretproviderclasspodstatuses-viewer-role',
];

/** `kubectl auth can-i` as someone: true for "yes", false for "no"; anything else throws. */
function canI(as: string, verb: string, resource: string, namespace?: string, subresource?: string): boolean {
  const args = ['auth', 'can-i', verb, resource, `--as=${as}`];
  args.push(...(namespace ? ['--namespace', namespace] : ['--all-namespaces']));
  if (subresource) args.push(`--subresource=${subresource}`);
  const result = labTool(lab, 'kubectl', args);
  const answer = result.stdout.trim();
  if (answer === 'yes' && result.status === 0) return true;
  if (answer === 'no' && result.status === 1) return false;
  throw new Error(`kubectl ${args.join(' ')}: ${result.status} ${result.stdout}${result.stderr}`);
}

function getJson<T>(args: string[]): T {
  return JSON.parse(mustRun(lab, 'kubectl', [...args, '-o', 'json'])) as T;
}

function exists(kind: string, name: string, namespace?: string): boolean {
  const args = ['get', kind, name, '--ignore-not-found', '-o', 'name'];
  if (namespace) args.push('--namespace', namespace);
  return mustRun(lab, 'kubectl', args).trim() !== '';
}

/** Removes a CSIDriver that another test created (not Helm's), so that Helm can own the name. */
function deleteCsiDriverNotFromHelm(): void {
  if (!exists('csidriver', DRIVER_NAME)) return;
  const current = getJson<Manifest>(['get', 'csidriver', DRIVER_NAME]);
  const owner = current.metadata.annotations?.['meta.helm.sh/release-name'];
  if (owner && owner !== DRIVER_RELEASE) {
    throw new Error(
      `CSIDriver ${DRIVER_NAME} belongs to Helm release ${owner}: uninstall it before the tests`,
    );
  }
  if (!owner) mustRun(lab, 'kubectl', ['delete', 'csidriver', DRIVER_NAME, '--wait=true']);
}

function uninstallReleases(): void {
  for (const release of [PROVIDER_RELEASE, DRIVER_RELEASE]) {
    const result = labTool(lab, 'helm', ['uninstall', release, '--namespace', SYSTEM_NAMESPACE, '--wait']);
    if (result.status !== 0 && !/not found/i.test(result.stderr)) {
      throw new Error(`helm uninstall ${release}: ${result.stderr}`);
    }
  }
  labTool(lab, 'kubectl', ['delete', '-f', AWS_PROVIDER_INSTALLER, '--ignore-not-found', '--wait=true']);
}

describe('the charts in the lab', () => {
  const namespace = `charts-${uniqueSuffix()}`;
  // With the real node the charts' pods run there, and their logs go with them: kept for the log audit.
  const containerLogs = new ContainerLogKeeper();

  // Another test file's CSIDriver, put back at the end for whoever runs beside these tests.
  let othersCsiDriver: CSIDriverManifest | undefined;

  beforeAll(() => {
    containerLogs.start();
    uninstallReleases();
    if (exists('csidriver', DRIVER_NAME)) {
      const current = getJson<CSIDriverManifest>(['get', 'csidriver', DRIVER_NAME]);
      if (!current.metadata.annotations?.['meta.helm.sh/release-name']) othersCsiDriver = current;
    }
    mustRun(lab, 'kubectl', ['create', 'namespace', namespace]);
  });

  afterAll(() => {
    uninstallReleases();
    // The CSIDriver this file applied without Helm, if a failure left it.
    if (exists('csidriver', DRIVER_NAME)) {
      const current = getJson<CSIDriverManifest>(['get', 'csidriver', DRIVER_NAME]);
      if (current.metadata.managedFields?.some((f) => f.manager === 'charts-test')) {
        mustRun(lab, 'kubectl', ['delete', 'csidriver', DRIVER_NAME, '--wait=true']);
      }
    }
    if (othersCsiDriver && !exists('csidriver', DRIVER_NAME)) {
      const { name, labels } = othersCsiDriver.metadata;
      const body = { ...othersCsiDriver, metadata: { name, labels } };
      labTool(lab, 'kubectl', ['create', '-f', '-'], JSON.stringify(body));
    }
    labTool(lab, 'kubectl', ['delete', 'namespace', namespace, '--wait=false']);
    containerLogs.stop();
  });

  it('applies the CRDs and the CSIDriver for real; the CRD schemas then validate SPC and SPCPS objects', () => {
    mustRun(lab, 'kubectl', ['apply', '--server-side', '--force-conflicts', '-f', CRD_DIR]);
    mustRun(lab, 'kubectl', [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...CRD_NAMES.map((n) => `crd/${n}`),
    ]);
    deleteCsiDriverNotFromHelm();
    const rendered = csiDriverOf(renderDriver(lab, ARTICLE_FLAGS));
    mustRun(
      lab,
      'kubectl',
      ['apply', '--server-side', '--field-manager=charts-test', '-f', '-'],
      JSON.stringify(rendered),
    );
    const live = getJson<CSIDriverManifest>(['get', 'csidriver', DRIVER_NAME]);
    expect(live.spec).toMatchObject(rendered.spec);

    // The article's SecretProviderClass, as written there.
    const articleSpc = [
      'apiVersion: secrets-store.csi.x-k8s.io/v1',
      'kind: SecretProviderClass',
      'metadata:',
      '  name: my-db-secret',
      `  namespace: ${namespace}`,
      'spec:',
      '  provider: aws',
      '  parameters:',
      '    objects: |',
      '      - objectName: "MyDBSecret"',
      '        objectType: "secretsmanager"',
      '  secretObjects:',
      '    - secretName: my-db-secret',
      '      type: Opaque',
      '      data:',
      '        - objectName: MyDBSecret',
      '          key: credentials',
      '',
    ].join('\n');
    mustRun(lab, 'kubectl', ['apply', '--server-side', '-f', '-'], articleSpc);
    const spc = getJson<{ spec: Record<string, unknown> }>([
      'get',
      'secretproviderclass',
      'my-db-secret',
      '-n',
      namespace,
    ]);
    expect(spc.spec).toEqual({
      provider: 'aws',
      parameters: { objects: '- objectName: "MyDBSecret"\n  objectType: "secretsmanager"\n' },
      secretObjects: [
        {
          secretName: 'my-db-secret',
          type: 'Opaque',
          data: [{ objectName: 'MyDBSecret', key: 'credentials' }],
        },
      ],
    });

    const badValue = labTool(
      lab,
      'kubectl',
      ['create', '-f', '-'],
      articleSpc
        .replace('my-db-secret\n  namespace', 'bad-value\n  namespace')
        .replace(/objects: \|\n.*\n.*\n/, 'objects: 5\n'),
    );
    expect(badValue.status).not.toBe(0);
    expect(badValue.stderr).toMatch(/spec\.parameters\.objects.*must be of type string/);

    const unknownField = labTool(
      lab,
      'kubectl',
      ['create', '-f', '-'],
      articleSpc
        .replace('my-db-secret\n  namespace', 'unknown-field\n  namespace')
        .replace('  provider: aws', '  provider: aws\n  providr: aws'),
    );
    expect(unknownField.status).not.toBe(0);
    expect(unknownField.stderr).toMatch(/unknown field "spec\.providr"/);

    const deprecated = labTool(
      lab,
      'kubectl',
      ['apply', '--server-side', '-f', '-'],
      articleSpc
        .replace('secrets-store.csi.x-k8s.io/v1', 'secrets-store.csi.x-k8s.io/v1alpha1')
        .replace('my-db-secret\n  namespace', 'old-version\n  namespace'),
    );
    expect(deprecated.status).toBe(0);
    expect(deprecated.stderr).toMatch(/v1alpha1 SecretProviderClass is deprecated/);

    const podStatus = {
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClassPodStatus',
      metadata: {
        name: `sample-app-${namespace}-my-db-secret`,
        namespace,
        labels: { 'internal.secrets-store.csi.k8s.io/node-name': 'node-a' },
      },
      status: {
        podName: 'sample-app',
        secretProviderClassName: 'my-db-secret',
        mounted: true,
        targetPath: '/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/secrets-store-inline/mount',
        objects: [{ id: 'MyDBSecret', version: 'v1' }],
      },
    };
    mustRun(lab, 'kubectl', ['apply', '--server-side', '-f', '-'], JSON.stringify(podStatus));
    const table = mustRun(lab, 'kubectl', ['get', 'secretproviderclasspodstatuses', '-n', namespace]);
    const [header, row] = table
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/));
    expect(header).toEqual(['NAME', 'POD', 'SECRETPROVIDERCLASS', 'MOUNTED', 'AGE']);
    expect(row?.slice(0, 4)).toEqual([podStatus.metadata.name, 'sample-app', 'my-db-secret', 'true']);

    const badStatus = labTool(
      lab,
      'kubectl',
      ['create', '-f', '-'],
      JSON.stringify({
        ...podStatus,
        metadata: { ...podStatus.metadata, name: 'bad' },
        status: { ...podStatus.status, mounted: 'yes' },
      }),
    );
    expect(badStatus.status).not.toBe(0);
    expect(badStatus.stderr).toMatch(/status\.mounted.*must be of type boolean/);
  });

  it('passes a server-side dry-run of everything either chart renders, and of the installer', () => {
    const renderings: Array<{ what: string; text: string }> = [
      {
        what: 'driver defaults',
        text: renderChart(lab, DRIVER_CHART, {
          release: DRIVER_RELEASE,
          namespace: SYSTEM_NAMESPACE,
          includeCrds: true,
        }).text,
      },
      {
        what: 'driver, article flags',
        text: renderChart(lab, DRIVER_CHART, {
          release: DRIVER_RELEASE,
          namespace: SYSTEM_NAMESPACE,
          set: ARTICLE_FLAGS,
        }).text,
      },
      {
        what: 'driver, every option',
        text: renderChart(lab, DRIVER_CHART, {
          release: DRIVER_RELEASE,
          namespace: SYSTEM_NAMESPACE,
          set: {
            ...ARTICLE_FLAGS,
            providerHealthCheck: 'true',
            logVerbosity: '4',
            logFormatJSON: 'true',
            rotationPollInterval: '1m',
            'linux.priorityClassName': 'system-node-critical',
          },
          setJson: {
            'linux.env': [{ name: 'EXTRA', value: 'x' }],
            'linux.volumes': [{ name: 'extra', emptyDir: {} }],
            'linux.volumeMounts': [{ name: 'extra', mountPath: '/extra' }],
            imagePullSecrets: [{ name: 'registry' }],
          },
        }).text,
      },
      {
        what: 'provider defaults',
        text: renderChart(lab, PROVIDER_CHART, { release: PROVIDER_RELEASE, namespace: SYSTEM_NAMESPACE })
          .text,
      },
      {
        what: 'provider writes files',
        text: renderChart(lab, PROVIDER_CHART, {
          release: PROVIDER_RELEASE,
          namespace: SYSTEM_NAMESPACE,
          set: {
            driverWritesSecrets: 'false',
            awsRegion: 'eu-west-1',
            useFipsEndpoint: 'true',
            'k8sThrottlingParams.qps': '20',
          },
          setJson: { env: [{ name: 'AWS_ENDPOINT_URL', value: 'http://127.0.0.1:15000' }] },
        }).text,
      },
      { what: 'installer', text: fs.readFileSync(AWS_PROVIDER_INSTALLER, 'utf8') },
    ];
    for (const { what, text } of renderings) {
      const result = labTool(
        lab,
        'kubectl',
        [
          'apply',
          '--server-side',
          '--force-conflicts',
          '--dry-run=server',
          '--field-manager=charts-dry-run',
          '-f',
          '-',
        ],
        text,
      );
      expect({ what, status: result.status, stderr: result.stderr }).toEqual({ what, status: 0, stderr: '' });
      expect(result.stdout).toMatch(/serverside-applied \(server dry run\)/);
    }
    // Nothing was created by the dry runs.
    expect(exists('clusterrole', 'secretproviderclasses-role')).toBe(false);
    expect(exists('daemonset', INSTALLER_NAME, SYSTEM_NAMESPACE)).toBe(false);
  });

  it("installs the driver with the article's exact command", () => {
    deleteCsiDriverNotFromHelm();
    const out = mustRun(lab, 'helm', [
      'upgrade',
      '--install',
      DRIVER_RELEASE,
      DRIVER_CHART,
      '--namespace',
      SYSTEM_NAMESPACE,
      '--set',
      'syncSecret.enabled=true',
      '--set',
      'enableSecretRotation=true',
      '--wait',
      '--timeout',
      '90s',
    ]);
    expect(out).toMatch(/STATUS: deployed/);
    expect(out).toMatch(/Sync as Kubernetes Secret \(syncSecret\.enabled\):\s+on/);

    // The article's check: one DaemonSet labelled with the chart name in kube-system.
    const list = getJson<{ items: DaemonSetManifest[] }>([
      'get',
      'ds',
      '-n',
      SYSTEM_NAMESPACE,
      '-l',
      'app.kubernetes.io/name=secrets-store-csi-driver',
    ]);
    expect(list.items.map((d) => d.metadata.name)).toEqual(['secrets-store-csi-driver']);
    const csiDriver = getJson<CSIDriverManifest>(['get', 'csidriver', DRIVER_NAME]);
    expect(csiDriver.metadata.annotations?.['meta.helm.sh/release-name']).toBe(DRIVER_RELEASE);
    expect(csiDriver.spec.requiresRepublish).toBe(true);
    expect(csiDriver.spec.tokenRequests?.map((t) => t.audience)).toEqual(AWS_AUDIENCES);

    // What the API server now lets the driver do.
    expect(canI(DRIVER_SA, 'create', 'secrets', namespace)).toBe(true);
    expect(canI(DRIVER_SA, 'list', 'secretproviderclasses')).toBe(true);
    expect(canI(DRIVER_SA, 'update', 'secretproviderclasspodstatuses', namespace)).toBe(true);
    expect(canI(DRIVER_SA, 'create', 'serviceaccounts', namespace, 'token')).toBe(false);
    expect(canI(DRIVER_SA, 'delete', 'pods', namespace)).toBe(false);
  });

  it('folds the SPC roles into the built-in edit and view roles', async () => {
    mustRun(lab, 'kubectl', [
      'create',
      'rolebinding',
      'viewer',
      '--clusterrole=view',
      '--user=charts-viewer',
      '-n',
      namespace,
    ]);
    mustRun(lab, 'kubectl', [
      'create',
      'rolebinding',
      'editor',
      '--clusterrole=edit',
      '--user=charts-editor',
      '-n',
      namespace,
    ]);
    await eventually('the aggregated roles to reach view and edit', () =>
      canI('charts-viewer', 'list', 'secretproviderclasspodstatuses', namespace) &&
      canI('charts-editor', 'create', 'secretproviderclasses', namespace)
        ? true
        : undefined,
    );
    expect(canI('charts-viewer', 'create', 'secretproviderclasses', namespace)).toBe(false);
  });

  it('applies the AWS provider installer after the driver, as the article does, and deletes it again', () => {
    mustRun(lab, 'kubectl', ['apply', '-f', AWS_PROVIDER_INSTALLER]);
    const list = getJson<{ items: DaemonSetManifest[] }>([
      'get',
      'ds',
      '-n',
      SYSTEM_NAMESPACE,
      '-l',
      `app=${INSTALLER_NAME}`,
    ]);
    expect(list.items.map((d) => d.metadata.name)).toEqual([INSTALLER_NAME]);
    const providerSa = `system:serviceaccount:${SYSTEM_NAMESPACE}:${INSTALLER_NAME}`;
    expect(canI(providerSa, 'get', 'serviceaccounts')).toBe(true);
    expect(canI(providerSa, 'get', 'nodes')).toBe(true);
    expect(canI(providerSa, 'list', 'pods')).toBe(false);
    expect(canI(providerSa, 'get', 'secrets')).toBe(false);
    expect(canI(providerSa, 'create', 'serviceaccounts', namespace, 'token')).toBe(false);

    mustRun(lab, 'kubectl', ['delete', '-f', AWS_PROVIDER_INSTALLER, '--wait=true']);
    expect(exists('daemonset', INSTALLER_NAME, SYSTEM_NAMESPACE)).toBe(false);
    expect(exists('clusterrole', `${INSTALLER_NAME}-cluster-role`)).toBe(false);
  });

  it('installs the AWS provider chart into kube-system', () => {
    const out = mustRun(lab, 'helm', [
      'upgrade',
      '--install',
      PROVIDER_RELEASE,
      PROVIDER_CHART,
      '--namespace',
      SYSTEM_NAMESPACE,
      '--wait',
      '--timeout',
      '90s',
    ]);
    expect(out).toMatch(/STATUS: deployed/);
    const list = getJson<{ items: DaemonSetManifest[] }>([
      'get',
      'ds',
      '-n',
      SYSTEM_NAMESPACE,
      '-l',
      // Upstream's chart's label and names, which upstream's own provider tests look up.
      'app=secrets-store-csi-driver-provider-aws',
    ]);
    expect(list.items.map((d) => d.metadata.name)).toEqual([
      'csi-secrets-store-provider-aws-secrets-store-csi-driver-provide',
    ]);
    expect(
      exists('clusterrole', 'csi-secrets-store-provider-aws-secrets-store-csi-driver-provide-cluster-role'),
    ).toBe(true);
  });

  it('uninstalls both releases and leaves only the CRDs behind', () => {
    for (const release of [PROVIDER_RELEASE, DRIVER_RELEASE]) {
      mustRun(lab, 'helm', ['uninstall', release, '--namespace', SYSTEM_NAMESPACE, '--wait']);
    }
    const left = mustRun(lab, 'kubectl', [
      'get',
      'daemonsets,serviceaccounts,clusterroles,clusterrolebindings,csidrivers',
      '--all-namespaces',
      '-l',
      `app.kubernetes.io/instance in (${DRIVER_RELEASE},${PROVIDER_RELEASE})`,
      '-o',
      'name',
    ]);
    expect(left.trim()).toBe('');
    expect(exists('csidriver', DRIVER_NAME)).toBe(false);
    for (const role of DRIVER_CLUSTER_ROLES) expect(exists('clusterrole', role)).toBe(false);
    expect(exists('serviceaccount', 'secrets-store-csi-driver', SYSTEM_NAMESPACE)).toBe(false);
    const releases = mustRun(lab, 'helm', ['list', '--all', '--namespace', SYSTEM_NAMESPACE, '-q']).split(
      '\n',
    );
    expect(releases).not.toContain(DRIVER_RELEASE);
    expect(releases).not.toContain(PROVIDER_RELEASE);
    for (const crd of CRD_NAMES) expect(exists('crd', crd)).toBe(true);
  });
});
