// The sync controller chart in the lab's cluster, without the controller's pods: the API server
// serves the SecretSync CRD with upstream's defaults and refuses what its rules refuse, with their
// messages; it accepts everything the chart renders; and the admission policies, in force, refuse
// the controller's ServiceAccount what they should, in the words upstream's end-to-end suite
// compares, while letting it write its own Secrets and request tokens for its audiences.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Manifest } from '../src/charts';
import { labTool, mustRun, renderChart, SYNC_CONTROLLER_CHART, SYNC_CONTROLLER_RELEASE } from '../src/charts';
import { eventually, requireLab, uniqueSuffix } from '../src/lab';

const lab = requireLab();

const SECRETSYNC_CRD = 'secretsyncs.secret-sync.x-k8s.io';
const SECRETSYNC_CRD_FILE = path.join(SYNC_CONTROLLER_CHART, 'crds', 'secret-sync.x-k8s.io_secretsyncs.yaml');
/** What the policies and RBAC are; the Deployment is left out (its image is not in the lab). */
const APPLIED_KINDS = [
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
];
const AUDIENCES = ['sts.amazonaws.com', 'pods.eks.amazonaws.com'];

const suffix = uniqueSuffix();
/** The release's namespace, and an application's namespace where the controller writes Secrets. */
const system = `ssc-system-${suffix}`;
const app = `ssc-app-${suffix}`;
const controller = `system:serviceaccount:${system}:secrets-store-sync-controller-manager`;

let work: string;
let rendered: string;
let createdCrd = false;

function kubectl(args: string[], input?: string) {
  return labTool(lab, 'kubectl', args, input);
}

/** kubectl as the controller's ServiceAccount. */
function asController(args: string[], input?: string) {
  return kubectl([...args, `--as=${controller}`], input);
}

function denial(policy: string, text: string): string {
  return `ValidatingAdmissionPolicy '${policy}' with binding '${policy}-binding' denied request: ${text}`;
}

function secretSync(name: string, secretObject: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
    kind: 'SecretSync',
    metadata: { name, namespace: app },
    spec: { serviceAccountName: 'my-app', secretProviderClassName: 'my-class', secretObject },
  });
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ssc-chart-'));
  createdCrd = kubectl(['get', 'crd', SECRETSYNC_CRD]).status !== 0;
  mustRun(lab, 'kubectl', ['apply', '--server-side', '--force-conflicts', '-f', SECRETSYNC_CRD_FILE]);
  mustRun(lab, 'kubectl', ['wait', '--for=condition=Established', '--timeout=60s', `crd/${SECRETSYNC_CRD}`]);
  for (const ns of [system, app]) mustRun(lab, 'kubectl', ['create', 'namespace', ns]);
  mustRun(lab, 'kubectl', ['create', 'serviceaccount', 'my-app', '-n', app]);

  const { objects } = renderChart(lab, SYNC_CONTROLLER_CHART, {
    release: SYNC_CONTROLLER_RELEASE,
    namespace: system,
    setJson: { tokenRequestAudience: AUDIENCES.map((audience) => ({ audience })) },
  });
  const applied: Manifest[] = objects.filter((o) => APPLIED_KINDS.includes(o.kind));
  rendered = path.join(work, 'rbac-and-policies.json');
  fs.writeFileSync(rendered, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: applied }));
  mustRun(lab, 'kubectl', ['apply', '--server-side', '-f', rendered]);
  // Policies take effect once the API server's admission plugin has them: until then a request
  // that breaks them is let through, so wait (with dry runs, which admission sees too).
  await eventually('the policies to be in force', () => {
    const probe = asController([
      'create',
      'secret',
      'generic',
      'probe',
      '--type=example.com/api-credentials',
      '--from-literal=k=v',
      '--dry-run=server',
      '-n',
      app,
    ]);
    return probe.stderr.includes('secrets-store-sync-controller-create-update-policy') ? true : undefined;
  });
});

afterAll(() => {
  if (rendered) kubectl(['delete', '-f', rendered, '--ignore-not-found', '--wait=false']);
  for (const ns of [system, app]) kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  if (createdCrd) kubectl(['delete', 'crd', SECRETSYNC_CRD, '--ignore-not-found', '--wait=false']);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the SecretSync CRD in the lab', () => {
  it("defaults the Secret's type to Opaque and keeps the fields as given", () => {
    mustRun(
      lab,
      'kubectl',
      ['create', '-f', '-'],
      secretSync('plain', { data: [{ sourcePath: 'foo', targetKey: 'bar' }] }),
    );
    const live = JSON.parse(
      mustRun(lab, 'kubectl', ['get', 'secretsync', 'plain', '-n', app, '-o', 'json']),
    ) as {
      spec: Record<string, unknown>;
    };
    expect(live.spec).toEqual({
      serviceAccountName: 'my-app',
      secretProviderClassName: 'my-class',
      secretSyncControllerName: '',
      secretObject: { type: 'Opaque', data: [{ sourcePath: 'foo', targetKey: 'bar' }] },
    });
    // `kubectl get` shows the name and age only, as upstream's.
    const [header] = mustRun(lab, 'kubectl', ['get', 'secretsyncs', '-n', app]).trim().split('\n');
    expect(header?.trim().split(/\s+/)).toEqual(['NAME', 'AGE']);
  });

  it("refuses what upstream's rules refuse, with their messages", () => {
    const data = [{ sourcePath: 'foo', targetKey: 'bar' }];
    const refusals: Array<{ what: string; secretObject: Record<string, unknown>; message: string | RegExp }> =
      [
        {
          // Upstream's bats "API validations": a label value of 68 characters.
          what: 'long label value',
          secretObject: { data, labels: { 'my.label': 'x'.repeat(68) } },
          message:
            'Label keys must not exceed 317 characters (254 for prefix+separator, 63 for name), label values must not exceed 63 characters.',
        },
        {
          what: 'reserved label',
          secretObject: { data, labels: { 'secrets-store.sync.x-k8s.io/mine': 'x' } },
          message:
            'Labels should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller.',
        },
        {
          what: 'reserved annotation',
          secretObject: { data, annotations: { 'secrets-store.sync.x-k8s.io': 'x' } },
          message:
            'Annotations should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller.',
        },
        {
          what: 'key pattern',
          secretObject: { data: [{ sourcePath: 'foo', targetKey: 'a_b' }] },
          message: /spec\.secretObject\.data\[0\]\.targetKey.*should match/,
        },
        {
          what: 'targetKey twice',
          secretObject: {
            data: [
              { sourcePath: 'foo', targetKey: 'bar' },
              { sourcePath: 'baz', targetKey: 'bar' },
            ],
          },
          message: /spec\.secretObject\.data\[1\]: Duplicate value/,
        },
        {
          what: 'no data',
          secretObject: { data: [] },
          message: /spec\.secretObject\.data.*should have at least 1 items/,
        },
      ];
    for (const { what, secretObject, message } of refusals) {
      const result = kubectl(
        ['apply', '-f', '-'],
        secretSync(`refused-${refusals.findIndex((r) => r.what === what)}`, secretObject),
      );
      expect({ what, status: result.status }).toEqual({ what, status: 1 });
      if (typeof message === 'string')
        expect({ what, stderr: result.stderr }).toEqual({ what, stderr: expect.stringContaining(message) });
      else expect({ what, stderr: result.stderr }).toEqual({ what, stderr: expect.stringMatching(message) });
    }
  });
});

describe('the sync controller chart in the lab', () => {
  it('passes a server-side dry-run of everything it renders, with the AWS example', () => {
    const { text } = renderChart(lab, SYNC_CONTROLLER_CHART, {
      release: SYNC_CONTROLLER_RELEASE,
      namespace: system,
      valuesFiles: [path.join(SYNC_CONTROLLER_CHART, 'examples', 'aws-provider-sidecar.yaml')],
      set: { providerVolumeHostPath: '/var/run/secrets-store-sync-providers' },
    });
    const result = kubectl(
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
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(
      /deployment\.apps\/secrets-store-sync-controller-manager serverside-applied \(server dry run\)/,
    );
  });

  it("refuses the controller's ServiceAccount Secrets of types it may not write, in upstream's words", () => {
    const policy = 'secrets-store-sync-controller-create-update-policy';
    // As upstream's bats tests 6 and 7 make them: one SecretSync owner of the same name.
    const secret = (name: string, type: string, annotations: Record<string, string> = {}) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace: app,
          annotations,
          labels: { 'secrets-store.sync.x-k8s.io': '' },
          ownerReferences: [
            {
              apiVersion: 'secret-sync.x-k8s.io/v1alpha1',
              kind: 'SecretSync',
              name,
              uid: '00000000-0000-0000-0000-000000000000',
            },
          ],
        },
        type,
        data: { bar: Buffer.from('secret').toString('base64') },
      });
    const custom = asController(
      ['create', '-f', '-'],
      secret('my-custom-api-secret', 'example.com/api-credentials'),
    );
    expect(custom.status).not.toBe(0);
    expect(custom.stderr).toContain(
      denial(
        policy,
        `secrets-store-sync-controller has failed to CREATE secret with example.com/api-credentials type in the ${app} namespace. The controller can only create or update secrets in the allowed types list with a single secretsync owner.`,
      ),
    );
    const token = asController(
      ['create', '-f', '-'],
      secret('sse2eserviceaccountsecret', 'kubernetes.io/service-account-token', {
        'kubernetes.io/service-account.name': 'default',
      }),
    );
    expect(token.status).not.toBe(0);
    expect(token.stderr).toContain(
      denial(
        policy,
        `secrets-store-sync-controller has failed to CREATE secret with kubernetes.io/service-account-token type in the ${app} namespace. The controller is not allowed to create or update secrets with this type.`,
      ),
    );
    // An allowed type without a SecretSync owner is refused too (upstream's expression then fails on
    // the missing ownerReferences, so the text is the API server's).
    const orphan = asController([
      'create',
      'secret',
      'generic',
      'orphan',
      '--from-literal=foo=bar',
      '-n',
      app,
    ]);
    expect(orphan.status).not.toBe(0);
    expect(orphan.stderr).toContain(
      `ValidatingAdmissionPolicy '${policy}' with binding '${policy}-binding' denied request`,
    );
  });

  it('lets it write the Secret its SecretSync owns, never delete it, nor update a Secret it does not own', async () => {
    mustRun(
      lab,
      'kubectl',
      ['create', '-f', '-'],
      secretSync('owned', { data: [{ sourcePath: 'foo', targetKey: 'bar' }] }),
    );
    const uid = mustRun(lab, 'kubectl', [
      'get',
      'secretsync',
      'owned',
      '-n',
      app,
      '-o',
      'jsonpath={.metadata.uid}',
    ]).trim();
    const owned = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'owned',
        namespace: app,
        labels: { 'secrets-store.sync.x-k8s.io': '' },
        ownerReferences: [
          { apiVersion: 'secret-sync.x-k8s.io/v1alpha1', kind: 'SecretSync', name: 'owned', uid },
        ],
      },
      type: 'Opaque',
      data: { bar: Buffer.from('secret').toString('base64') },
    };
    // The chart grants create and patch (no get): as the controller writes, a server-side apply of
    // the whole Secret creates it, and another one updates it (kubectl patch would get it first).
    const apply = ['apply', '--server-side', '--field-manager=secrets-store-sync-controller', '-f', '-'];
    const created = asController(apply, JSON.stringify(owned));
    expect({ status: created.status, stderr: created.stderr }).toEqual({ status: 0, stderr: '' });
    const rotated = { ...owned, data: { bar: Buffer.from('rotated').toString('base64') } };
    const updated = asController(apply, JSON.stringify(rotated));
    expect({ status: updated.status, stderr: updated.stderr }).toEqual({ status: 0, stderr: '' });

    // Deleting needs RBAC first (the chart grants none); with it, the delete policy still refuses.
    mustRun(lab, 'kubectl', [
      'create',
      'role',
      'delete-secrets',
      '--verb=delete',
      '--resource=secrets',
      '-n',
      app,
    ]);
    mustRun(lab, 'kubectl', [
      'create',
      'rolebinding',
      'delete-secrets',
      '--role=delete-secrets',
      `--user=${controller}`,
      '-n',
      app,
    ]);
    const deleted = await eventually('the delete to pass RBAC and reach admission', () => {
      const result = asController(['delete', 'secret', 'owned', '-n', app, '--wait=false']);
      return /cannot delete resource/.test(result.stderr) ? undefined : result;
    });
    expect(deleted.status).not.toBe(0);
    expect(deleted.stderr).toContain(
      denial(
        'secrets-store-sync-controller-delete-policy',
        `secrets-store-sync-controller has failed to DELETE secrets in the ${app} namespace. The controller is not allowed to delete secrets.`,
      ),
    );

    // A Secret someone else made: no SecretSync owner, no label (another key: no field conflict).
    mustRun(lab, 'kubectl', ['create', 'secret', 'generic', 'theirs', '--from-literal=other=x', '-n', app]);
    const theirs = { ...rotated, metadata: { ...rotated.metadata, name: 'theirs' } };
    const taken = asController(apply, JSON.stringify(theirs));
    expect(taken.status).not.toBe(0);
    expect(taken.stderr).toMatch(
      /ValidatingAdmissionPolicy 'secrets-store-sync-controller-(create-update|update-check-oldobject|update-label)-policy' with binding '[a-z-]+-binding' denied request/,
    );
  });

  it('lets it request 600-second tokens for each configured audience, alone, and no other', () => {
    const request = (audiences: string[], duration = '600s') =>
      asController([
        'create',
        'token',
        'my-app',
        '-n',
        app,
        `--duration=${duration}`,
        ...audiences.map((a) => `--audience=${a}`),
      ]);
    // Both audiences, the second one included (upstream's ", " join made it " pods.eks...").
    for (const audience of AUDIENCES) {
      const result = request([audience]);
      expect({ audience, status: result.status, stderr: result.stderr }).toEqual({
        audience,
        status: 0,
        stderr: '',
      });
      expect(result.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    }
    const refused = denial(
      'secrets-store-sync-controller-validate-token-policy',
      `secrets-store-sync-controller has failed to CREATE my-app token in the ${app} namespace. Check the configuration.`,
    );
    for (const [what, result] of [
      ['another audience', request(['api://AzureADTokenExchange'])],
      ['two audiences at once', request(AUDIENCES)],
      ['an hour', request([AUDIENCES[0]!], '3600s')],
    ] as const) {
      expect({ what, status: result.status }).toEqual({ what, status: 1 });
      expect({ what, stderr: result.stderr }).toEqual({ what, stderr: expect.stringContaining(refused) });
    }
  });
});
