// The Helm charts and the AWS provider installer as helm renders them, checked the way an operator
// would read them: the values and their README, what the rendered objects say, whether the real
// driver and provider accept the flags, and that the installer is the chart's current rendering. No
// cluster: only the lab's helm (built for the lab's Kubernetes version) and this checkout's build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type {
  ClusterRoleBindingManifest,
  ClusterRoleManifest,
  DaemonSetManifest,
  DeploymentManifest,
  Manifest,
  RenderOptions,
  ValidatingAdmissionPolicyBindingManifest,
  ValidatingAdmissionPolicyManifest,
} from '../src/charts';
import {
  ARTICLE_FLAGS,
  AWS_AUDIENCES,
  AWS_PROVIDER_INSTALLER,
  containerOf,
  csiDriverOf,
  documentedValues,
  DRIVER_CHART,
  DRIVER_RELEASE,
  expandedArgs,
  grantsTokenCreation,
  helmArgs,
  INSTALLER_NAME,
  labEnv,
  labTool,
  mustRun,
  objectOf,
  objectsOfKind,
  parseManifests,
  parseValuesStrictly,
  PROVIDER_CHART,
  PROVIDER_RELEASE,
  RENDER_INSTALLER_SCRIPT,
  renderDriver,
  renderProvider,
  renderSyncController,
  run,
  SYNC_CONTROLLER_CHART,
  SYNC_CONTROLLER_NAMESPACE,
  SYNC_CONTROLLER_RELEASE,
  SYSTEM_NAMESPACE,
  undocumentedOrMissingValues,
} from '../src/charts';
import { REPO_ROOT, requireLab } from '../src/lab';
import { DRIVER_MAIN, PROVIDER_AWS_MAIN } from '../src/processes';

const lab = requireLab();

function driverDaemonSet(objects: Manifest[]): DaemonSetManifest {
  return objectOf<DaemonSetManifest>(objects, 'DaemonSet', 'secrets-store-csi-driver');
}

function providerDaemonSet(objects: Manifest[]): DaemonSetManifest {
  return objectOf<DaemonSetManifest>(objects, 'DaemonSet');
}

/** `helm lint --strict` of a chart as a release with `set`: no failure, no warning. */
function expectLintedCleanly(
  chart: string,
  release: string,
  set: Record<string, string>,
  o: Partial<RenderOptions> = {},
): void {
  const out = mustRun(lab, 'helm', [
    'lint',
    '--strict',
    chart,
    ...helmArgs({ release, namespace: SYSTEM_NAMESPACE, set, ...o }),
    '--kube-version',
    '1.34.4',
  ]);
  expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
  expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
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

describe.each([
  { chart: 'secrets-store-csi-driver', dir: DRIVER_CHART },
  { chart: 'secrets-store-csi-driver-provider-aws', dir: PROVIDER_CHART },
  { chart: 'secrets-store-sync-controller', dir: SYNC_CONTROLLER_CHART },
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
    for (const set of [{}, ARTICLE_FLAGS]) expectLintedCleanly(DRIVER_CHART, DRIVER_RELEASE, set);
  });

  it('declares a CSIDriver for inline volumes that asks the kubelet for the AWS audiences by default', () => {
    const spec = csiDriverOf(renderDriver(lab)).spec;
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
      const objects = renderDriver(lab, { enableSecretRotation: rotation, rotationPollInterval: '30s' });
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
    const objects = renderDriver(lab, { 'syncSecret.enabled': sync });
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
    const roles = objectsOfKind<ClusterRoleManifest>(renderDriver(lab), 'ClusterRole');
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
      const spec = csiDriverOf(renderDriver(lab, {}, { kubeVersion })).spec;
      expect(spec.serviceAccountTokenInSecrets === true).toBe(inSecrets);
      expect(spec.tokenRequests?.map((t) => t.audience)).toEqual(AWS_AUDIENCES);
      const without = csiDriverOf(
        renderDriver(lab, {}, { kubeVersion, setJson: { tokenRequests: [] } }),
      ).spec;
      expect(without.tokenRequests).toBeUndefined();
      expect(without.serviceAccountTokenInSecrets).toBeUndefined();
    },
  );

  it('runs a privileged driver beside the registrar and the liveness probe, wired to the kubelet', () => {
    const ds = driverDaemonSet(renderDriver(lab, ARTICLE_FLAGS));
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
      renderDriver(lab, {
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
    const ds = driverDaemonSet(renderDriver(lab, set));
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
    for (const set of valueSets) expectLintedCleanly(PROVIDER_CHART, PROVIDER_RELEASE, set);
  });

  it('runs a non-root provider that reads only service accounts, pods and nodes, and records events', () => {
    const objects = renderProvider(lab);
    const ds = providerDaemonSet(objects);
    expect(ds.metadata.namespace).toBe(SYSTEM_NAMESPACE);
    const role = objectOf<ClusterRoleManifest>(objects, 'ClusterRole');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
      // Warnings about a class, as Events on the pod (patched with a count when one repeats).
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
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
    const ds = providerDaemonSet(renderProvider(lab, { driverWritesSecrets: 'false' }));
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
      renderProvider(lab, {
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
    const role = objectOf<ClusterRoleManifest>(
      renderProvider(lab, { awsRegion: 'eu-west-1' }),
      'ClusterRole',
    );
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
  });

  it('passes flags that the provider itself accepts', () => {
    if (!fs.existsSync(PROVIDER_AWS_MAIN))
      throw new Error(`${PROVIDER_AWS_MAIN} is missing: run make build first`);
    const ds = providerDaemonSet(
      renderProvider(lab, {
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
    const accepted = run(process.execPath, [PROVIDER_AWS_MAIN, ...args, '--help']);
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

/** The sync controller's program, as the other programs' mains are laid out. */
const SYNC_CONTROLLER_MAIN = path.join(REPO_ROOT, 'sync-controller', 'dist', 'main.js');
const SYNC_AWS_EXAMPLE = path.join(SYNC_CONTROLLER_CHART, 'examples', 'aws-provider-sidecar.yaml');
const SYNC_SA = 'secrets-store-sync-controller-manager';
const POLICIES = [
  'secrets-store-sync-controller-create-update-policy',
  'secrets-store-sync-controller-delete-policy',
  'secrets-store-sync-controller-update-check-oldobject-policy',
  'secrets-store-sync-controller-update-label-policy',
  'secrets-store-sync-controller-validate-token-policy',
];

function syncDeployment(objects: Manifest[]): DeploymentManifest {
  return objectOf<DeploymentManifest>(objects, 'Deployment', 'secrets-store-sync-controller-manager');
}

function policyOf(objects: Manifest[], name: string): ValidatingAdmissionPolicyManifest {
  return objectOf<ValidatingAdmissionPolicyManifest>(objects, 'ValidatingAdmissionPolicy', name);
}

function variableOf(policy: ValidatingAdmissionPolicyManifest, name: string): string | undefined {
  return policy.spec.variables?.find((v) => v.name === name)?.expression;
}

/**
 * The text a messageExpression made of string literals and `string(<field>)` terms joined with `+`
 * evaluates to (the shape of every one of these policies), with the fields' values given.
 */
function messageOf(expression: string, fields: Record<string, string>): string {
  const term = /\s*(?:'((?:[^'\\]|\\.)*)'|string\(([A-Za-z.]+)\))\s*(\+|$)/y;
  let text = '';
  let done = false;
  while (!done) {
    const match = term.exec(expression);
    if (!match) throw new Error(`not a concatenation of literals and string(...): ${expression}`);
    if (match[2] !== undefined) {
      const value = fields[match[2]];
      if (value === undefined) throw new Error(`no value for ${match[2]}`);
      text += value;
    } else {
      text += (match[1] ?? '').replace(/\\(.)/g, '$1');
    }
    done = match[3] === '';
  }
  return text;
}

describe('the secrets-store-sync-controller chart', () => {
  it('passes helm lint --strict with its defaults, the AWS example and other values', () => {
    const lint = (set: Record<string, string>, o: Partial<RenderOptions> = {}) =>
      expectLintedCleanly(SYNC_CONTROLLER_CHART, SYNC_CONTROLLER_RELEASE, set, {
        namespace: SYNC_CONTROLLER_NAMESPACE,
        ...o,
      });
    lint({});
    lint({}, { valuesFiles: [SYNC_AWS_EXAMPLE] });
    lint(
      {
        controllerName: 'ssc',
        'validatingAdmissionPolicies.applyPolicies': 'false',
        providerVolumeHostPath: '/var/run/secrets-store-sync-providers',
        'leaderElection.leaseDuration': '10s',
      },
      { setJson: { tokenRequestAudience: [{ audience: null }] } },
    );
  });

  it("renders upstream's objects under upstream's names, in the release namespace", () => {
    const objects = renderSyncController(lab);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        `ServiceAccount/${SYNC_SA}`,
        'ClusterRole/secrets-store-sync-controller-manager-role',
        'ClusterRoleBinding/secrets-store-sync-controller-manager-rolebinding',
        'Role/secrets-store-sync-controller-leader-election-role',
        'RoleBinding/secrets-store-sync-controller-leader-election-rolebinding',
        'ClusterRole/secretsync-editor-role',
        'ClusterRole/secretsync-viewer-role',
        'Deployment/secrets-store-sync-controller-manager',
        ...POLICIES.map((p) => `ValidatingAdmissionPolicy/${p}`),
        ...POLICIES.map((p) => `ValidatingAdmissionPolicyBinding/${p}-binding`),
      ].sort(),
    );
    for (const o of objects.filter((o) =>
      ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment'].includes(o.kind),
    )) {
      expect(o.metadata.namespace).toBe(SYNC_CONTROLLER_NAMESPACE);
    }
  });

  it("gives the controller upstream's rules, bound to the ServiceAccount controllerName names", () => {
    const objects = renderSyncController(lab, { controllerName: 'my-sync-controller' });
    const roles = Object.fromEntries(
      [
        ...objectsOfKind<ClusterRoleManifest>(objects, 'ClusterRole'),
        ...objectsOfKind<ClusterRoleManifest>(objects, 'Role'),
      ].map((r) => [r.metadata.name, r.rules]),
    );
    expect(roles).toEqual({
      'secrets-store-sync-controller-manager-role': [
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        // Applied (server-side apply is a patch, creating when missing); never read, listed or deleted.
        { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch'] },
        // Tokens of the SecretSyncs' ServiceAccounts for the providers, confined by the token policy.
        { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
        {
          apiGroups: ['secrets-store.csi.x-k8s.io'],
          resources: ['secretproviderclasses'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: ['secret-sync.x-k8s.io'], resources: ['secretsyncs'], verbs: ['get', 'list', 'watch'] },
        {
          apiGroups: ['secret-sync.x-k8s.io'],
          resources: ['secretsyncs/status'],
          verbs: ['get', 'patch', 'update'],
        },
      ],
      'secrets-store-sync-controller-leader-election-role': [
        {
          apiGroups: [''],
          resources: ['configmaps'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
        },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
        },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
      'secretsync-editor-role': [
        {
          apiGroups: ['secret-sync.x-k8s.io'],
          resources: ['secretsyncs'],
          verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        },
        { apiGroups: ['secret-sync.x-k8s.io'], resources: ['secretsyncs/status'], verbs: ['get'] },
      ],
      'secretsync-viewer-role': [
        { apiGroups: ['secret-sync.x-k8s.io'], resources: ['secretsyncs'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['secret-sync.x-k8s.io'], resources: ['secretsyncs/status'], verbs: ['get'] },
      ],
    });
    const subject = {
      kind: 'ServiceAccount',
      name: 'my-sync-controller',
      namespace: SYNC_CONTROLLER_NAMESPACE,
    };
    const bindings = [
      ...objectsOfKind<ClusterRoleBindingManifest>(objects, 'ClusterRoleBinding'),
      ...objectsOfKind<ClusterRoleBindingManifest>(objects, 'RoleBinding'),
    ];
    expect(bindings.map((b) => [b.metadata.name, b.roleRef.name, b.subjects])).toEqual([
      [
        'secrets-store-sync-controller-manager-rolebinding',
        'secrets-store-sync-controller-manager-role',
        [subject],
      ],
      [
        'secrets-store-sync-controller-leader-election-rolebinding',
        'secrets-store-sync-controller-leader-election-role',
        [subject],
      ],
    ]);
    // One name for the ServiceAccount, the pods and the policies' user (upstream kept the first fixed).
    expect(objectOf<Manifest>(objects, 'ServiceAccount').metadata.name).toBe('my-sync-controller');
    expect(syncDeployment(objects).spec.template.spec.serviceAccountName).toBe('my-sync-controller');
    for (const name of POLICIES) {
      expect(policyOf(objects, name).spec.matchConditions).toEqual([
        {
          name: 'user-is-secrets-store-sync-controller',
          expression: `request.userInfo.username == 'system:serviceaccount:${SYNC_CONTROLLER_NAMESPACE}:my-sync-controller'`,
        },
      ]);
    }
  });

  it('lets only the manager role mint tokens, and grants nothing by wildcard', () => {
    const renderings = [
      renderSyncController(lab),
      renderSyncController(lab, {}, { valuesFiles: [SYNC_AWS_EXAMPLE] }),
    ];
    for (const objects of renderings) {
      const roles = [
        ...objectsOfKind<ClusterRoleManifest>(objects, 'ClusterRole'),
        ...objectsOfKind<ClusterRoleManifest>(objects, 'Role'),
      ];
      const minting = roles
        .filter((r) => (r.rules ?? []).some(grantsTokenCreation))
        .map((r) => r.metadata.name);
      expect(minting).toEqual(['secrets-store-sync-controller-manager-role']);
      for (const rule of roles.flatMap((r) => r.rules ?? [])) {
        expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]).not.toContain('*');
      }
    }
  });

  it("confines the controller with five policies whose denials read as upstream's suite expects", () => {
    const objects = renderSyncController(lab);
    for (const name of POLICIES) {
      const policy = policyOf(objects, name);
      expect(policy.spec.failurePolicy).toBe('Fail');
      const binding = objectOf<ValidatingAdmissionPolicyBindingManifest>(
        objects,
        'ValidatingAdmissionPolicyBinding',
        `${name}-binding`,
      );
      expect(binding.spec).toEqual({ policyName: name, validationActions: ['Deny'] });
    }
    const createUpdate = policyOf(objects, 'secrets-store-sync-controller-create-update-policy');
    expect(createUpdate.spec.matchConstraints?.resourceRules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['secrets'] },
    ]);
    expect(createUpdate.spec.variables).toEqual([
      {
        name: 'hasOneSecretSyncOwner',
        expression:
          "(size(object.metadata.ownerReferences) == 1 && object.metadata.ownerReferences.all(o, o.kind == 'SecretSync' && o.apiVersion.startsWith('secret-sync.x-k8s.io/') && o.name == object.metadata.name))",
      },
      {
        name: 'isNotServiceAccountSecretType',
        expression: 'object.type != "kubernetes.io/service-account-token"',
      },
      {
        name: 'allowedSecretTypes',
        expression:
          '(object.type in ["Opaque", "kubernetes.io/basic-auth", "bootstrap.kubernetes.io/token", "kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg", "kubernetes.io/ssh-auth", "kubernetes.io/tls"])',
      },
    ]);
    const [deniedType, allowedType] = createUpdate.spec.validations;
    expect(deniedType?.expression).toBe('variables.isNotServiceAccountSecretType');
    expect(allowedType?.expression).toBe(
      'variables.allowedSecretTypes == true && variables.hasOneSecretSyncOwner == true',
    );
    // Upstream's bats tests 6 and 7: the controller reports these texts in the SecretSync's status.
    const create = (type: string) => ({
      'request.operation': 'CREATE',
      'object.type': type,
      'request.namespace': 'default',
    });
    expect(messageOf(allowedType!.messageExpression!, create('example.com/api-credentials'))).toBe(
      'secrets-store-sync-controller has failed to CREATE secret with example.com/api-credentials type in the default namespace. The controller can only create or update secrets in the allowed types list with a single secretsync owner.',
    );
    expect(messageOf(deniedType!.messageExpression!, create('kubernetes.io/service-account-token'))).toBe(
      'secrets-store-sync-controller has failed to CREATE secret with kubernetes.io/service-account-token type in the default namespace. The controller is not allowed to create or update secrets with this type.',
    );
    expect(deniedType?.message).toBe(
      'Secrets with type "kubernetes.io/service-account-token" are not allowed.',
    );
    expect(allowedType?.message).toBe(
      'Only secrets with types defined in the allowedSecretTypes are allowed.',
    );

    const del = policyOf(objects, 'secrets-store-sync-controller-delete-policy');
    expect(del.spec.matchConstraints?.resourceRules?.[0]?.operations).toEqual(['DELETE']);
    // Never true (operations are upper case): every delete by the controller is refused.
    expect(del.spec.validations.map((v) => v.expression)).toEqual(["request.operation == 'delete'"]);
    expect(
      messageOf(del.spec.validations[0]!.messageExpression!, {
        'request.operation': 'DELETE',
        'request.namespace': 'app',
      }),
    ).toBe(
      'secrets-store-sync-controller has failed to DELETE secrets in the app namespace. The controller is not allowed to delete secrets.',
    );

    const oldObject = policyOf(objects, 'secrets-store-sync-controller-update-check-oldobject-policy');
    expect(variableOf(oldObject, 'hasOneSecretSyncOwner')).toBe(
      "has(oldObject.metadata.ownerReferences) && size(oldObject.metadata.ownerReferences) == 1 && oldObject.metadata.ownerReferences.all(o, o.kind == 'SecretSync' && o.apiVersion.startsWith('secret-sync.x-k8s.io/') && o.name == object.metadata.name)",
    );
    expect(oldObject.spec.validations[0]).toMatchObject({
      expression: 'variables.hasOneSecretSyncOwner == true',
      message: 'Only secrets with one secret sync owner can be updated by the controller',
      reason: 'Forbidden',
    });
    expect(
      messageOf(oldObject.spec.validations[0]!.messageExpression!, {
        'request.operation': 'UPDATE',
        'request.namespace': 'app',
      }),
    ).toBe(
      'secrets-store-sync-controller has failed to UPDATE old secret in the app namespace. The controller can only update secrets with a single secrets-store-sync-controller owner.',
    );

    const label = policyOf(objects, 'secrets-store-sync-controller-update-label-policy');
    expect(label.spec.variables).toEqual([
      { name: 'oldSecretHasLabels', expression: 'has(oldObject.metadata.labels) ? true : false' },
      {
        name: 'oldSecretHasExpectedLabelKey',
        expression:
          "variables.oldSecretHasLabels && ('secrets-store.sync.x-k8s.io' in oldObject.metadata.labels) ? true : false",
      },
      {
        name: 'oldSecretHasExpectedLabelValue',
        expression: "'' == oldObject.metadata.labels['secrets-store.sync.x-k8s.io'] ? true : false",
      },
    ]);
    expect(
      messageOf(label.spec.validations[0]!.messageExpression!, {
        'request.operation': 'UPDATE',
        'object.type': 'Opaque',
        'request.namespace': 'app',
      }),
    ).toBe(
      'secrets-store-sync-controller has failed to UPDATE secret with Opaque type in the app namespace because it does not have the correct label. Delete the secret and force the controller to recreate it with the correct label.',
    );

    const token = policyOf(objects, 'secrets-store-sync-controller-validate-token-policy');
    expect(token.spec.matchConstraints?.resourceRules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['serviceaccounts/token'] },
    ]);
    expect(token.spec.validations[0]).toMatchObject({
      expression:
        'variables.hasCorrectAudience == true && variables.expirationSeconds == true && variables.requestHasOnlyOneAudience == true',
      message: "'Creating a serviceaccount token has failed because the configuration isn't correct.'",
      reason: 'Forbidden',
    });
    expect(variableOf(token, 'expirationSeconds')).toBe("string(object.spec.expirationSeconds) == '600'");
    expect(variableOf(token, 'requestHasOnlyOneAudience')).toBe('object.spec.audiences.size() == 1');
    expect(
      messageOf(token.spec.validations[0]!.messageExpression!, {
        'request.operation': 'CREATE',
        'request.name': 'my-app',
        'request.namespace': 'app',
      }),
    ).toBe(
      'secrets-store-sync-controller has failed to CREATE my-app token in the app namespace. Check the configuration.',
    );
  });

  it('passes the audiences joined with "," and allows tokens for exactly those; none without any', () => {
    const audienceArg = (objects: Manifest[]) =>
      (containerOf(syncDeployment(objects), 'manager').args ?? []).filter((a) =>
        a.startsWith('--token-request-audience='),
      );
    const hasCorrectAudience = (objects: Manifest[]) =>
      variableOf(
        policyOf(objects, 'secrets-store-sync-controller-validate-token-policy'),
        'hasCorrectAudience',
      );

    // Upstream joined with ", ", and the controller, which splits on "," only, got " pods.eks...".
    const two = renderSyncController(
      lab,
      {},
      {
        setJson: {
          tokenRequestAudience: [{ audience: ' sts.amazonaws.com' }, { audience: 'pods.eks.amazonaws.com ' }],
        },
      },
    );
    expect(audienceArg(two)).toEqual(['--token-request-audience=sts.amazonaws.com,pods.eks.amazonaws.com']);
    expect(hasCorrectAudience(two)).toBe(
      "object.spec.audiences.exists(w, w == 'sts.amazonaws.com') || object.spec.audiences.exists(w, w == 'pods.eks.amazonaws.com')",
    );

    // No audience (our default, and upstream's default entry without one): a valid expression that
    // denies, where upstream rendered w == '%!s(<nil>)'.
    for (const setJson of [
      {},
      { tokenRequestAudience: [{ audience: null }] },
      { tokenRequestAudience: [] },
    ]) {
      const none = renderSyncController(lab, {}, { setJson });
      expect(audienceArg(none)).toEqual(['--token-request-audience=']);
      expect(hasCorrectAudience(none)).toBe('false');
    }
  });

  it('renders the allowed and denied Secret types from the values, an empty allowed list denying all', () => {
    const variables = (objects: Manifest[]) =>
      policyOf(objects, 'secrets-store-sync-controller-create-update-policy').spec.variables;
    const custom = renderSyncController(
      lab,
      {},
      {
        setJson: {
          'validatingAdmissionPolicies.allowedSecretTypes': ['Opaque', 'example.com/api-credentials'],
          'validatingAdmissionPolicies.deniedSecretTypes': [
            'kubernetes.io/service-account-token',
            'kubernetes.io/tls',
          ],
        },
      },
    );
    expect(variables(custom)).toEqual(
      expect.arrayContaining([
        {
          name: 'isNotServiceAccountSecretType',
          expression: '!(object.type in ["kubernetes.io/service-account-token", "kubernetes.io/tls"])',
        },
        {
          name: 'allowedSecretTypes',
          expression: '(object.type in ["Opaque", "example.com/api-credentials"])',
        },
      ]),
    );
    const empty = renderSyncController(
      lab,
      {},
      {
        setJson: {
          'validatingAdmissionPolicies.allowedSecretTypes': [],
          'validatingAdmissionPolicies.deniedSecretTypes': [],
        },
      },
    );
    expect(variables(empty)).toEqual(
      expect.arrayContaining([
        { name: 'isNotServiceAccountSecretType', expression: 'true' },
        { name: 'allowedSecretTypes', expression: 'false' },
      ]),
    );
    const off = renderSyncController(lab, { 'validatingAdmissionPolicies.applyPolicies': 'false' });
    expect(objectsOfKind(off, 'ValidatingAdmissionPolicy')).toEqual([]);
    expect(objectsOfKind(off, 'ValidatingAdmissionPolicyBinding')).toEqual([]);
  });

  it("runs two replicas of a non-root manager with upstream's arguments, probes and environment", () => {
    const deployment = syncDeployment(renderSyncController(lab));
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.selector.matchLabels).toEqual({
      'control-plane': 'controller-manager',
      'secrets-store.io/system': 'true',
    });
    const pod = deployment.spec.template.spec;
    expect(pod.containers.map((c) => c.name)).toEqual(['manager']);
    expect(pod.terminationGracePeriodSeconds).toBe(10);
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
    expect(deployment.spec.template.metadata.annotations).toEqual({
      'kubectl.kubernetes.io/default-container': 'manager',
    });
    // Upstream's suite finds the pods by app=secrets-store-sync-controller.
    expect(deployment.spec.template.metadata.labels).toMatchObject({ app: 'secrets-store-sync-controller' });

    const manager = containerOf(deployment, 'manager');
    expect(manager.image).toBe('ghcr.io/sscsi-ts/secrets-store-sync-controller:0.1.0');
    // The image's entrypoint runs the controller.
    expect(manager.command).toBeUndefined();
    expect(manager.args).toEqual([
      '--provider-volume=/provider',
      '--token-request-audience=',
      '--health-probe-bind-address=:8081',
      '--metrics-bind-address=:8085',
      '--leader-elect',
      '--rotation-poll-interval=12h',
    ]);
    expect(manager.env).toEqual(
      ['SYNC_CONTROLLER_POD_NAME', 'SYNC_CONTROLLER_POD_UID', 'SYNC_CONTROLLER_POD_NAMESPACE'].map(
        (name, i) => ({
          name,
          valueFrom: { fieldRef: { fieldPath: ['metadata.name', 'metadata.uid', 'metadata.namespace'][i] } },
        }),
      ),
    );
    expect(manager.ports).toEqual([{ name: 'metrics', containerPort: 8085, protocol: 'TCP' }]);
    expect(manager.livenessProbe).toEqual({
      httpGet: { path: '/healthz', port: 8081 },
      initialDelaySeconds: 15,
      periodSeconds: 20,
    });
    expect(manager.readinessProbe).toEqual({
      httpGet: { path: '/readyz', port: 8081 },
      initialDelaySeconds: 5,
      periodSeconds: 10,
    });
    expect(manager.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
    });
    expect(manager.resources).toEqual({
      requests: { cpu: '10m', memory: '100Mi' },
      limits: { cpu: '500m', memory: '200Mi' },
    });
    expect(manager.volumeMounts).toEqual([{ name: 'providervol', mountPath: '/provider' }]);
    // Each pod's own providers folder: two replicas on one node cannot replace each other's sockets.
    expect(pod.volumes).toEqual([{ name: 'providervol', emptyDir: {} }]);
  });

  it('turns the values into arguments: metrics port, poll interval, leader election timings, extra arguments', () => {
    const manager = containerOf(
      syncDeployment(
        renderSyncController(
          lab,
          {
            metricsPort: '9085',
            rotationPollInterval: '2m',
            'leaderElection.leaseDuration': '10s',
            'leaderElection.renewDeadline': '7s',
            'leaderElection.retryPeriod': '1s',
            'image.repository': 'local/sync-controller',
            'image.tag': 'dev',
            'image.pullPolicy': 'Never',
          },
          { setJson: { extraArgs: ['--max-call-recv-msg-size=8388608'] } },
        ),
      ),
      'manager',
    );
    expect(manager.args).toEqual([
      '--provider-volume=/provider',
      '--token-request-audience=',
      '--health-probe-bind-address=:8081',
      '--metrics-bind-address=:9085',
      '--leader-elect',
      '--leader-elect-lease-duration=10s',
      '--leader-elect-renew-deadline=7s',
      '--leader-elect-retry-period=1s',
      '--rotation-poll-interval=2m',
      '--max-call-recv-msg-size=8388608',
    ]);
    expect(manager.ports?.[0]?.containerPort).toBe(9085);
    expect([manager.image, manager.imagePullPolicy]).toEqual(['local/sync-controller:dev', 'Never']);
  });

  it('passes arguments that the controller itself accepts', () => {
    if (!fs.existsSync(SYNC_CONTROLLER_MAIN))
      throw new Error(`${SYNC_CONTROLLER_MAIN} is missing: run make build`);
    const manager = containerOf(
      syncDeployment(
        renderSyncController(
          lab,
          {
            'leaderElection.leaseDuration': '10s',
            'leaderElection.renewDeadline': '7s',
            'leaderElection.retryPeriod': '1s',
          },
          { valuesFiles: [SYNC_AWS_EXAMPLE] },
        ),
      ),
      'manager',
    );
    // --help parses every flag first: an unknown flag or a bad value exits with status 2.
    const accepted = run(process.execPath, [SYNC_CONTROLLER_MAIN, ...(manager.args ?? []), '--help']);
    expect(accepted.stderr).toBe('');
    expect(accepted.status).toBe(0);
  });

  it("keeps the selector's labels on the pods whatever podLabels holds, and takes a host folder when asked", () => {
    const deployment = syncDeployment(
      renderSyncController(
        lab,
        { providerVolumeHostPath: '/var/run/secrets-store-sync-providers' },
        { setJson: { podLabels: { team: 'secrets' } } },
      ),
    );
    expect(deployment.spec.template.metadata.labels).toMatchObject({
      team: 'secrets',
      'control-plane': 'controller-manager',
      'secrets-store.io/system': 'true',
    });
    expect(deployment.spec.template.spec.volumes).toEqual([
      {
        name: 'providervol',
        hostPath: { path: '/var/run/secrets-store-sync-providers', type: 'DirectoryOrCreate' },
      },
    ]);
  });

  it("runs the AWS provider as a sidecar with the example values, its calls granted, on the manager's user", () => {
    const objects = renderSyncController(lab, {}, { valuesFiles: [SYNC_AWS_EXAMPLE] });
    const deployment = syncDeployment(objects);
    expect(deployment.spec.template.spec.containers.map((c) => c.name)).toEqual(['provider-aws', 'manager']);
    const sidecar = containerOf(deployment, 'provider-aws');
    const manager = containerOf(deployment, 'manager');
    expect(sidecar.image).toBe('ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:0.1.0');
    // /provider/aws.sock, in the folder the manager reads (--provider-volume=/provider).
    expect(sidecar.args).toContain('--provider-volume=/provider');
    expect(sidecar.args).toContain('--driver-writes-secrets=true');
    expect(sidecar.volumeMounts).toEqual([{ name: 'providervol', mountPath: '/provider' }]);
    expect(sidecar.env?.map((e) => e.name)).toEqual(['AWS_REGION']);
    // The manager must write to the provider's socket to connect: the same user.
    expect(sidecar.securityContext?.runAsUser).toBe(manager.securityContext?.runAsUser);
    expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
    // Its port is not one of the manager's (8081 probes, 8085 metrics).
    expect(sidecar.ports?.map((p) => p.containerPort)).toEqual([8989]);
    // IRSA only: EKS Pod Identity gives credentials for pod-bound tokens, and the controller's are not.
    expect(manager.args).toContain('--token-request-audience=sts.amazonaws.com');
    expect(
      variableOf(
        policyOf(objects, 'secrets-store-sync-controller-validate-token-policy'),
        'hasCorrectAudience',
      ),
    ).toBe("object.spec.audiences.exists(w, w == 'sts.amazonaws.com')");

    const role = objectOf<ClusterRoleManifest>(
      objects,
      'ClusterRole',
      'secrets-store-sync-controller-provider-role',
    );
    // The role annotation only: the provider records no Events for a SecretSync's request.
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] }]);
    const binding = objectOf<ClusterRoleBindingManifest>(
      objects,
      'ClusterRoleBinding',
      'secrets-store-sync-controller-provider-rolebinding',
    );
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: SYNC_SA, namespace: SYNC_CONTROLLER_NAMESPACE },
    ]);

    if (!fs.existsSync(PROVIDER_AWS_MAIN))
      throw new Error(`${PROVIDER_AWS_MAIN} is missing: run make build first`);
    const accepted = run(process.execPath, [PROVIDER_AWS_MAIN, ...(sidecar.args ?? []), '--help']);
    expect(accepted.stderr).toBe('');
    expect(accepted.status).toBe(0);
  });

  it("runs the manager as its sidecars' user, so that it can connect to their sockets, unless told not to", () => {
    // The sidecar of upstream's end-to-end values: its mock provider runs as root.
    const upstreamSidecar = {
      name: 'provider-e2e-installer',
      image: 'aramase/e2e-provider:v0.0.1',
      args: ['--endpoint=unix:///provider/e2e-provider.sock'],
      securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsUser: 0,
        capabilities: { drop: ['ALL'] },
      },
      volumeMounts: [{ mountPath: '/provider', name: 'providervol' }],
    };
    const manager = (set: Record<string, string>) =>
      containerOf(
        syncDeployment(renderSyncController(lab, set, { setJson: { providerContainer: [upstreamSidecar] } })),
        'manager',
      );
    expect(manager({}).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 65532,
    });
    expect(manager({ runAsProviderUser: 'false' }).securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
    });
  });

  it('adds extraClusterRoleRules to the provider role, and has no provider role without rules', () => {
    const rule = { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] };
    const objects = renderSyncController(lab, {}, { setJson: { extraClusterRoleRules: [rule] } });
    expect(
      objectOf<ClusterRoleManifest>(objects, 'ClusterRole', 'secrets-store-sync-controller-provider-role')
        .rules,
    ).toEqual([rule]);
    const none = renderSyncController(lab);
    expect(objectsOfKind(none, 'ClusterRole').map((r) => r.metadata.name)).not.toContain(
      'secrets-store-sync-controller-provider-role',
    );
  });
});

describe('RBAC of both charts and the installer', () => {
  it('never lets any component mint service-account tokens, whatever the values', () => {
    const renderings: Manifest[][] = [
      renderDriver(lab),
      renderDriver(lab, ARTICLE_FLAGS),
      renderDriver(
        lab,
        { ...ARTICLE_FLAGS, providerHealthCheck: 'true' },
        { setJson: { tokenRequests: [] } },
      ),
      renderProvider(lab),
      renderProvider(lab, { driverWritesSecrets: 'false', awsRegion: 'eu-west-1' }),
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
