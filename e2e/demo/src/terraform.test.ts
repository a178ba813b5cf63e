// examples/terraform against examples/iam: the Terraform is parsed as HCL (the HashiCorp parser,
// as WebAssembly), its interpolations read back as the JSON files' placeholders, and each policy
// document it makes compared with the JSON file the demo applies: same effect, actions and
// resources, same principal and conditions of trust. Then the wiring: each role trusts its own
// ServiceAccount, has its own policy attached, and is the one its ServiceAccount is annotated with.
import { parse } from '@cdktf/hcl2json';
import fs from 'node:fs';
import path from 'node:path';

import {
  ARTICLE_NAMESPACE,
  PARAMETER_STORE_POLICY,
  PARAMETER_STORE_ROLE,
  PARAMETER_STORE_SERVICE_ACCOUNT,
  SECRETS_MANAGER_POLICY,
  SECRETS_MANAGER_ROLE,
  SECRETS_MANAGER_SERVICE_ACCOUNT,
  TRUST_POLICY_FILE,
} from './article';
import { EXAMPLES_DIR, fillPlaceholders, readExample } from './examples';

const TERRAFORM_DIR = path.join(EXAMPLES_DIR, 'terraform');

// hcl2json's JSON: each block type, then each label, holds a list of bodies.
type Body = Record<string, unknown>;
type Labelled = Record<string, Record<string, Body[]>>;
interface Terraform {
  resource: Labelled;
  data: Labelled;
  locals: Record<string, string>;
  variable: Record<string, Body[]>;
}

async function parseTerraform(files: Record<string, string>): Promise<Terraform> {
  const tf: Terraform = { resource: {}, data: {}, locals: {}, variable: {} };
  for (const [name, text] of Object.entries(files)) {
    const parsed = (await parse(name, text)) as Partial<Record<string, unknown>>;
    for (const kind of ['resource', 'data'] as const) {
      for (const [type, byLabel] of Object.entries((parsed[kind] ?? {}) as Labelled))
        tf[kind][type] = { ...tf[kind][type], ...byLabel };
    }
    for (const locals of (parsed.locals ?? []) as Record<string, string>[]) Object.assign(tf.locals, locals);
    Object.assign(tf.variable, parsed.variable ?? {});
  }
  return tf;
}

const terraformFiles = (): Record<string, string> =>
  Object.fromEntries(
    fs
      .readdirSync(TERRAFORM_DIR)
      .filter((f) => f.endsWith('.tf'))
      .map((f) => [f, fs.readFileSync(path.join(TERRAFORM_DIR, f), 'utf8')]),
  );

/** The Terraform values the JSON files' placeholders stand for. */
const PLACEHOLDER_OF: Record<string, string> = {
  '${data.aws_caller_identity.current.account_id}': '${AWS_ACCOUNT_ID}',
  '${data.aws_region.current.region}': '${AWS_REGION}',
  '${replace(var.cluster_oidc_issuer_url, "https://", "")}': '${OIDC_PROVIDER}',
  '${var.namespace}': '${NAMESPACE}',
};

/** An HCL string with its locals expanded and its inputs written as the JSON files' placeholders. */
function asPlaceholders(tf: Terraform, value: string): string {
  let out = value;
  for (let i = 0; i < 10 && /\$\{local\./.test(out); i++)
    out = out.replace(/\$\{local\.(\w+)\}/g, (whole, name: string) => tf.locals[name] ?? whole);
  for (const [expression, placeholder] of Object.entries(PLACEHOLDER_OF))
    out = out.split(expression).join(placeholder);
  return out;
}

interface Statement {
  Effect: string;
  Action: string[];
  Resource?: string[];
  Principal?: Record<string, string[]>;
  Condition?: Record<string, Record<string, string[]>>;
}

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : [v as string]).slice().sort();

/** An IAM policy's statements, in one form: lists sorted, no Sid. */
function normalized(policy: { Statement: Record<string, unknown>[] }): Statement[] {
  return policy.Statement.map((s) => {
    const out: Statement = { Effect: s.Effect as string, Action: list(s.Action) };
    if (s.Resource !== undefined) out.Resource = list(s.Resource);
    if (s.Principal)
      out.Principal = Object.fromEntries(
        Object.entries(s.Principal as Record<string, unknown>).map(([k, v]) => [k, list(v)]),
      );
    if (s.Condition)
      out.Condition = Object.fromEntries(
        Object.entries(s.Condition as Record<string, Record<string, unknown>>).map(([op, keys]) => [
          op,
          Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, list(v)])),
        ]),
      );
    return out;
  });
}

/** The policy an `aws_iam_policy_document` renders, as Terraform's AWS provider writes it. */
function documentPolicy(tf: Terraform, document: Body): Statement[] {
  const statements = (document.statement ?? []) as Body[];
  return normalized({
    Statement: statements.map((s) => {
      const out: Record<string, unknown> = { Effect: s.effect ?? 'Allow', Action: s.actions };
      if (s.resources) out.Resource = (s.resources as string[]).map((r) => asPlaceholders(tf, r));
      if (s.principals)
        out.Principal = Object.fromEntries(
          (s.principals as Body[]).map((p) => [
            p.type,
            (p.identifiers as string[]).map((id) => asPlaceholders(tf, id)),
          ]),
        );
      if (s.condition) {
        const condition: Record<string, Record<string, string[]>> = {};
        for (const c of s.condition as Body[]) {
          const byKey = (condition[c.test as string] ??= {});
          byKey[asPlaceholders(tf, c.variable as string)] = (c.values as string[]).map((v) =>
            asPlaceholders(tf, v),
          );
        }
        out.Condition = condition;
      }
      return out;
    }),
  });
}

/** The JSON file's policy, with the placeholders given in `values` filled. */
function filePolicy(file: string, values: Record<string, string> = {}): Statement[] {
  return normalized(
    JSON.parse(fillPlaceholders(readExample(file), values, { partial: true })) as {
      Statement: Record<string, unknown>[];
    },
  );
}

/** The one resource of `type` whose `attribute` is `value`, with its label. */
function resourceWhere(tf: Terraform, type: string, attribute: (b: Body) => unknown, value: string) {
  const found = Object.entries(tf.resource[type] ?? {}).filter(
    ([, bodies]) => attribute(bodies[0] ?? {}) === value,
  );
  expect(found.map(([label]) => label)).toHaveLength(1);
  const [label, bodies] = found[0] as [string, Body[]];
  return { label, body: bodies[0] as Body };
}

/** The `aws_iam_policy_document` a `${data.aws_iam_policy_document.X.json}` reference names. */
function documentOf(tf: Terraform, reference: unknown): Body {
  const label = /^\$\{data\.aws_iam_policy_document\.(\w+)\.json\}$/.exec(String(reference))?.[1];
  expect(label).toBeDefined();
  const document = tf.data.aws_iam_policy_document?.[label as string]?.[0];
  expect(document).toBeDefined();
  return document as Body;
}

const ROLES = [
  {
    role: SECRETS_MANAGER_ROLE,
    serviceAccount: SECRETS_MANAGER_SERVICE_ACCOUNT,
    policy: SECRETS_MANAGER_POLICY,
  },
  {
    role: PARAMETER_STORE_ROLE,
    serviceAccount: PARAMETER_STORE_SERVICE_ACCOUNT,
    policy: PARAMETER_STORE_POLICY,
  },
];

/** Where the Terraform and the JSON files differ, for each role ([] when they agree). */
function differences(tf: Terraform): string[] {
  const found: string[] = [];
  for (const { role, serviceAccount, policy } of ROLES) {
    const iamPolicy = resourceWhere(tf, 'aws_iam_policy', (b) => b.name, policy.name);
    if (!equal(documentPolicy(tf, documentOf(tf, iamPolicy.body.policy)), filePolicy(policy.file)))
      found.push(`${policy.name} differs from ${policy.file}`);
    const iamRole = resourceWhere(tf, 'aws_iam_role', (b) => b.name, role);
    const trust = documentPolicy(tf, documentOf(tf, iamRole.body.assume_role_policy));
    if (!equal(trust, filePolicy(TRUST_POLICY_FILE, { SERVICE_ACCOUNT: serviceAccount })))
      found.push(`${role}'s trust policy differs from ${TRUST_POLICY_FILE} for ${serviceAccount}`);
  }
  return found;
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

describe('examples/terraform', () => {
  let tf: Terraform;
  beforeAll(async () => {
    tf = await parseTerraform(terraformFiles());
  });

  it('is HCL the parser reads (and the parser refuses what is not)', async () => {
    await expect(parse('broken.tf', 'resource "aws_iam_role" "x" {\n  name = \n}\n')).rejects.toThrow(
      /Invalid expression/,
    );
    expect(Object.keys(tf.resource).sort()).toEqual([
      'aws_iam_policy',
      'aws_iam_role',
      'aws_iam_role_policy_attachment',
      'kubernetes_service_account',
    ]);
    for (const type of Object.keys(tf.resource)) expect(Object.keys(tf.resource[type] ?? {})).toHaveLength(2);
  });

  it('allows the same actions on the same resources as the JSON policies, and trusts the same ServiceAccounts', () => {
    expect(differences(tf)).toEqual([]);
    // Sanity of the comparison itself: what it compares is not empty.
    expect(filePolicy(SECRETS_MANAGER_POLICY.file)[0]?.Action).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
  });

  it.each([
    [
      'an action dropped',
      '"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"',
      '"secretsmanager:GetSecretValue"',
    ],
    ['a resource widened', 'parameter/sample-app/db/*', 'parameter/sample-app/*'],
    ['another ServiceAccount trusted', ':sample-app-parameter-store"]', ':sample-app"]'],
    [
      'a trust condition dropped',
      'variable = "${local.oidc_provider}:aud"',
      'variable = "${local.oidc_provider}:amr"',
    ],
    ['another namespace', '"system:serviceaccount:${var.namespace}:', '"system:serviceaccount:kube-system:'],
  ])('tells when the Terraform differs from the JSON: %s', async (_, from, to) => {
    const files = terraformFiles();
    const main = files['main.tf'] as string;
    expect(main).toContain(from);
    const changed = await parseTerraform({ ...files, 'main.tf': main.replace(from, to) });
    expect(differences(changed)).not.toEqual([]);
  });

  it('gives each role its own policy, and annotates each ServiceAccount with its own role', () => {
    expect(tf.variable.namespace?.[0]?.default).toBe(ARTICLE_NAMESPACE);
    for (const { role, serviceAccount, policy } of ROLES) {
      const iamRole = resourceWhere(tf, 'aws_iam_role', (b) => b.name, role);
      const iamPolicy = resourceWhere(tf, 'aws_iam_policy', (b) => b.name, policy.name);
      const attachment = resourceWhere(
        tf,
        'aws_iam_role_policy_attachment',
        (b) => b.role,
        `\${aws_iam_role.${iamRole.label}.name}`,
      );
      expect(attachment.body.policy_arn).toBe(`\${aws_iam_policy.${iamPolicy.label}.arn}`);
      const metadataOf = (b: Body) => (b.metadata as Body[] | undefined)?.[0] ?? {};
      const account = resourceWhere(
        tf,
        'kubernetes_service_account',
        (b) => metadataOf(b).name,
        serviceAccount,
      );
      expect(metadataOf(account.body)).toEqual({
        name: serviceAccount,
        namespace: '${var.namespace}',
        annotations: { 'eks.amazonaws.com/role-arn': `\${aws_iam_role.${iamRole.label}.arn}` },
      });
    }
  });
});
