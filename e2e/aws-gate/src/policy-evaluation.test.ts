import { ConditionContext } from './condition-context';
import { arnMatches, matchesPattern } from './iam-patterns';
import { conditionsHold } from './policy-conditions';
import type { PolicyDocument } from './policy-document';
import { parsePolicyDocument, PolicyError } from './policy-document';
import type { AccessRequest, Caller } from './policy-evaluation';
import { evaluatePolicies } from './policy-evaluation';

const ACCOUNT = '123456789012';
const SECRET = `arn:aws:secretsmanager:ap-northeast-1:${ACCOUNT}:secret:MyDBSecret-AbCdEf`;

const policy = (statements: object[], source = 'test policy'): PolicyDocument =>
  parsePolicyDocument(JSON.stringify({ Version: '2012-10-17', Statement: statements }), source);

const request = (o: Partial<AccessRequest> = {}): AccessRequest => ({
  action: 'secretsmanager:GetSecretValue',
  resource: SECRET,
  context: new ConditionContext(),
  ...o,
});

describe('IAM patterns', () => {
  it.each<[string, string, boolean, boolean]>([
    ['secretsmanager:*', 'secretsmanager:GetSecretValue', true, true],
    ['SecretsManager:getsecret*', 'secretsmanager:GetSecretValue', true, true],
    ['secretsmanager:Get?ecretValue', 'secretsmanager:GetSecretValue', true, true],
    ['ssm:*', 'secretsmanager:GetSecretValue', true, false],
    [`arn:aws:secretsmanager:*:${ACCOUNT}:secret:MyDBSecret-*`, SECRET, false, true],
    [`arn:aws:secretsmanager:*:${ACCOUNT}:secret:mydbsecret-*`, SECRET, false, false],
    ['arn:aws:ssm:*:*:parameter/sample-app/db/*', 'arn:aws:ssm:r:1:parameter/sample-app/db/x/y', false, true],
    ['a.b(c)+', 'a.b(c)+', false, true],
  ])('%s against %s (ignore case %s): %s', (pattern, value, caseInsensitive, expected) => {
    expect(matchesPattern(pattern, value, { wildcards: true, caseInsensitive })).toBe(expected);
  });

  it('substitutes policy variables literally, with defaults, and matches nothing when a value is missing', () => {
    const variables = new ConditionContext({ 'aws:PrincipalTag/team': 'a*', 'aws:username': 'x' });
    const o = { wildcards: true, variables };
    expect(matchesPattern('secret:${aws:PrincipalTag/team}-*', 'secret:a*-1', o)).toBe(true);
    // The tag's `*` is literal text, not a wildcard.
    expect(matchesPattern('secret:${aws:PrincipalTag/team}-*', 'secret:abc-1', o)).toBe(false);
    expect(matchesPattern('secret:${aws:PrincipalTag/missing}', 'secret:', o)).toBe(false);
    expect(matchesPattern("secret:${aws:PrincipalTag/missing, 'none'}", 'secret:none', o)).toBe(true);
    expect(matchesPattern('secret:${*}', 'secret:*', o)).toBe(true);
    expect(matchesPattern('secret:${*}', 'secret:x', o)).toBe(false);
    // Without variables (an older policy version) the text is taken as it is.
    expect(matchesPattern('${aws:username}', '${aws:username}', { wildcards: true })).toBe(true);
  });

  it.each<[string, string, boolean]>([
    [`arn:aws:iam::${ACCOUNT}:role/*`, `arn:aws:iam::${ACCOUNT}:role/app`, true],
    [`arn:aws:iam::*:role/app`, `arn:aws:iam::${ACCOUNT}:role/app`, true],
    // A wildcard stays within its component.
    ['arn:aws:iam::*', `arn:aws:iam::${ACCOUNT}:role/app`, false],
    ['arn:aws:*:*:*:*', `arn:aws:iam::${ACCOUNT}:role/app`, true],
    ['*', 'anything', true],
    [`arn:aws:iam::${ACCOUNT}:role/app`, 'not-an-arn', false],
    [`arn:aws:eks:*:${ACCOUNT}:cluster/lab`, `arn:aws:eks:ap-northeast-1:${ACCOUNT}:cluster/lab`, true],
  ])('ArnLike %s against %s: %s', (pattern, arn, expected) => {
    expect(arnMatches(pattern, arn)).toBe(expected);
  });
});

describe('condition operators', () => {
  const context = new ConditionContext({
    'kubernetes.default.svc:sub': 'system:serviceaccount:default:app',
    'kubernetes.default.svc:aud': 'sts.amazonaws.com',
    'aws:PrincipalTag/kubernetes-namespace': 'team-a',
    'secretsmanager:ResourceTag/kubernetes-namespace': 'team-a',
    'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/app`,
    'aws:TagKeys': ['a', 'b'],
    'aws:SecureTransport': 'false',
    'aws:CurrentTime': '2026-01-01T00:00:00Z',
    'aws:SourceIp': '10.201.0.10',
    'sts:DurationSeconds': '3600',
  });
  it.each<[string, object, boolean]>([
    [
      'StringEquals',
      { StringEquals: { 'kubernetes.default.svc:sub': 'system:serviceaccount:default:app' } },
      true,
    ],
    [
      'StringEquals, key names in any case',
      { StringEquals: { 'KUBERNETES.default.svc:SUB': 'system:serviceaccount:default:app' } },
      true,
    ],
    [
      'StringEquals, values case-sensitive',
      { StringEquals: { 'kubernetes.default.svc:sub': 'system:serviceaccount:default:APP' } },
      false,
    ],
    [
      'StringEquals, any of the values',
      { StringEquals: { 'kubernetes.default.svc:sub': ['x', 'system:serviceaccount:default:app'] } },
      true,
    ],
    [
      'StringEquals, every key',
      {
        StringEquals: {
          'kubernetes.default.svc:sub': 'system:serviceaccount:default:app',
          'kubernetes.default.svc:aud': 'other',
        },
      },
      false,
    ],
    ['StringEquals on a missing key', { StringEquals: { 'aws:PrincipalTag/missing': 'x' } }, false],
    ['StringNotEquals on a missing key', { StringNotEquals: { 'aws:PrincipalTag/missing': 'x' } }, true],
    ['StringNotEquals', { StringNotEquals: { 'kubernetes.default.svc:aud': 'sts.amazonaws.com' } }, false],
    [
      'StringEqualsIgnoreCase',
      { StringEqualsIgnoreCase: { 'kubernetes.default.svc:aud': 'STS.amazonaws.com' } },
      true,
    ],
    ['StringLike', { StringLike: { 'kubernetes.default.svc:sub': 'system:serviceaccount:default:*' } }, true],
    [
      'StringLike, other namespace',
      { StringLike: { 'kubernetes.default.svc:sub': 'system:serviceaccount:other:*' } },
      false,
    ],
    [
      'StringNotLike',
      { StringNotLike: { 'kubernetes.default.svc:sub': 'system:serviceaccount:other:*' } },
      true,
    ],
    [
      'ABAC: resource tag equals principal tag',
      {
        StringEquals: {
          'secretsmanager:ResourceTag/kubernetes-namespace': '${aws:PrincipalTag/kubernetes-namespace}',
        },
      },
      true,
    ],
    [
      'ABAC: an untagged principal matches nothing',
      { StringEquals: { 'secretsmanager:ResourceTag/kubernetes-namespace': '${aws:PrincipalTag/missing}' } },
      false,
    ],
    ['ArnLike', { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/*` } }, true],
    ['ArnNotLike', { ArnNotLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/*` } }, false],
    ['ArnEquals', { ArnEquals: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/app` } }, true],
    ['Null true on a missing key', { Null: { 'aws:PrincipalTag/missing': 'true' } }, true],
    ['Null false on a present key', { Null: { 'aws:PrincipalTag/kubernetes-namespace': 'false' } }, true],
    ['Null true on a present key', { Null: { 'aws:PrincipalTag/kubernetes-namespace': 'true' } }, false],
    ['...IfExists on a missing key', { StringEqualsIfExists: { 'aws:PrincipalTag/missing': 'x' } }, true],
    [
      '...IfExists on a present key',
      { StringEqualsIfExists: { 'aws:PrincipalTag/kubernetes-namespace': 'x' } },
      false,
    ],
    ['ForAllValues on a subset', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b', 'c'] } }, true],
    ['ForAllValues beyond the set', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a'] } }, false],
    [
      'ForAllValues on a missing key',
      { 'ForAllValues:StringEquals': { 'aws:RequestTag/none': ['a'] } },
      true,
    ],
    ['ForAnyValue', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['b', 'z'] } }, true],
    ['ForAnyValue on a missing key', { 'ForAnyValue:StringEquals': { 'aws:RequestTag/none': ['a'] } }, false],
    ['Bool', { Bool: { 'aws:SecureTransport': 'False' } }, true],
    ['NumericLessThanEquals', { NumericLessThanEquals: { 'sts:DurationSeconds': '3600' } }, true],
    ['NumericGreaterThan', { NumericGreaterThan: { 'sts:DurationSeconds': '3600' } }, false],
    ['DateLessThan', { DateLessThan: { 'aws:CurrentTime': '2026-06-01T00:00:00Z' } }, true],
    ['DateGreaterThan, epoch seconds', { DateGreaterThan: { 'aws:CurrentTime': '1767225600' } }, false],
    ...(['Numeric', 'Date'] as const).flatMap((kind) => {
      // The same six orderings for both: the context's 3600 s and 2026-01-01 against themselves.
      const key = kind === 'Numeric' ? 'sts:DurationSeconds' : 'aws:CurrentTime';
      const same = kind === 'Numeric' ? '3600' : '1767225600';
      return (
        [
          ['Equals', true],
          ['NotEquals', false],
          ['LessThan', false],
          ['LessThanEquals', true],
          ['GreaterThan', false],
          ['GreaterThanEquals', true],
        ] as const
      ).map(([ordering, holds]): [string, Record<string, Record<string, string>>, boolean] => [
        `${kind}${ordering} on an equal value`,
        { [`${kind}${ordering}`]: { [key]: same } },
        holds,
      ]);
    }),
    ['NumericEquals on a value that is no number', { NumericEquals: { 'sts:DurationSeconds': 'x' } }, false],
    ['IpAddress', { IpAddress: { 'aws:SourceIp': '10.201.0.0/24' } }, true],
    ['NotIpAddress', { NotIpAddress: { 'aws:SourceIp': '10.201.0.0/24' } }, false],
    [
      'several operators: all must hold',
      {
        StringEquals: { 'kubernetes.default.svc:aud': 'sts.amazonaws.com' },
        StringLike: { 'kubernetes.default.svc:sub': 'nope' },
      },
      false,
    ],
  ])('%s', (_name, condition, expected) => {
    const parsed = policy([{ Effect: 'Allow', Action: '*', Resource: '*', Condition: condition }]);
    expect(conditionsHold(parsed.statements[0]?.condition ?? {}, context, parsed.variables)).toBe(expected);
  });
});

describe('evaluatePolicies (identity)', () => {
  const article = policy([
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: [`arn:aws:secretsmanager:ap-northeast-1:${ACCOUNT}:secret:MyDBSecret-*`],
    },
  ]);

  it.each<[string, PolicyDocument[], Partial<AccessRequest>, string]>([
    ["the article's policy allows its secret", [article], {}, 'Allow'],
    [
      "the article's policy: another secret",
      [article],
      { resource: SECRET.replace('MyDBSecret', 'Other') },
      'ImplicitDeny',
    ],
    [
      "the article's policy: another action",
      [article],
      { action: 'secretsmanager:PutSecretValue' },
      'ImplicitDeny',
    ],
    [
      "the article's policy: another region",
      [article],
      { resource: SECRET.replace('ap-northeast-1', 'us-east-1') },
      'ImplicitDeny',
    ],
    ['no policy at all', [], {}, 'ImplicitDeny'],
    [
      'Deny wins over Allow',
      [article, policy([{ Effect: 'Deny', Action: 'secretsmanager:*', Resource: '*' }])],
      {},
      'Deny',
    ],
    [
      'NotAction allows everything else',
      [policy([{ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' }])],
      {},
      'Allow',
    ],
    [
      'NotAction excludes its actions',
      [policy([{ Effect: 'Allow', NotAction: 'secretsmanager:Get*', Resource: '*' }])],
      {},
      'ImplicitDeny',
    ],
    [
      'NotResource allows every other resource',
      [policy([{ Effect: 'Allow', Action: '*', NotResource: `arn:aws:secretsmanager:*:*:secret:Other-*` }])],
      {},
      'Allow',
    ],
    [
      'NotResource excludes its resources',
      [
        policy([
          { Effect: 'Deny', Action: '*', NotResource: `arn:aws:secretsmanager:*:*:secret:Other-*` },
          { Effect: 'Allow', Action: '*', Resource: '*' },
        ]),
      ],
      {},
      'Deny',
    ],
    [
      'a statement without Resource applies to nothing in an identity policy',
      [policy([{ Effect: 'Allow', Action: '*' }])],
      {},
      'ImplicitDeny',
    ],
    [
      'a Resource with a policy variable',
      [
        policy([
          {
            Effect: 'Allow',
            Action: '*',
            Resource: 'arn:aws:secretsmanager:*:*:secret:${aws:PrincipalTag/kubernetes-namespace}/*',
          },
        ]),
      ],
      {
        resource: `arn:aws:secretsmanager:r:${ACCOUNT}:secret:team-a/db-x`,
        context: new ConditionContext({ 'aws:PrincipalTag/kubernetes-namespace': 'team-a' }),
      },
      'Allow',
    ],
    [
      'an Allow with an unsupported operator never applies',
      [policy([{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { BinaryEquals: { k: 'QQ==' } } }])],
      {},
      'ImplicitDeny',
    ],
    [
      'a Deny with an unsupported operator always applies',
      [
        policy([
          { Effect: 'Allow', Action: '*', Resource: '*' },
          { Effect: 'Deny', Action: '*', Resource: '*', Condition: { BinaryEquals: { k: 'QQ==' } } },
        ]),
      ],
      {},
      'Deny',
    ],
  ])('%s', (_name, docs, o, effect) => {
    expect(evaluatePolicies(docs, request(o), 'identity').effect).toBe(effect);
  });

  it('EKS ABAC: a Pod Identity session reads only the secrets tagged with its own namespace', () => {
    const abac = policy([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: '*',
        Condition: {
          StringEquals: {
            'secretsmanager:ResourceTag/kubernetes-namespace': '${aws:PrincipalTag/kubernetes-namespace}',
            'secretsmanager:ResourceTag/eks-cluster-name': '${aws:PrincipalTag/eks-cluster-name}',
          },
        },
      },
    ]);
    const session = new ConditionContext().setTags('aws:PrincipalTag/', {
      'kubernetes-namespace': 'team-a',
      'eks-cluster-name': 'lab',
    });
    const withResource = (tags: Record<string, string>) =>
      session.merged(new ConditionContext().setTags('secretsmanager:ResourceTag/', tags));
    const decide = (tags: Record<string, string>) =>
      evaluatePolicies([abac], request({ context: withResource(tags) }), 'identity').effect;
    expect(decide({ 'kubernetes-namespace': 'team-a', 'eks-cluster-name': 'lab' })).toBe('Allow');
    expect(decide({ 'kubernetes-namespace': 'team-b', 'eks-cluster-name': 'lab' })).toBe('ImplicitDeny');
    expect(decide({ 'kubernetes-namespace': 'team-a' })).toBe('ImplicitDeny');
  });
});

describe('evaluatePolicies (trust policies)', () => {
  const oidc = `arn:aws:iam::${ACCOUNT}:oidc-provider/kubernetes.default.svc`;
  const irsaTrust = policy([
    {
      Effect: 'Allow',
      Principal: { Federated: oidc },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: {
        StringEquals: {
          'kubernetes.default.svc:sub': 'system:serviceaccount:default:sample-app-secrets-manager',
          'kubernetes.default.svc:aud': 'sts.amazonaws.com',
        },
      },
    },
  ]);
  const web = (sub: string, caller: Caller = { type: 'Federated', id: oidc }): AccessRequest => ({
    action: 'sts:AssumeRoleWithWebIdentity',
    resource: `arn:aws:iam::${ACCOUNT}:role/MySampleAppSecretsManager`,
    caller,
    context: new ConditionContext({
      'kubernetes.default.svc:sub': sub,
      'kubernetes.default.svc:aud': 'sts.amazonaws.com',
    }),
  });

  it.each<[string, AccessRequest, string]>([
    ['the trusted ServiceAccount', web('system:serviceaccount:default:sample-app-secrets-manager'), 'Allow'],
    ['another ServiceAccount', web('system:serviceaccount:default:other'), 'ImplicitDeny'],
    [
      'the same name in another namespace',
      web('system:serviceaccount:prod:sample-app-secrets-manager'),
      'ImplicitDeny',
    ],
    [
      'another identity provider',
      web('system:serviceaccount:default:sample-app-secrets-manager', {
        type: 'Federated',
        id: `arn:aws:iam::${ACCOUNT}:oidc-provider/other.example`,
      }),
      'ImplicitDeny',
    ],
    [
      'a role instead of the identity provider',
      web('system:serviceaccount:default:sample-app-secrets-manager', {
        type: 'AWS',
        account: ACCOUNT,
        arns: [`arn:aws:iam::${ACCOUNT}:role/x`],
      }),
      'ImplicitDeny',
    ],
    [
      'another action',
      { ...web('system:serviceaccount:default:sample-app-secrets-manager'), action: 'sts:AssumeRole' },
      'ImplicitDeny',
    ],
  ])('%s', (_name, req, effect) => {
    expect(evaluatePolicies([irsaTrust], req, 'resource').effect).toBe(effect);
  });

  it.each<[string, string, Caller, string]>([
    [
      'a role named by ARN',
      `arn:aws:iam::${ACCOUNT}:role/a`,
      {
        type: 'AWS',
        account: ACCOUNT,
        arns: [`arn:aws:iam::${ACCOUNT}:role/a`, `arn:aws:sts::${ACCOUNT}:assumed-role/a/s`],
      },
      'Allow',
    ],
    [
      'another role',
      `arn:aws:iam::${ACCOUNT}:role/a`,
      { type: 'AWS', account: ACCOUNT, arns: [`arn:aws:iam::${ACCOUNT}:role/b`] },
      'ImplicitDeny',
    ],
    [
      'the account root',
      `arn:aws:iam::${ACCOUNT}:root`,
      { type: 'AWS', account: ACCOUNT, arns: [`arn:aws:iam::${ACCOUNT}:role/b`] },
      'Allow',
    ],
    ['the account ID', ACCOUNT, { type: 'AWS', account: ACCOUNT, arns: [] }, 'Allow'],
    ['another account', '210987654321', { type: 'AWS', account: ACCOUNT, arns: [] }, 'ImplicitDeny'],
    [
      'the EKS Pod Identity service',
      'pods.eks.amazonaws.com',
      { type: 'Service', id: 'pods.eks.amazonaws.com' },
      'Allow',
    ],
    [
      'another service',
      'pods.eks.amazonaws.com',
      { type: 'Service', id: 'ec2.amazonaws.com' },
      'ImplicitDeny',
    ],
  ])('Principal %s', (_name, principal, caller, effect) => {
    const kind = caller.type === 'Service' ? 'Service' : 'AWS';
    const trust = policy([
      { Effect: 'Allow', Principal: { [kind]: principal }, Action: ['sts:AssumeRole', 'sts:TagSession'] },
    ]);
    const req = {
      action: 'sts:AssumeRole',
      resource: `arn:aws:iam::${ACCOUNT}:role/t`,
      caller,
      context: new ConditionContext(),
    };
    expect(evaluatePolicies([trust], req, 'resource').effect).toBe(effect);
  });
});

describe('parsePolicyDocument', () => {
  it('reads URL-encoded documents as the IAM API returns them', () => {
    const doc = parsePolicyDocument(
      encodeURIComponent(
        JSON.stringify({
          Version: '2012-10-17',
          Statement: { Effect: 'Allow', Action: 'a:b', Resource: '*' },
        }),
      ),
      'role/x inline policy y',
    );
    expect(doc.variables).toBe(true);
    expect(doc.statements).toEqual([
      expect.objectContaining({ effect: 'Allow', action: ['a:b'], resource: ['*'] }),
    ]);
  });

  it.each([
    ['not JSON', '{'],
    ['a bad Effect', JSON.stringify({ Statement: [{ Effect: 'Maybe', Action: '*', Resource: '*' }] })],
    [
      'a bad Condition',
      JSON.stringify({ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: 'x' }] }),
    ],
    ['a bad Principal', JSON.stringify({ Statement: [{ Effect: 'Allow', Action: '*', Principal: ['x'] }] })],
  ])('refuses %s, naming the policy', (_name, text) => {
    expect(() => parsePolicyDocument(text, 'role/x inline policy y')).toThrow(PolicyError);
    expect(() => parsePolicyDocument(text, 'role/x inline policy y')).toThrow(/role\/x inline policy y/);
  });
});
