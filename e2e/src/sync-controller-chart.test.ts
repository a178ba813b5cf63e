// The sync controller chart's files as committed, checked without helm: its CRDs are the API that
// clients and upstream's end-to-end suite rely on (the SecretSync schema, patterns, limits, defaults,
// validation rules and their messages; the SecretProviderClass CRD, the driver chart's file), and
// its AWS example runs the provider of the same version.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

import { REPO_ROOT } from './lab';

const CHART = path.join(REPO_ROOT, 'charts', 'secrets-store-sync-controller');
const SPC_CRD = 'crds/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml';

interface Schema {
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  enum?: string[];
  format?: string;
  minimum?: number;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
}

interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: Record<string, string>;
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: Record<string, unknown>;
      additionalPrinterColumns?: unknown[];
      schema: { openAPIV3Schema: Schema };
    }>;
  };
}

function readCrd(file: string): Crd {
  return parseYaml(fs.readFileSync(path.join(CHART, file), 'utf8')) as Crd;
}

/** The schema without its descriptions: what the API server enforces. */
function enforced(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(enforced);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key]) => key !== 'description')
      .map(([key, value]) => [key, enforced(value)]),
  );
}

/** A CRD pattern as a JavaScript regular expression (these use no RE2-only syntax). */
function matcher(pattern: string | undefined): (value: string) => boolean {
  if (pattern === undefined) throw new Error('no pattern');
  const re = new RegExp(pattern);
  return (value) => re.test(value);
}

// Upstream's patterns and rules, as its staging CRD has them (and the spec of the controller lists).
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const KEY_OR_PATH = '^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\\/([0-9]+))*$';
const FORCE = '^[A-Za-z0-9]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?$';
const LABEL_RULES = [
  {
    rule: '(self.all(x, x.size() <= 317 && self[x].size() <= 63) == true)',
    message:
      'Label keys must not exceed 317 characters (254 for prefix+separator, 63 for name), label values must not exceed 63 characters.',
  },
  {
    rule: "(self.all(x, x.startsWith('secrets-store.sync.x-k8s.io') == false))",
    message:
      'Labels should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller.',
  },
];
const ANNOTATION_RULES = [
  {
    rule: '(self.all(x, x.size() < 317 && self[x].size() <= 262144) == true)',
    message:
      'Annotations keys must not exceed 317 characters (254 for prefix+separator, 63 for name), annotation values must not exceed 256 kB.',
  },
  {
    rule: "(self.all(x, x.startsWith('secrets-store.sync.x-k8s.io') == false))",
    message:
      'Annotations should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller.',
  },
];

describe('the SecretSync CRD of the sync controller chart', () => {
  const crd = readCrd('crds/secret-sync.x-k8s.io_secretsyncs.yaml');
  const [version] = crd.spec.versions;
  const root = version!.schema.openAPIV3Schema;
  const spec = root.properties!.spec!;
  const secretObject = spec.properties!.secretObject!;
  const data = secretObject.properties!.data!;

  it('is v1alpha1 of secret-sync.x-k8s.io, namespaced, served and stored, with a status subresource', () => {
    expect(crd.metadata.name).toBe('secretsyncs.secret-sync.x-k8s.io');
    expect(crd.spec.group).toBe('secret-sync.x-k8s.io');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toEqual({
      kind: 'SecretSync',
      listKind: 'SecretSyncList',
      plural: 'secretsyncs',
      singular: 'secretsync',
    });
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true });
    expect(version!.subresources).toEqual({ status: {} });
    // kubectl get shows NAME and AGE only, as upstream's.
    expect(version!.additionalPrinterColumns).toBeUndefined();
  });

  it('requires the class, the ServiceAccount and the Secret, each with its limits and pattern', () => {
    expect(spec.required?.sort()).toEqual(['secretObject', 'secretProviderClassName', 'serviceAccountName']);
    for (const name of ['secretProviderClassName', 'serviceAccountName']) {
      expect(enforced(spec.properties![name])).toEqual({
        type: 'string',
        minLength: 1,
        maxLength: 253,
        pattern: DNS_SUBDOMAIN,
      });
    }
    expect(enforced(spec.properties!.secretSyncControllerName)).toEqual({ type: 'string', default: '' });
    expect(enforced(spec.properties!.forceSynchronization)).toEqual({
      type: 'string',
      maxLength: 253,
      pattern: FORCE,
    });
    expect(secretObject.required).toEqual(['data']);
    expect(enforced(secretObject.properties!.type)).toEqual({
      type: 'string',
      default: 'Opaque',
      maxLength: 253,
    });
    expect(Object.keys(spec.properties!).sort()).toEqual([
      'forceSynchronization',
      'secretObject',
      'secretProviderClassName',
      'secretSyncControllerName',
      'serviceAccountName',
    ]);
    expect(Object.keys(secretObject.properties!).sort()).toEqual(['annotations', 'data', 'labels', 'type']);
  });

  it('keys data by targetKey (unique), each entry with a source path and a key of that pattern', () => {
    expect(enforced({ ...data, items: undefined })).toEqual({
      type: 'array',
      minItems: 1,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['targetKey'],
      items: undefined,
    });
    expect(data.items?.required).toEqual(['sourcePath', 'targetKey']);
    for (const name of ['sourcePath', 'targetKey']) {
      expect(enforced(data.items!.properties![name])).toEqual({
        type: 'string',
        minLength: 1,
        maxLength: 253,
        pattern: KEY_OR_PATH,
      });
    }
  });

  it("accepts and refuses keys, paths and force values as upstream's patterns do", () => {
    const key = matcher(data.items!.properties!.targetKey!.pattern);
    const accepted = ['foo', 'a', 'ab_c', 'ab.c', 'tls.crt', '.dockerconfigjson', 'foo-', 'foo/1', 'x/1/2'];
    const refused = ['a_b', 'a.b', '_app', 'foo.', 'my__key', 'foo/bar'];
    expect(accepted.filter((v) => !key(v))).toEqual([]);
    expect(refused.filter((v) => key(v))).toEqual([]);
    const force = matcher(spec.properties!.forceSynchronization!.pattern);
    expect(['1', 'v1', '2024-01-01', 'ab.c'].filter((v) => !force(v))).toEqual([]);
    expect(['a.b', 'x_', '-1'].filter((v) => force(v))).toEqual([]);
    const name = matcher(spec.properties!.serviceAccountName!.pattern);
    expect(['default', 'my-app', 'a.b-c'].filter((v) => !name(v))).toEqual([]);
    expect(['My-App', '-a', 'a_b'].filter((v) => name(v))).toEqual([]);
  });

  it("validates labels and annotations with upstream's rules and messages, verbatim", () => {
    for (const [field, rules] of [
      ['labels', LABEL_RULES],
      ['annotations', ANNOTATION_RULES],
    ] as const) {
      expect(enforced(secretObject.properties![field])).toEqual({
        type: 'object',
        additionalProperties: { type: 'string' },
        'x-kubernetes-validations': rules,
      });
    }
  });

  it('has the status of a sync: its hash, time and standard conditions keyed by type', () => {
    const status = root.properties!.status!;
    expect(Object.keys(status.properties!).sort()).toEqual([
      'conditions',
      'lastSuccessfulSyncTime',
      'syncHash',
    ]);
    expect(enforced(status.properties!.syncHash)).toEqual({ type: 'string' });
    expect(enforced(status.properties!.lastSuccessfulSyncTime)).toEqual({
      type: 'string',
      format: 'date-time',
    });
    const conditions = status.properties!.conditions!;
    expect(enforced({ ...conditions, items: undefined })).toEqual({
      type: 'array',
      maxItems: 16,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: undefined,
    });
    const condition = conditions.items!;
    expect(condition.required?.sort()).toEqual(['lastTransitionTime', 'message', 'reason', 'status', 'type']);
    expect(condition.properties!.status!.enum).toEqual(['True', 'False', 'Unknown']);
    expect(condition.properties!.reason).toMatchObject({ minLength: 1, maxLength: 1024 });
    expect(condition.properties!.message!.maxLength).toBe(32768);
    expect(condition.properties!.type!.maxLength).toBe(316);
    expect(condition.properties!.observedGeneration).toMatchObject({ type: 'integer', minimum: 0 });
  });
});

describe('the SecretProviderClass CRD of the sync controller chart', () => {
  it("is the driver chart's file, byte for byte (Helm installs CRDs only from a chart's own folder)", () => {
    const driverCopy = fs.readFileSync(path.join(REPO_ROOT, 'charts', 'secrets-store-csi-driver', SPC_CRD));
    const ours = fs.readFileSync(path.join(CHART, SPC_CRD));
    // On failure: cp charts/secrets-store-csi-driver/<file> charts/secrets-store-sync-controller/crds/
    expect(ours.equals(driverCopy)).toBe(true);
    expect(readCrd(SPC_CRD).metadata.name).toBe('secretproviderclasses.secrets-store.csi.x-k8s.io');
  });
});

describe("the sync controller chart's AWS example", () => {
  it("runs the AWS provider image of the provider chart's version, on /provider/aws.sock", () => {
    const example = parseYaml(
      fs.readFileSync(path.join(CHART, 'examples', 'aws-provider-sidecar.yaml'), 'utf8'),
    ) as { providerContainer: Array<{ image: string; args: string[] }> };
    const providerChart = parseYaml(
      fs.readFileSync(
        path.join(REPO_ROOT, 'charts', 'secrets-store-csi-driver-provider-aws', 'Chart.yaml'),
        'utf8',
      ),
    ) as { appVersion: string };
    const [sidecar] = example.providerContainer;
    expect(sidecar?.image).toBe(
      `ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws:${providerChart.appVersion}`,
    );
    expect(sidecar?.args).toContain('--provider-volume=/provider');
  });
});
