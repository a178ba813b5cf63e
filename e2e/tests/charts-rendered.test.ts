// The Helm charts and the AWS provider installer as helm renders them, checked the way an operator
// would read them: the values and their README, what the rendered objects say, whether the real
// driver and provider accept the flags, and that the installer is the chart's current rendering. No
// cluster: only the lab's helm (built for the lab's Kubernetes version) and this checkout's build.
import fs from 'node:fs';
import path from 'node:path';

import type {
  ClusterRoleBindingManifest,
  ClusterRoleManifest,
  DaemonSetManifest,
  Manifest,
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
  run,
  SYSTEM_NAMESPACE,
  undocumentedOrMissingValues,
} from '../src/charts';
import { requireLab } from '../src/lab';
import { DRIVER_MAIN, PROVIDER_AWS_MAIN } from '../src/processes';

const lab = requireLab();

function driverDaemonSet(objects: Manifest[]): DaemonSetManifest {
  return objectOf<DaemonSetManifest>(objects, 'DaemonSet', 'secrets-store-csi-driver');
}

function providerDaemonSet(objects: Manifest[]): DaemonSetManifest {
  return objectOf<DaemonSetManifest>(objects, 'DaemonSet');
}

/** `helm lint --strict` of a chart as a release with `set`: no failure, no warning. */
function expectLintedCleanly(chart: string, release: string, set: Record<string, string>): void {
  const out = mustRun(lab, 'helm', [
    'lint',
    '--strict',
    chart,
    ...helmArgs({ release, namespace: SYSTEM_NAMESPACE, set }),
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
