// For the driver's fuzz test: what it sends, as plain data (so that a shrunk counterexample reads as
// a regression test): NodePublishVolume and NodeUnpublishVolume calls made by mutating a valid
// publish, each with the answer the provider gives it; and the fast-check arbitraries of them.
import fc from 'fast-check';

import { Attr } from '../csi/publish-request';

/**
 * Where a call points, resolved against each run's kubelet folder (fuzz-node.ts): volumes whose
 * parent the kubelet made; a new pod's (no parent yet); one reached through a symlinked folder
 * that leads outside the pods folder; a target that is itself a symlink, or a regular file;
 * folders holding other volumes; and shapes the driver must refuse before it touches anything.
 * `{ volume: name }` is a volume folder of any name in pod uid-0.
 */
export type TargetName =
  | 'volume-0'
  | 'volume-1'
  | 'volume-2'
  | 'volume-3'
  | 'new-pod'
  | 'through-symlink'
  | 'symlink'
  | 'file'
  | 'pod-folder'
  | 'csi-folder'
  | 'pods'
  | 'relative'
  | 'empty'
  | 'dot-dot'
  | 'escape'
  | 'trailing-slash'
  | 'double-slash'
  | 'nul'
  | 'too-long'
  | 'long-name'
  | { volume: string };

/** Targets of the kubelet's own making, where an unpublish always succeeds. */
export type RaceTarget = 'volume-0' | 'volume-1' | 'volume-2' | 'volume-3' | 'new-pod' | 'through-symlink';

export type VolumeCapability =
  | { kind: 'mount'; volumeMountGroup: string; accessMode: string }
  | { kind: 'block'; accessMode: string }
  | { kind: 'none' };

export interface PublishFields {
  volumeId: string;
  readonly: boolean;
  capability: VolumeCapability;
  volumeContext: Record<string, string>;
  secrets: Record<string, string>;
}

/** A file's contents: text, or `size` bytes (big answers, kept short in a counterexample). */
export type Contents = { text: string } | { size: number };

export interface AnsweredFile {
  path: string;
  mode: number;
  contents: Contents;
}

/** What the provider does with the Mount call(s) a step causes. */
export type ProviderScript =
  /** Answers these versions and files (well formed or not). */
  | {
      kind: 'files';
      versions: Array<{ id: string; version: string }>;
      files: AnsweredFile[];
      /** MountResponse.error.code ('' is no error). */
      errorCode: string;
    }
  /** `count` files f-0, f-1, ... of a few bytes each. */
  | { kind: 'many'; count: number }
  /** Writes these files into the target itself and answers no files (provider-writes mode). */
  | { kind: 'writes-itself'; files: Array<{ path: string; text: string }> }
  /** Fails the call with this gRPC status. */
  | { kind: 'status'; code: number; details: string }
  /** Never answers: the driver's deadline ends the call (the step's deadline is short). */
  | { kind: 'hang' };

export type Step =
  | { op: 'publish'; target: TargetName; request: PublishFields; provider: ProviderScript }
  /** The same publish twice at once (a kubelet retrying while the first still runs). */
  | { op: 'publish-twice'; target: TargetName; request: PublishFields; provider: ProviderScript }
  /** A publish and an unpublish of a volume at once (a pod deleted while it starts). */
  | { op: 'publish-unpublish'; target: RaceTarget; request: PublishFields; provider: ProviderScript }
  | { op: 'unpublish'; target: TargetName; volumeId: string };

/**
 * The classes the fuzz test stores (fuzz-node.ts): `good` ones let a publish through; each `bad`
 * one fails it its own way (a bad file mode or group, unless the pod's attributes override it; no
 * provider socket; a bad provider name; no parameters; no class at all).
 */
export const CLASSES = {
  good: ['fuzz', 'grouped'],
  bad: ['bad-permission', 'bad-group', 'absent-provider', 'bad-provider-name', 'no-parameters', 'missing'],
} as const;

export const POD_NAMESPACE = 'default';

/** The publish the kubelet sends for pod default/app, whose volume uses class `fuzz`. */
export const VALID_PUBLISH: PublishFields = {
  volumeId: 'csi-0123',
  readonly: true,
  capability: { kind: 'mount', volumeMountGroup: '', accessMode: 'SINGLE_NODE_READER_ONLY' },
  volumeContext: {
    [Attr.secretProviderClass]: 'fuzz',
    [Attr.podName]: 'app',
    [Attr.podNamespace]: POD_NAMESPACE,
    [Attr.podUid]: 'uid-0',
    [Attr.serviceAccountName]: 'default',
    [Attr.serviceAccountTokens]: '{"sts.amazonaws.com":{"token":"t0k3n"}}',
  },
  secrets: {},
};

/** Strings that break naive code: empty, NUL, path-like, long, non-ASCII. */
const oddString = fc.oneof(
  fc.constantFrom('', ' ', '\0', 'a\0b', '..', '../x', '/', 'a/b', '%2F', 'é', '😀', '\n', '-1', '0'),
  fc.constantFrom('x'.repeat(300), 'y'.repeat(5000)),
  fc.string({ maxLength: 12 }),
);

const accessMode = fc.constantFrom(
  'SINGLE_NODE_READER_ONLY',
  'SINGLE_NODE_WRITER',
  'MULTI_NODE_READER_ONLY',
  'MULTI_NODE_MULTI_WRITER',
  'UNKNOWN',
);

const capability: fc.Arbitrary<VolumeCapability> = fc.oneof(
  { weight: 16, arbitrary: fc.constant(VALID_PUBLISH.capability) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('mount' as const),
      volumeMountGroup: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('', '2000', '0', '2147483647') },
        fc.constantFrom('2147483648', 'x', '-1', ' 1'),
        oddString,
      ),
      accessMode,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('block' as const), accessMode }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

const contextKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.values(Attr)) },
  { weight: 4, arbitrary: fc.constantFrom('fileGroup', 'defaultFilePermission') },
  { weight: 2, arbitrary: oddString },
);

const contextValue = (key: string): fc.Arbitrary<string> => {
  switch (key) {
    case Attr.secretProviderClass:
      return fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...CLASSES.good) },
        fc.constantFrom(...CLASSES.bad),
        oddString,
      );
    case Attr.podNamespace:
      return fc.oneof(fc.constantFrom(POD_NAMESPACE, 'other'), oddString);
    case 'fileGroup':
      return fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom('', '2000', '0') },
        fc.constantFrom('99999999999', 'wheel', '-5'),
        oddString,
      );
    case 'defaultFilePermission':
      return fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom('', '0440', '0600') },
        fc.constantFrom('0999', '644', '0o644'),
        oddString,
      );
    default:
      return oddString;
  }
};

/** A change to the valid volume context: a key removed, or set to some value. */
type ContextChange = { key: string; remove: true } | { key: string; value: string };
const contextChange: fc.Arbitrary<ContextChange> = contextKey.chain((key) =>
  fc.oneof(
    fc.constant({ key, remove: true as const }),
    contextValue(key).map((value) => ({ key, value })),
  ),
);

const publishFields: fc.Arbitrary<PublishFields> = fc
  .record({
    volumeId: fc.oneof({ weight: 20, arbitrary: fc.constant(VALID_PUBLISH.volumeId) }, oddString),
    readonly: fc.oneof({ weight: 20, arbitrary: fc.constant(true) }, fc.constant(false)),
    capability,
    changes: fc.oneof(
      { weight: 8, arbitrary: fc.constant<ContextChange[]>([]) },
      { weight: 5, arbitrary: fc.array(contextChange, { minLength: 1, maxLength: 3 }) },
      { weight: 1, arbitrary: fc.constant('all-removed' as const) },
    ),
    secrets: fc.oneof(
      { weight: 3, arbitrary: fc.constant({}) },
      fc.dictionary(fc.oneof(fc.constant(Attr.serviceAccountTokens), oddString), oddString, { maxKeys: 3 }),
    ),
  })
  .map(({ volumeId, readonly, capability, changes, secrets }) => {
    const volumeContext: Record<string, string> = {};
    if (changes !== 'all-removed') {
      Object.assign(volumeContext, VALID_PUBLISH.volumeContext);
      for (const change of changes)
        if ('remove' in change) delete volumeContext[change.key];
        else volumeContext[change.key] = change.value;
    }
    return { volumeId, readonly, capability, volumeContext, secrets };
  });

/** Paths a provider may answer: ordinary ones, and ones that leave the volume or clash with it. */
export const GOOD_FILE_PATHS = [
  'db',
  'nested/db',
  'a/b/c',
  '..hidden',
  'with space',
  'ünïcødé',
  '-dash',
  'n'.repeat(255),
  `${'d'.repeat(200)}/`.repeat(10) + 'f',
];

const oddFilePath = fc.oneof(
  fc.constantFrom(
    '../x',
    '/abs',
    '/etc/passwd',
    'a/../../b',
    'a/../b',
    'a//b',
    './a',
    'a/',
    'a/.',
    '',
    '.',
    '..',
    'a\0b',
    'x'.repeat(256),
    'y'.repeat(4097),
    '..data',
    '..data/x',
    '..data_tmp',
    '..2024_01_01_00_00_00.abc',
    '..2024_01_01_00_00_00.abc/x',
  ),
  // Path-like names put together from hostile segments.
  fc
    .array(fc.oneof(fc.constantFrom('..', '.', '', 'a', '..data', '\0', 'é'), fc.string({ maxLength: 6 })), {
      minLength: 1,
      maxLength: 4,
    })
    .map((parts) => parts.join('/')),
);

const filePath = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...GOOD_FILE_PATHS) }, oddFilePath);

const fileMode = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0o644, 0o400, 0o440, 0o600, 0o777, 0, 0o755) },
  fc.constantFrom(-1, 0o1000, 0o4755, 0o2755, 0o7777, 0x7fffffff, -0x80000000),
);

const contents: fc.Arbitrary<Contents> = fc.oneof(
  { weight: 20, arbitrary: fc.string({ maxLength: 40 }).map((text) => ({ text })) },
  // Below the driver's limit for a provider answer (1 MiB in the fuzz test), and beyond it; no
  // sum of up to five falls within 64 KiB of it either way.
  { weight: 1, arbitrary: fc.constantFrom(64 * 1024, 600 * 1024, 2 * 1024 * 1024).map((size) => ({ size })) },
);

const version = fc.record({
  id: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('db', 'other') }, oddString),
  version: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('1', '2', '3') }, oddString),
});

const providerScript: fc.Arbitrary<ProviderScript> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record<Extract<ProviderScript, { kind: 'files' }>>({
      kind: fc.constant('files' as const),
      versions: fc.oneof(
        { weight: 8, arbitrary: fc.array(version, { minLength: 1, maxLength: 3 }) },
        fc.constant<Array<{ id: string; version: string }>>([]),
      ),
      files: fc.oneof(
        {
          weight: 2,
          arbitrary: fc.array(fc.record<AnsweredFile>({ path: filePath, mode: fileMode, contents }), {
            maxLength: 5,
          }),
        },
        // Only ordinary paths: files a publish should show (duplicates still possible).
        {
          weight: 3,
          arbitrary: fc.array(
            fc.record<AnsweredFile>({ path: fc.constantFrom(...GOOD_FILE_PATHS), mode: fileMode, contents }),
            { minLength: 1, maxLength: 4 },
          ),
        },
      ),
      errorCode: fc.oneof({ weight: 9, arbitrary: fc.constant('') }, oddString),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('many' as const), count: fc.constantFrom(50, 300) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('writes-itself' as const),
      files: fc.array(
        fc.record({
          path: fc.constantFrom('own-a', 'own-b', 'own-dir/c'),
          text: fc.string({ maxLength: 10 }),
        }),
        { maxLength: 2 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      code: fc.integer({ min: 1, max: 16 }),
      details: oddString,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'hang' as const }) },
);

const volumeTarget = fc.constantFrom<TargetName>('volume-0', 'volume-1', 'volume-2', 'volume-3');

const target: fc.Arbitrary<TargetName> = fc.oneof(
  { weight: 12, arbitrary: volumeTarget },
  {
    weight: 4,
    arbitrary: fc.constantFrom<TargetName>(
      'new-pod',
      'through-symlink',
      'symlink',
      'file',
      'relative',
      'empty',
      'dot-dot',
      'escape',
      'trailing-slash',
      'double-slash',
      'nul',
      'too-long',
      'long-name',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom('..', '.', 'a/b', 'x'.repeat(300), 'vol ume', '..data'),
        fc.string({ maxLength: 8 }),
      )
      .map((volume): TargetName => ({ volume })),
  },
);

/** Unpublishes also go to folders that hold other volumes, which they must never empty. */
const unpublishTarget: fc.Arbitrary<TargetName> = fc.oneof(
  { weight: 8, arbitrary: target },
  { weight: 1, arbitrary: fc.constantFrom<TargetName>('pod-folder', 'csi-folder', 'pods') },
);

export const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('publish' as const),
      target,
      request: publishFields,
      provider: providerScript,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('publish-twice' as const),
      target,
      request: publishFields,
      provider: providerScript,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('publish-unpublish' as const),
      target: fc.constantFrom<RaceTarget>(
        'volume-0',
        'volume-1',
        'volume-2',
        'volume-3',
        'new-pod',
        'through-symlink',
      ),
      request: publishFields,
      provider: providerScript,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('unpublish' as const),
      target: unpublishTarget,
      volumeId: fc.oneof({ weight: 9, arbitrary: fc.constant(VALID_PUBLISH.volumeId) }, oddString),
    }),
  },
);

/** A run: a kubelet's calls on one node, ending with every volume unpublished (fuzz-node.ts). */
export const steps = (maxLength: number): fc.Arbitrary<Step[]> =>
  fc.array(step, { minLength: 1, maxLength, size: 'medium' });
