// The Helm charts and the AWS provider installer, checked the way an operator would: what the
// rendered objects say, whether the real driver accepts the flags, whether the lab's API server
// accepts everything, and whether the article's install commands work and uninstall cleanly.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type {
  ClusterRoleBindingManifest,
  ClusterRoleManifest,
  CSIDriverManifest,
  DaemonSetManifest,
  Manifest,
  RenderOptions,
} from '../src/charts';
import {
  AWS_PROVIDER_INSTALLER,
  containerOf,
  documentedValues,
  DRIVER_CHART,
  expandedArgs,
  grantsTokenCreation,
  helmArgs,
  labEnv,
  labTool,
  mustRun,
  objectOf,
  objectsOfKind,
  parseManifests,
  parseValuesStrictly,
  PROVIDER_CHART,
  RENDER_INSTALLER_SCRIPT,
  renderChart,
  run,
  undocumentedOrMissingValues,
} from '../src/charts';
import { ContainerLogKeeper } from '../src/container-logs';
import { eventually, REPO_ROOT, requireLab, uniqueSuffix } from '../src/lab';

const lab = requireLab();

const DRIVER_NAME = 'secrets-store.csi.k8s.io';
const DRIVER_RELEASE = 'secrets-store-csi-driver';
const PROVIDER_RELEASE = 'csi-secrets-store-provider-aws';
const SYSTEM_NAMESPACE = 'kube-system';
const AWS_AUDIENCES = ['sts.amazonaws.com', 'pods.eks.amazonaws.com'];
/** The article's `--set` flags. */
const ARTICLE_FLAGS = { 'syncSecret.enabled': 'true', enableSecretRotation: 'true' };
const DRIVER_SA = `system:serviceaccount:${SYSTEM_NAMESPACE}:secrets-store-csi-driver`;
const INSTALLER_NAME = 'csi-secrets-store-provider-aws';
const CRD_DIR = path.join(DRIVER_CHART, 'crds');
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
const DRIVER_MAIN = path.join(REPO_ROOT, 'driver', 'dist', 'main.js');
const PROVIDER_MAIN = path.join(REPO_ROOT, 'provider-aws', 'dist', 'main.js');

function renderDriver(set: Record<string, string> = {}, o: Partial<RenderOptions> = {}): Manifest[] {
  return renderChart(lab, DRIVER_CHART, { release: DRIVER_RELEASE, namespace: SYSTEM_NAMESPACE, set, ...o })
    .objects;
}

function renderProvider(set: Record<string, string> = {}, o: Partial<RenderOptions> = {}): Manifest[] {
  return renderChart(lab, PROVIDER_CHART, {
    release: PROVIDER_RELEASE,
    namespace: SYSTEM_NAMESPACE,
    set,
    ...o,
  }).objects;
}

function csiDriverOf(objects: Manifest[]): CSIDriverManifest {
  return objectOf<CSIDriverManifest>(objects, 'CSIDriver', DRIVER_NAME);
}

function driverDaemonSet(objects: Manifest[]): DaemonSetManifest {
  return objectOf<DaemonSetManifest>(objects, 'DaemonSet', 'secrets-store-csi-driver');
}

function providerDaemonSet(objects: Manifest[]): DaemonSetManifest {
  return objectOf<DaemonSetManifest>(objects, 'DaemonSet');
}

/** Every rule of every ClusterRole and Role, with the role's name. */
function rulesOf(objects: Manifest[]): Array<{ role: string; resources: string[]; verbs: string[] }> {
  const roles = [
    ...objectsOfKind<ClusterRoleManifest>(objects, 'ClusterRole'),
    ...objectsOfKind<ClusterRoleManifest>(objects, 'Role'),
  ];
  return roles.flatMap((role) =>
    (role.rules ?? []).map((rule) => ({
      role: role.metadata.name,
      resources: rule.resources ?? [],
      verbs: rule.verbs,
    })),
  );
}

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

describe.each([
  { chart: 'secrets-store-csi-driver', dir: DRIVER_CHART },
  { chart: 'secrets-store-csi-driver-provider-aws', dir: PROVIDER_CHART },
])('the values of $chart', ({ dir }) => {
  it('parse without a key given twice', () => {
    expect(() => parseValuesStrictly(mustRun(lab, 'helm', ['show', 'values', dir]))).not.toThrow();
    // The check itself notices a repeated key, which Helm accepts silently.
    expect(() => parseValuesStrictly('nameOverride: a\nfullnameOverride: b\nnameOverride: c\n')).toThrow(
      /unique/,
    );
  });

  it('are exactly the values its README documents', () => {
    const values = parseValuesStrictly(mustRun(lab, 'helm', ['show', 'values', dir]));
    const documented = documentedValues(fs.readFileSync(path.join(dir, 'README.md'), 'utf8'));
    expect(documented.length).toBeGreaterThan(20);
    expect(undocumentedOrMissingValues(values, documented)).toEqual({ missing: [], undocumented: [] });
    // The check itself tells a documented value the chart lacks, and a value the README omits.
    expect(undocumentedOrMissingValues({ a: { b: 1 }, c: 2 }, ['a.x', 'd'])).toEqual({
      missing: ['a.x', 'd'],
      undocumented: ['a.b', 'c'],
    });
  });
});

describe('the secrets-store-csi-driver chart', () => {
  it('passes helm lint --strict with its defaults and with the article flags', () => {
    for (const set of [{}, ARTICLE_FLAGS]) {
      const out = mustRun(lab, 'helm', [
        'lint',
        '--strict',
        DRIVER_CHART,
        ...helmArgs({ release: DRIVER_RELEASE, namespace: SYSTEM_NAMESPACE, set }),
        '--kube-version',
        '1.34.4',
      ]);
      expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('declares a CSIDriver for inline volumes that asks the kubelet for the AWS audiences by default', () => {
    const spec = csiDriverOf(renderDriver()).spec;
    expect(spec).toEqual({
      podInfoOnMount: true,
      attachRequired: false,
      volumeLifecycleModes: ['Ephemeral'],
      requiresRepublish: false,
      tokenRequests: AWS_AUDIENCES.map((audience) => ({ audience })),
    });
  });

  it.each([
    { rotation: 'true', republish: true },
    { rotation: 'false', republish: false },
  ])(
    'sets requiresRepublish=$republish and the rotation flag with enableSecretRotation=$rotation',
    ({ rotation, republish }) => {
      const objects = renderDriver({ enableSecretRotation: rotation, rotationPollInterval: '30s' });
      expect(csiDriverOf(objects).spec.requiresRepublish).toBe(republish);
      const args = containerOf(driverDaemonSet(objects), 'secrets-store').args ?? [];
      expect(args.includes('--enable-secret-rotation=true')).toBe(republish);
      expect(args).toContain('--rotation-poll-interval=30s');
    },
  );

  it.each([
    { sync: 'true', role: true },
    { sync: 'false', role: false },
  ])('has the Secret-writing role only when syncSecret.enabled=$sync', ({ sync, role }) => {
    const objects = renderDriver({ 'syncSecret.enabled': sync });
    const secretRules = rulesOf(objects).filter((r) => r.resources.includes('secrets'));
    if (role) {
      expect(secretRules).toEqual([
        {
          role: 'secretprovidersyncing-role',
          resources: ['secrets'],
          // delete: a Secret whose type changes is replaced (the type cannot be updated); no list
          // or watch: the driver reads by name only the Secrets its node's pods sync.
          verbs: ['create', 'delete', 'get', 'update'],
        },
      ]);
      const binding = objectOf<ClusterRoleBindingManifest>(
        objects,
        'ClusterRoleBinding',
        'secretprovidersyncing-rolebinding',
      );
      expect(binding.roleRef.name).toBe('secretprovidersyncing-role');
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'secrets-store-csi-driver', namespace: SYSTEM_NAMESPACE },
      ]);
    } else {
      expect(secretRules).toEqual([]);
      expect(objectsOfKind(objects, 'ClusterRoleBinding').map((b) => b.metadata.name)).toEqual([
        'secretproviderclasses-rolebinding',
      ]);
    }
  });

  it('gives the driver only the API access it needs, and aggregates SPC roles into admin, edit and view', () => {
    const roles = objectsOfKind<ClusterRoleManifest>(renderDriver(), 'ClusterRole');
    const driverRole = roles.find((r) => r.metadata.name === 'secretproviderclasses-role');
    // Exactly what the driver calls: events it records on pods (and patches with a count when one
    // repeats); pods and classes through informers, and by name a class not seen yet or the pod a
    // shared Secret's content came from; the pod statuses it creates, reads and replaces, and
    // lists and watches for Secret sync. Nothing else: no deletes (the garbage collector removes a
    // status with its pod), no status patches, no CSIDriver reads.
    expect(driverRole?.rules).toEqual([
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: ['secrets-store.csi.x-k8s.io'],
        resources: ['secretproviderclasses'],
        verbs: ['get', 'list', 'watch'],
      },
      {
        apiGroups: ['secrets-store.csi.x-k8s.io'],
        resources: ['secretproviderclasspodstatuses'],
        verbs: ['create', 'get', 'list', 'update', 'watch'],
      },
    ]);
    const aggregation = Object.fromEntries(
      roles.map((r) => [
        r.metadata.name,
        Object.keys(r.metadata.labels ?? {})
          .filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-'))
          .map((l) => l.replace('rbac.authorization.k8s.io/aggregate-to-', ''))
          .sort(),
      ]),
    );
    expect(aggregation).toEqual({
      'secretproviderclasses-role': [],
      'secretproviderclasses-admin-role': ['admin', 'edit'],
      'secretproviderclasses-viewer-role': ['view'],
      'secretproviderclasspodstatuses-viewer-role': ['view'],
    });
  });

  it.each([
    { kubeVersion: '1.34.4', inSecrets: false },
    { kubeVersion: '1.35.0', inSecrets: true },
    { kubeVersion: 'v1.35.2-eks-4f4795d', inSecrets: true },
  ])(
    'sets serviceAccountTokenInSecrets on Kubernetes $kubeVersion: $inSecrets',
    ({ kubeVersion, inSecrets }) => {
      const spec = csiDriverOf(renderDriver({}, { kubeVersion })).spec;
      expect(spec.serviceAccountTokenInSecrets === true).toBe(inSecrets);
      expect(spec.tokenRequests?.map((t) => t.audience)).toEqual(AWS_AUDIENCES);
      const without = csiDriverOf(renderDriver({}, { kubeVersion, setJson: { tokenRequests: [] } })).spec;
      expect(without.tokenRequests).toBeUndefined();
      expect(without.serviceAccountTokenInSecrets).toBeUndefined();
    },
  );

  it('runs a privileged driver beside the registrar and the liveness probe, wired to the kubelet', () => {
    const ds = driverDaemonSet(renderDriver(ARTICLE_FLAGS));
    const pod = ds.spec.template.spec;
    expect(ds.metadata.namespace).toBe(SYSTEM_NAMESPACE);
    expect(ds.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('secrets-store-csi-driver');
    expect(ds.spec.selector.matchLabels).toEqual({ app: 'secrets-store-csi-driver' });
    expect(pod.serviceAccountName).toBe('secrets-store-csi-driver');
    expect(pod.containers.map((c) => c.name)).toEqual([
      'node-driver-registrar',
      'secrets-store',
      'liveness-probe',
    ]);
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);

    const driver = containerOf(ds, 'secrets-store');
    expect(driver.securityContext?.privileged).toBe(true);
    expect(driver.image).toBe('ghcr.io/sscsi-ts/secrets-store-csi-driver:0.1.0');
    expect(expandedArgs(driver, { 'spec.nodeName': 'node-a' })).toEqual([
      '--endpoint=unix:///csi/csi.sock',
      '--nodeid=node-a',
      '--provider-volume=/var/run/secrets-store-csi-providers',
      '--additional-provider-volume-paths=/etc/kubernetes/secrets-store-csi-providers',
      '--enable-secret-rotation=true',
      '--metrics-addr=:8095',
      '--provider-health-check-interval=2m',
      '--max-call-recv-msg-size=4194304',
    ]);
    expect(driver.env).toContainEqual({
      name: 'KUBE_NODE_NAME',
      valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } },
    });
    expect(driver.resources).toEqual({
      requests: { cpu: '50m', memory: '100Mi' },
      limits: { cpu: '200m', memory: '200Mi' },
    });
    const mounts = Object.fromEntries((driver.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    expect(mounts['/var/lib/kubelet/pods']?.mountPropagation).toBe('Bidirectional');
    expect(mounts['/var/run/secrets-store-csi-providers']).toBeDefined();
    expect(mounts['/etc/kubernetes/secrets-store-csi-providers']).toBeDefined();
    const hostPaths = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v.hostPath?.path]));
    for (const m of driver.volumeMounts ?? []) expect(hostPaths[m.name]).toBeDefined();
    expect(hostPaths[mounts['/var/lib/kubelet/pods']?.name ?? '']).toBe('/var/lib/kubelet/pods');

    const registrar = containerOf(ds, 'node-driver-registrar');
    expect(registrar.args).toContain(
      '--kubelet-registration-path=/var/lib/kubelet/plugins/csi-secrets-store/csi.sock',
    );
    expect(hostPaths['plugin-dir']).toBe('/var/lib/kubelet/plugins/csi-secrets-store/');
    expect(hostPaths['registration-dir']).toBe('/var/lib/kubelet/plugins_registry/');
    expect(containerOf(ds, 'liveness-probe').args).toContain('--http-endpoint=0.0.0.0:9808');
  });

  it('passes flags that the driver itself accepts, for every value that becomes a flag', () => {
    if (!fs.existsSync(DRIVER_MAIN)) throw new Error(`${DRIVER_MAIN} is missing: run make build`);
    const ds = driverDaemonSet(
      renderDriver({
        ...ARTICLE_FLAGS,
        rotationPollInterval: '45s',
        providerHealthCheck: 'true',
        providerHealthCheckInterval: '1m30s',
        maxCallRecvMsgSize: '16777216',
        logVerbosity: '5',
        logFormatJSON: 'true',
        'linux.metricsAddr': '127.0.0.1:18095',
      }),
    );
    const args = expandedArgs(containerOf(ds, 'secrets-store'), { 'spec.nodeName': 'node-a' });
    expect(args).toEqual(
      expect.arrayContaining([
        '-v=5',
        '--log-format-json=true',
        '--rotation-poll-interval=45s',
        '--provider-health-check=true',
        '--provider-health-check-interval=1m30s',
        '--max-call-recv-msg-size=16777216',
        '--metrics-addr=127.0.0.1:18095',
      ]),
    );
    // --help parses every flag first: an unknown flag or a bad value exits with status 2.
    const accepted = run(process.execPath, [DRIVER_MAIN, ...args, '--help']);
    expect(accepted.stderr).toBe('');
    expect(accepted.status).toBe(0);
    const rejected = run(process.execPath, [DRIVER_MAIN, ...args, '--rotation-poll-interval=soon', '--help']);
    expect(rejected.status).toBe(2);
  });

  it('lets every image, tag and pull policy be set, for a local containerd with imagePullPolicy Never', () => {
    const set: Record<string, string> = {};
    for (const image of ['image', 'registrarImage', 'livenessProbeImage']) {
      set[`linux.${image}.repository`] = `local/${image}`;
      set[`linux.${image}.tag`] = 'dev';
      set[`linux.${image}.pullPolicy`] = 'Never';
    }
    const ds = driverDaemonSet(renderDriver(set));
    expect(ds.spec.template.spec.containers.map((c) => [c.image, c.imagePullPolicy])).toEqual([
      ['local/registrarImage:dev', 'Never'],
      ['local/image:dev', 'Never'],
      ['local/livenessProbeImage:dev', 'Never'],
    ]);
  });

  it('refuses windows.enabled with a message instead of a broken DaemonSet', () => {
    const result = labTool(lab, 'helm', [
      'template',
      DRIVER_RELEASE,
      DRIVER_CHART,
      '--kube-version',
      '1.34.4',
      '--set',
      'windows.enabled=true',
    ]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('runs on Linux nodes only');
  });
});

describe('the secrets-store-csi-driver-provider-aws chart', () => {
  it('passes helm lint --strict', () => {
    const valueSets: Array<Record<string, string>> = [
      {},
      { driverWritesSecrets: 'false', awsRegion: 'eu-west-1' },
    ];
    for (const set of valueSets) {
      const out = mustRun(lab, 'helm', [
        'lint',
        '--strict',
        PROVIDER_CHART,
        ...helmArgs({ release: PROVIDER_RELEASE, namespace: SYSTEM_NAMESPACE, set }),
        '--kube-version',
        '1.34.4',
      ]);
      expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('runs a non-root provider that reads only service accounts, pods and nodes, and records events', () => {
    const objects = renderProvider();
    const ds = providerDaemonSet(objects);
    expect(ds.metadata.namespace).toBe(SYSTEM_NAMESPACE);
    const role = objectOf<ClusterRoleManifest>(objects, 'ClusterRole');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
      // Warnings about a class, as Events on the pod.
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
    ]);
    const binding = objectOf<ClusterRoleBindingManifest>(objects, 'ClusterRoleBinding');
    const sa = objectOf<Manifest>(objects, 'ServiceAccount');
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: SYSTEM_NAMESPACE },
    ]);
    expect(ds.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);

    const provider = containerOf(ds, 'provider-aws-installer');
    expect(provider.image).toBe('ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:0.1.0');
    expect(provider.resources).toEqual({
      requests: { cpu: '50m', memory: '100Mi' },
      limits: { cpu: '50m', memory: '100Mi' },
    });
    expect(provider.securityContext).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ['ALL'] },
    });
    expect(provider.args).toEqual([
      '--provider-volume=/var/run/secrets-store-csi-providers',
      '--driver-writes-secrets=true',
      '--metrics-addr=:8989',
    ]);
    // The driver writes the files: no access to the kubelet's pod folders at all.
    expect(provider.volumeMounts?.map((m) => m.mountPath)).toEqual(['/var/run/secrets-store-csi-providers']);
    expect(ds.spec.template.spec.volumes?.map((v) => v.hostPath?.path)).toEqual([
      '/var/run/secrets-store-csi-providers',
    ]);
    // Only the socket folder's group changes, as root with nothing but CHOWN and FOWNER.
    const init = containerOf(ds, 'socket-dir');
    expect(init.securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['CHOWN', 'FOWNER'] });
    expect(init.env).toContainEqual({ name: 'SOCKET_GROUP', value: '65532' });
    // The image has no shell: node runs the script, which does what chgrp, chmod g+rwx,+t and rm -f
    // did, here on a folder of this machine (to this process's group, which needs no privilege).
    expect(init.command).toEqual(['/usr/local/bin/node', '-e']);
    const providers = fs.mkdtempSync(path.join(os.tmpdir(), 'socket-dir-'));
    try {
      fs.chmodSync(providers, 0o755);
      fs.writeFileSync(path.join(providers, 'aws.sock'), '');
      fs.writeFileSync(path.join(providers, 'other.sock'), '');
      execFileSync(process.execPath, ['-e', init.args?.[0] ?? ''], {
        env: { PROVIDER_DIR: providers, SOCKET_GROUP: String(process.getgid?.()) },
      });
      const folder = fs.statSync(providers);
      expect([folder.gid, (folder.mode & 0o7777).toString(8)]).toEqual([process.getgid?.(), '1775']);
      expect(fs.readdirSync(providers)).toEqual(['other.sock']);
      // Run again (a restarted pod): nothing left to remove is no failure.
      execFileSync(process.execPath, ['-e', init.args?.[0] ?? ''], {
        env: { PROVIDER_DIR: providers, SOCKET_GROUP: String(process.getgid?.()) },
      });
    } finally {
      fs.rmSync(providers, { recursive: true, force: true });
    }

    const pod = ds.spec.template.spec;
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    const terms =
      pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    expect(terms?.[0]?.matchExpressions).toContainEqual({
      key: 'eks.amazonaws.com/compute-type',
      operator: 'NotIn',
      values: ['fargate'],
    });
  });

  it('mounts the kubelet pods folder (HostToContainer) only when the provider writes the files itself', () => {
    const ds = providerDaemonSet(renderProvider({ driverWritesSecrets: 'false' }));
    const provider = containerOf(ds, 'provider-aws-installer');
    expect(provider.args).toContain('--driver-writes-secrets=false');
    expect(provider.volumeMounts).toContainEqual({
      name: 'mountpoint-dir',
      mountPath: '/var/lib/kubelet/pods',
      mountPropagation: 'HostToContainer',
    });
    expect(ds.spec.template.spec.volumes).toContainEqual({
      name: 'mountpoint-dir',
      hostPath: { path: '/var/lib/kubelet/pods', type: 'DirectoryOrCreate' },
    });
    // The kubelet's pod folders are 0750 root: the provider runs as user 0, still without capabilities.
    expect(provider.securityContext).toMatchObject({ runAsUser: 0, capabilities: { drop: ['ALL'] } });
    expect(provider.securityContext?.privileged).toBe(false);
    expect(ds.spec.template.spec.initContainers).toBeUndefined();
  });

  it("turns upstream's values into the provider's flags and environment", () => {
    const ds = providerDaemonSet(
      renderProvider({
        awsRegion: 'eu-west-1',
        useFipsEndpoint: 'true',
        'k8sThrottlingParams.qps': '20',
        'k8sThrottlingParams.burst': '40',
        podIdentityHttpTimeout: '2500ms',
        eksAddonVersion: 'v1.0.0-eksbuild.1',
        'image.repository': 'local/provider',
        'image.tag': 'dev',
        'image.pullPolicy': 'Never',
      }),
    );
    const provider = containerOf(ds, 'provider-aws-installer');
    expect(provider.args).toEqual(
      expect.arrayContaining([
        '--qps=20',
        '--burst=40',
        '--pod-identity-http-timeout=2500ms',
        '--eks-addon-version=v1.0.0-eksbuild.1',
      ]),
    );
    expect(provider.env).toEqual([
      { name: 'AWS_REGION', value: 'eu-west-1' },
      { name: 'AWS_USE_FIPS_ENDPOINT', value: 'true' },
    ]);
    expect([provider.image, provider.imagePullPolicy]).toEqual(['local/provider:dev', 'Never']);
    expect([containerOf(ds, 'socket-dir').image]).toEqual(['local/provider:dev']);
  });

  it('drops the pod and node reads when awsRegion names the region, as upstream does', () => {
    const role = objectOf<ClusterRoleManifest>(renderProvider({ awsRegion: 'eu-west-1' }), 'ClusterRole');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
  });

  it('passes flags that the provider itself accepts', () => {
    if (!fs.existsSync(PROVIDER_MAIN)) throw new Error(`${PROVIDER_MAIN} is missing: run make build first`);
    const ds = providerDaemonSet(
      renderProvider({
        driverWritesSecrets: 'false',
        'k8sThrottlingParams.qps': '20',
        'k8sThrottlingParams.burst': '40',
        podIdentityHttpTimeout: '2500ms',
        podIdentityAgentIpv4Url: 'http://127.0.0.1:2703/v1/credentials',
        podIdentityAgentIpv6Url: 'http://[::1]:2703/v1/credentials',
        eksAddonVersion: 'v1.0.0-eksbuild.1',
        logVerbosity: '4',
        logFormatJSON: 'true',
      }),
    );
    const args = expandedArgs(containerOf(ds, 'provider-aws-installer'));
    const accepted = run(process.execPath, [PROVIDER_MAIN, ...args, '--help']);
    expect(accepted.stderr).toBe('');
    expect(accepted.status).toBe(0);
  });

  it('renders deploy/aws-provider-installer.yaml that is up to date with the chart', () => {
    const fresh = run('bash', [RENDER_INSTALLER_SCRIPT, '-'], { env: labEnv(lab) });
    expect(fresh.stderr).toBe('');
    expect(fresh.status).toBe(0);
    const committed = fs.readFileSync(AWS_PROVIDER_INSTALLER, 'utf8');
    // Byte for byte; on failure run scripts/render-aws-provider-installer.sh (make installer).
    expect(fresh.stdout === committed).toBe(true);
  });

  it("keeps upstream installer's names and labels in kube-system, with no Helm bookkeeping", () => {
    const installed = parseManifests(fs.readFileSync(AWS_PROVIDER_INSTALLER, 'utf8'));
    expect(installed.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        `ClusterRole/${INSTALLER_NAME}-cluster-role`,
        `ClusterRoleBinding/${INSTALLER_NAME}-cluster-role-binding`,
        `DaemonSet/${INSTALLER_NAME}`,
        `ServiceAccount/${INSTALLER_NAME}`,
      ].sort(),
    );
    const ds = providerDaemonSet(installed);
    expect(ds.metadata.namespace).toBe(SYSTEM_NAMESPACE);
    expect(ds.metadata.labels?.app).toBe(INSTALLER_NAME);
    expect(ds.spec.selector.matchLabels).toEqual({ app: INSTALLER_NAME });
    expect(ds.spec.template.spec.serviceAccountName).toBe(INSTALLER_NAME);
    for (const o of installed) {
      expect(Object.keys(o.metadata.labels ?? {})).not.toContain('app.kubernetes.io/managed-by');
      expect(Object.keys(o.metadata.labels ?? {})).not.toContain('helm.sh/chart');
    }
  });
});

describe('RBAC of both charts and the installer', () => {
  it('never lets any component mint service-account tokens, whatever the values', () => {
    const renderings: Manifest[][] = [
      renderDriver(),
      renderDriver(ARTICLE_FLAGS),
      renderDriver({ ...ARTICLE_FLAGS, providerHealthCheck: 'true' }, { setJson: { tokenRequests: [] } }),
      renderProvider(),
      renderProvider({ driverWritesSecrets: 'false', awsRegion: 'eu-west-1' }),
      parseManifests(fs.readFileSync(AWS_PROVIDER_INSTALLER, 'utf8')),
    ];
    let rules = 0;
    for (const objects of renderings) {
      const roles = [
        ...objectsOfKind<ClusterRoleManifest>(objects, 'ClusterRole'),
        ...objectsOfKind<ClusterRoleManifest>(objects, 'Role'),
      ];
      for (const role of roles) {
        for (const rule of role.rules ?? []) {
          rules += 1;
          expect({ role: role.metadata.name, tokens: grantsTokenCreation(rule) }).toEqual({
            role: role.metadata.name,
            tokens: false,
          });
          // No wildcards either: every grant is spelled out.
          expect([...(rule.resources ?? []), ...rule.verbs]).not.toContain('*');
        }
      }
    }
    expect(rules).toBeGreaterThan(10);
    // The check itself recognises a token-minting rule.
    expect(
      grantsTokenCreation({ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] }),
    ).toBe(true);
  });
});

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
    const rendered = csiDriverOf(renderDriver(ARTICLE_FLAGS));
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
