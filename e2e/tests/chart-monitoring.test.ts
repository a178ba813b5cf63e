// The charts' opt-in monitoring (ServiceMonitor, PrometheusRule, Grafana dashboard), checked as an
// operator would: off unless asked for; a clear refusal without the Prometheus Operator's CRDs; every
// metric and label an alert or a panel uses exists in the programs as they run; the objects fit the
// operator's own CRD schemas, and the lab's API server accepts them once those CRDs are installed
// (taken from the operator's Go module, as the lab takes its other tools).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

import type { Manifest, RenderOptions } from '../src/charts';
import { DRIVER_CHART, labTool, mustRun, parseManifests, PROVIDER_CHART } from '../src/charts';
import { REPO_ROOT, requireLab } from '../src/lab';

const lab = requireLab();

/** The Prometheus Operator release whose CRDs the objects are checked against. */
const MONITORING_API = 'monitoring.coreos.com/v1';
const NAMESPACE = 'kube-system';
const ALL_ON = {
  'serviceMonitor.enabled': 'true',
  'prometheusRule.enabled': 'true',
  'grafanaDashboard.enabled': 'true',
};

interface Chart {
  name: string;
  dir: string;
  release: string;
  /** The program's metrics module (built), and the class that registers its metrics. */
  metrics: { module: string; className: string };
  extraSet?: Record<string, string>;
  /** What the program's main.ts does with its metrics besides making them. */
  wire?: (metrics: unknown) => void;
}

const CHARTS: Chart[] = [
  {
    name: 'driver',
    dir: DRIVER_CHART,
    release: 'secrets-store-csi-driver',
    metrics: { module: 'driver/dist/metrics.js', className: 'DriverMetrics' },
    // The provider-health alert exists only when the driver checks its providers.
    extraSet: { providerHealthCheck: 'true' },
  },
  {
    name: 'AWS provider',
    dir: PROVIDER_CHART,
    release: 'csi-secrets-store-provider-aws',
    metrics: { module: 'provider-aws/dist/metrics.js', className: 'ProviderMetrics' },
    // main.ts reports the value cache's size through these metrics once it has made the cache.
    wire: (metrics) =>
      (metrics as { watchValueCache(cache: { size: number; bytes: number }): void }).watchValueCache({
        size: 0,
        bytes: 0,
      }),
  },
];

function render(
  chart: Chart,
  set: Record<string, string>,
  apiVersions = true,
  o: Partial<RenderOptions> = {},
) {
  const args = ['template', chart.release, chart.dir, '--namespace', NAMESPACE, '--kube-version', '1.34.4'];
  for (const [k, v] of Object.entries({ ...chart.extraSet, ...set })) args.push('--set', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.setJson ?? {})) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  if (apiVersions) args.push('--api-versions', MONITORING_API);
  return labTool(lab, 'helm', args);
}

function renderObjects(
  chart: Chart,
  set: Record<string, string> = ALL_ON,
  o: Partial<RenderOptions> = {},
): Manifest[] {
  const result = render(chart, set, true, o);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

interface MetricInfo {
  labelNames: readonly string[];
}

/** The metrics a program exposes, by name, from the registry its main module builds. */
function programMetrics(chart: Chart): Map<string, MetricInfo> {
  // The built modules, as the programs run them (the tests run after the build); e2e compiles
  // apart from the programs, so they are loaded at run time.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const common = require(path.join(REPO_ROOT, 'common/dist/index.js')) as {
    createRegistry(): { getMetricsAsArray(): Array<{ name: string; labelNames?: readonly string[] }> };
    kubeRequestCounter(registry: unknown): unknown;
  };
  const module = require(path.join(REPO_ROOT, chart.metrics.module)) as Record<
    string,
    new (r: unknown) => unknown
  >;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const registry = common.createRegistry();
  common.kubeRequestCounter(registry);
  const instance = new (module[chart.metrics.className] as new (r: unknown) => unknown)(registry);
  chart.wire?.(instance);
  const metrics = new Map<string, MetricInfo>();
  for (const m of registry.getMetricsAsArray()) metrics.set(m.name, { labelNames: m.labelNames ?? [] });
  return metrics;
}

/** Labels Prometheus adds to every series it scrapes through a ServiceMonitor. */
const TARGET_LABELS = ['job', 'namespace', 'pod', 'instance', 'service', 'endpoint', 'container'];

/**
 * What a PromQL expression uses that the program does not expose: every `name{...}` selector must
 * name one of its metrics (a histogram by its _bucket, _count or _sum series), and every label in a
 * matcher or a `by (...)` must be one of the metric's labels or a target label.
 */
function unknownReferences(expr: string, metrics: Map<string, MetricInfo>): string[] {
  const problems: string[] = [];
  const labelsOfExpr = new Set<string>();
  const selectors = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)];
  if (selectors.length === 0) problems.push(`no metric selector in ${expr}`);
  for (const [, name, matchers] of selectors) {
    const base = (name as string).replace(/_(bucket|count|sum)$/, '');
    const metric = name === 'up' ? { labelNames: [] } : (metrics.get(name as string) ?? metrics.get(base));
    if (!metric) {
      problems.push(`metric ${name} does not exist`);
      continue;
    }
    const known = new Set([...metric.labelNames, ...TARGET_LABELS, ...(name === base ? [] : ['le'])]);
    metric.labelNames.forEach((l) => labelsOfExpr.add(l));
    if (name !== base) labelsOfExpr.add('le');
    for (const [, label] of (matchers as string).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) {
      if (!known.has(label as string)) problems.push(`${name} has no label ${label}`);
    }
  }
  for (const [, labels] of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    for (const label of (labels as string).split(',').map((l) => l.trim())) {
      if (label && !labelsOfExpr.has(label) && !TARGET_LABELS.includes(label))
        problems.push(`by (${label}): no such label`);
    }
  }
  return problems;
}

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** The structural checks of a CRD schema: types, known fields, required fields, enums, patterns. */
function schemaProblems(schema: Schema, value: unknown, at: string): string[] {
  if (schema['x-kubernetes-int-or-string']) {
    return typeof value === 'string' || Number.isInteger(value)
      ? []
      : [`${at}: must be an integer or a string`];
  }
  const problems: string[] = [];
  if (schema.enum && !schema.enum.includes(value))
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  switch (schema.type) {
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${at}: must be an object`];
      for (const r of schema.required ?? []) if (!(r in value)) problems.push(`${at}.${r}: required`);
      for (const [k, v] of Object.entries(value)) {
        const sub =
          schema.properties?.[k] ??
          (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
        if (sub) problems.push(...schemaProblems(sub, v, `${at}.${k}`));
        else if (!schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties !== true)
          problems.push(`${at}.${k}: unknown field`);
      }
      return problems;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: must be a list`];
      value.forEach(
        (v, i) => schema.items && problems.push(...schemaProblems(schema.items, v, `${at}[${i}]`)),
      );
      return problems;
    case 'string':
      if (typeof value !== 'string') return [`${at}: must be a string`];
      // The CRDs' patterns are RE2; the ones these objects meet are also JavaScript.
      if (schema.pattern && !new RegExp(schema.pattern).test(value))
        problems.push(`${at}: does not match ${schema.pattern}`);
      return problems;
    case 'integer':
      return Number.isInteger(value) ? problems : [`${at}: must be an integer`];
    case 'boolean':
      return typeof value === 'boolean' ? problems : [`${at}: must be a boolean`];
    default:
      return problems;
  }
}

/**
 * The operator's CRD files, from its Go module: `make lab-up` (e2e/lab/build.sh) fetched it into the
 * lab's cache, outside the real node's network namespace where these tests run.
 */
function prometheusOperatorCrd(kind: 'servicemonitors' | 'prometheusrules'): string {
  const where = spawnSync(
    path.join(REPO_ROOT, 'e2e', 'lab', 'build.sh'),
    ['path', 'prometheus-operator-crds'],
    {
      encoding: 'utf8',
    },
  );
  const file = path.join(where.stdout.trim(), `monitoring.coreos.com_${kind}.yaml`);
  if (where.status !== 0 || !fs.existsSync(file)) {
    throw new Error(
      `the Prometheus Operator's CRDs are not in the lab's cache (${file}): run make lab-up, which fetches them`,
    );
  }
  return file;
}

function crdSchema(file: string): Schema {
  const crd = parseYaml(fs.readFileSync(file, 'utf8')) as {
    spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> };
  };
  const v1 = crd.spec.versions.find((v) => v.name === 'v1');
  if (!v1) throw new Error(`${file} has no v1`);
  return v1.schema.openAPIV3Schema;
}

const ofKind = (objects: Manifest[], kind: string) => objects.filter((o) => o.kind === kind);

describe.each(CHARTS)('$name chart monitoring', (chart) => {
  it('renders nothing for monitoring by default, and needs no CRDs then', () => {
    const result = render(chart, {}, false);
    expect(result.status).toBe(0);
    const objects = parseManifests(result.stdout);
    expect(ofKind(objects, 'ServiceMonitor')).toEqual([]);
    expect(ofKind(objects, 'PrometheusRule')).toEqual([]);
    expect(ofKind(objects, 'Service')).toEqual([]);
    expect(ofKind(objects, 'ConfigMap')).toEqual([]);
  });

  it.each(['serviceMonitor.enabled', 'prometheusRule.enabled'])(
    'refuses %s on a cluster without the Prometheus Operator, saying what to do',
    (value) => {
      const result = render(chart, { [value]: 'true' }, false);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(
        "serviceMonitor.enabled and prometheusRule.enabled need the Prometheus Operator's CRDs (API monitoring.coreos.com/v1), which this cluster does not serve",
      );
    },
  );

  it('scrapes the pods: the ServiceMonitor selects the metrics Service, which selects the DaemonSet pods on their metrics port', () => {
    const objects = renderObjects(chart);
    const [monitor] = ofKind(objects, 'ServiceMonitor') as Array<
      Manifest & {
        spec: {
          selector: { matchLabels: Record<string, string> };
          endpoints: Array<{ port: string; path: string }>;
        };
      }
    >;
    const services = ofKind(objects, 'Service') as Array<
      Manifest & {
        spec: {
          selector: Record<string, string>;
          ports: Array<{ name: string; port: number; targetPort: string }>;
        };
      }
    >;
    const ds = ofKind(objects, 'DaemonSet')[0] as Manifest & {
      spec: {
        template: {
          metadata: { labels: Record<string, string> };
          spec: { containers: Array<{ ports?: Array<{ name: string; containerPort: number }> }> };
        };
      };
    };
    expect(monitor).toBeDefined();
    const selected = services.filter((s) =>
      Object.entries(monitor!.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
    );
    expect(selected).toHaveLength(1);
    const service = selected[0]!;
    expect(
      Object.entries(service.spec.selector).every(([k, v]) => ds.spec.template.metadata.labels[k] === v),
    ).toBe(true);
    const metricsPort = ds.spec.template.spec.containers
      .flatMap((c) => c.ports ?? [])
      .find((p) => p.name === 'metrics');
    expect(service.spec.ports).toEqual([
      expect.objectContaining({ name: 'metrics', port: metricsPort?.containerPort, targetPort: 'metrics' }),
    ]);
    expect(monitor!.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
  });

  it("alerts and dashboard panels use only metrics and labels the program exposes; the alerts select the ServiceMonitor's job", () => {
    const metrics = programMetrics(chart);
    const objects = renderObjects(chart);
    const rule = ofKind(objects, 'PrometheusRule')[0] as Manifest & {
      spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    };
    const service = ofKind(objects, 'Service')[0]!;
    const alerts = rule.spec.groups.flatMap((g) => g.rules);
    expect(alerts.length).toBeGreaterThanOrEqual(3);
    for (const a of alerts) {
      expect({ alert: a.alert, problems: unknownReferences(a.expr, metrics) }).toEqual({
        alert: a.alert,
        problems: [],
      });
      expect({ alert: a.alert, selectsJob: a.expr.includes(`job="${service.metadata.name}"`) }).toEqual({
        alert: a.alert,
        selectsJob: true,
      });
    }
    const dashboards = ofKind(objects, 'ConfigMap') as Array<Manifest & { data: Record<string, string> }>;
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]!.metadata.labels?.grafana_dashboard).toBe('1');
    const [json] = Object.values(dashboards[0]!.data);
    const dashboard = JSON.parse(json!) as {
      uid: string;
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.panels.length).toBeGreaterThan(4);
    for (const p of dashboard.panels) {
      for (const t of p.targets)
        expect({ panel: p.title, problems: unknownReferences(t.expr, metrics) }).toEqual({
          panel: p.title,
          problems: [],
        });
    }
  });

  it('names the mount errors, rotation errors and provider health in its alerts', () => {
    const rule = ofKind(renderObjects(chart), 'PrometheusRule')[0] as Manifest & {
      spec: { groups: Array<{ rules: Array<{ expr: string }> }> };
    };
    const exprs = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.expr)).join('\n');
    const wanted =
      chart.name === 'driver'
        ? [
            'node_publish_error_total',
            'rotation_reconcile_error_total',
            'provider_health_check_status',
            'up{',
          ]
        : ['aws_provider_mount_duration_seconds_count', 'aws_api_calls_total', 'up{'];
    for (const w of wanted) expect(exprs).toContain(w);
  });

  it("fits the operator's CRD schemas (ServiceMonitor, PrometheusRule), with every option set", () => {
    const objects = renderObjects(
      chart,
      { ...ALL_ON, 'serviceMonitor.scrapeTimeout': '10s', 'prometheusRule.for': '15m' },
      {
        setJson: {
          'serviceMonitor.labels': { release: 'kube-prometheus-stack' },
          'serviceMonitor.relabelings': [
            { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' },
          ],
          'serviceMonitor.metricRelabelings': [
            { action: 'drop', regex: 'nodejs_.*', sourceLabels: ['__name__'] },
          ],
          'prometheusRule.additionalRules': [
            { alert: 'Extra', expr: 'vector(1)', labels: { severity: 'info' } },
          ],
        },
      },
    );
    for (const [kind, crd] of [
      ['ServiceMonitor', 'servicemonitors'],
      ['PrometheusRule', 'prometheusrules'],
    ] as const) {
      const schema = crdSchema(prometheusOperatorCrd(crd));
      const [object] = ofKind(objects, kind);
      expect(object).toBeDefined();
      expect(object!.apiVersion).toBe(MONITORING_API);
      expect({
        kind,
        problems: schemaProblems(
          schema.properties!.spec!,
          (object as Manifest & { spec: unknown }).spec,
          'spec',
        ),
      }).toEqual({ kind, problems: [] });
    }
    // The checks can fail: a misspelt field and a wrong type are found.
    const schema = crdSchema(prometheusOperatorCrd('servicemonitors'));
    expect(
      schemaProblems(
        schema.properties!.spec!,
        { selector: {}, endpoints: [{ prot: 'metrics', interval: 30 }] },
        'spec',
      ),
    ).toEqual(['spec.endpoints[0].prot: unknown field', 'spec.endpoints[0].interval: must be a string']);
  });
});

describe('with the Prometheus Operator CRDs installed in the lab', () => {
  const crds = () => [prometheusOperatorCrd('servicemonitors'), prometheusOperatorCrd('prometheusrules')];

  beforeAll(() => {
    for (const crd of crds()) mustRun(lab, 'kubectl', ['apply', '--server-side', '-f', crd]);
    mustRun(lab, 'kubectl', [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/servicemonitors.monitoring.coreos.com',
      'crd/prometheusrules.monitoring.coreos.com',
    ]);
  });

  afterAll(() => {
    for (const crd of crds())
      labTool(lab, 'kubectl', ['delete', '--ignore-not-found', '--wait=true', '-f', crd]);
  });

  it.each(CHARTS)(
    'the API server accepts everything the $name chart renders for monitoring (server-side dry-run)',
    (chart) => {
      // Rendered as `helm template` users do without a cluster, for this cluster's version
      // (--kube-version) with the operator's API (--api-versions); not --validate, which would also
      // refuse objects other tests left, such as the CSIDriver. Then judged by the API server, which
      // serves the operator's CRDs now.
      const server = JSON.parse(mustRun(lab, 'kubectl', ['version', '-o', 'json'])) as {
        serverVersion: { gitVersion: string };
      };
      const args = ['template', chart.release, chart.dir, '--namespace', NAMESPACE];
      args.push('--kube-version', server.serverVersion.gitVersion, '--api-versions', MONITORING_API);
      for (const [k, v] of Object.entries({ ...chart.extraSet, ...ALL_ON })) args.push('--set', `${k}=${v}`);
      const text = mustRun(lab, 'helm', args);
      const result = labTool(
        lab,
        'kubectl',
        // --force-conflicts: a dry run; the CSIDriver's fields may belong to the tests that made it.
        [
          'apply',
          '--server-side',
          '--dry-run=server',
          '--force-conflicts',
          '--field-manager=monitoring-dry-run',
          '-f',
          '-',
        ],
        text,
      );
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
      expect(result.stdout).toMatch(
        /servicemonitor\.monitoring\.coreos\.com\/\S+ serverside-applied \(server dry run\)/,
      );
      expect(result.stdout).toMatch(
        /prometheusrule\.monitoring\.coreos\.com\/\S+ serverside-applied \(server dry run\)/,
      );
    },
  );

  it('refuses a scrape interval that is no Prometheus duration, naming the field', () => {
    const text = mustRun(lab, 'helm', [
      'template',
      'secrets-store-csi-driver',
      DRIVER_CHART,
      '--namespace',
      NAMESPACE,
      '--api-versions',
      MONITORING_API,
      '--set',
      'serviceMonitor.enabled=true',
      '--set',
      'serviceMonitor.interval=30 seconds',
      '--show-only',
      'templates/monitoring.yaml',
    ]);
    const result = labTool(lab, 'kubectl', ['apply', '--server-side', '--dry-run=server', '-f', '-'], text);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/spec\.endpoints\[0\]\.interval/);
  });
});
