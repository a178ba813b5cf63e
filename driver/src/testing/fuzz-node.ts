// For the driver's fuzz test: plays steps (fuzz-steps.ts) against the driver of a CsiNodeHarness,
// each run in kubelet folders of its own, and checks after every call what a node's owner would:
//
//   - the call ended with a gRPC status, and not by its deadline unless the provider hung;
//   - a request of the wrong shape is refused with INVALID_ARGUMENT before the provider is asked;
//   - nothing changed outside the call's target path (symlinks before its last element followed,
//     as the kernel does for a kubelet root that is a symlink; the last one never), and a failed
//     publish left no folder behind;
//   - the kernel's mounts below the node are exactly the volumes published, each mounted once;
//   - every published volume shows exactly the files its provider last answered, with their modes;
//     an invalid answer is refused on a first publish and keeps the files on a rotation;
//   - a valid publish of an ordinary volume succeeds (the oracles above are not met by refusing all);
//   - at the end of a run, once every volume is unpublished: no mount, no folder, no file left.
import type { SecretProviderClass } from '@sscsi/common';
import { isWriterName, Status } from '@sscsi/common';
import type { MountAnswer } from '@sscsi/common/testing';
import type { MountRequest__Output, MountResponse } from '@sscsi/proto';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Attr } from '../csi/publish-request';
import type { VolumeOwnership } from '../files/file-ownership';
import { volumeOwnership } from '../files/file-ownership';
import type { CallStatus, CsiNodeHarness } from './csi-node-harness';
import type { Contents, ProviderScript, PublishFields, Step, TargetName } from './fuzz-steps';
import { POD_NAMESPACE, VALID_PUBLISH } from './fuzz-steps';
import { mountsBelow } from './mountinfo';

/** The provider's name in the good classes: the harness serves it. */
export const FUZZ_PROVIDER = 'fuzz';
/** The largest provider answer the driver takes in the fuzz test (small, so that big ones are cheap). */
export const MAX_PROVIDER_MESSAGE_BYTES = 1024 * 1024;

const spc = (name: string, spec: SecretProviderClass['spec'], namespace = POD_NAMESPACE) => ({
  apiVersion: 'secrets-store.csi.x-k8s.io/v1',
  kind: 'SecretProviderClass',
  metadata: { name, namespace },
  spec,
});

/** The classes of CLASSES; `missing` is not stored. */
export const FUZZ_CLASSES: SecretProviderClass[] = [
  spc('fuzz', { provider: FUZZ_PROVIDER, parameters: { objects: 'db' } }),
  spc('grouped', {
    provider: FUZZ_PROVIDER,
    parameters: { objects: 'db', fileGroup: '2000', defaultFilePermission: '0440' },
  }),
  spc('bad-permission', { provider: FUZZ_PROVIDER, parameters: { defaultFilePermission: '0999' } }),
  spc('bad-group', { provider: FUZZ_PROVIDER, parameters: { fileGroup: 'wheel' } }),
  spc('absent-provider', { provider: 'nobody', parameters: { objects: 'db' } }),
  spc('bad-provider-name', { provider: '../fuzz', parameters: { objects: 'db' } }),
  spc('no-parameters', { provider: FUZZ_PROVIDER, parameters: {} }),
  spc('fuzz', { provider: FUZZ_PROVIDER, parameters: { objects: 'db' } }, 'other'),
];

/** Deadline of a call the provider answers: far beyond what any call needs. */
const CALL_TIMEOUT_MS = 20_000;
/** Deadline of a call the provider never answers. */
const HANG_TIMEOUT_MS = 150;

export class FuzzViolation extends Error {
  override name = 'FuzzViolation';
}

const violated = (message: string): never => {
  throw new FuzzViolation(message);
};

/** A run's kubelet folder: volumes, a symlinked pod folder, a symlink and a file as targets. */
export class NodeFixture {
  readonly root: string;

  constructor(nodeRoot: string, run: number) {
    this.root = path.join(nodeRoot, `run-${run}`);
    const csi = (uid: string) => path.join(this.root, 'kubelet/pods', uid, 'volumes/kubernetes.io~csi');
    for (let i = 0; i < 4; i++) fs.mkdirSync(path.join(csi(`uid-${i % 3}`), `vol-${i}`), { recursive: true });
    fs.mkdirSync(path.join(this.root, 'outside/escaped'), { recursive: true });
    fs.symlinkSync('../../outside/escaped', path.join(this.root, 'kubelet/pods/escape'));
    fs.mkdirSync(path.join(this.root, 'outside/victim'));
    fs.writeFileSync(path.join(this.root, 'outside/victim/keep'), 'not the driver’s');
    fs.mkdirSync(path.join(csi('uid-0'), 'link'));
    fs.symlinkSync(path.join(this.root, 'outside/victim'), path.join(csi('uid-0'), 'link/mount'));
    fs.mkdirSync(path.join(csi('uid-0'), 'file'));
    fs.writeFileSync(path.join(csi('uid-0'), 'file/mount'), 'a file, not a folder');
  }

  /** The target path a call sends for `name`. */
  path(name: TargetName): string {
    const pods = path.join(this.root, 'kubelet/pods');
    const csi = path.join(pods, 'uid-0/volumes/kubernetes.io~csi');
    const volume = (i: number) => path.join(pods, `uid-${i % 3}/volumes/kubernetes.io~csi/vol-${i}/mount`);
    if (typeof name === 'object') return `${csi}/${name.volume}/mount`;
    switch (name) {
      case 'volume-0':
        return volume(0);
      case 'volume-1':
        return volume(1);
      case 'volume-2':
        return volume(2);
      case 'volume-3':
        return volume(3);
      case 'new-pod':
        return path.join(pods, 'uid-new/volumes/kubernetes.io~csi/vol-new/mount');
      case 'through-symlink':
        return path.join(pods, 'escape/mount');
      case 'symlink':
        return path.join(csi, 'link/mount');
      case 'file':
        return path.join(csi, 'file/mount');
      case 'pod-folder':
        return path.join(pods, 'uid-0');
      case 'csi-folder':
        return csi;
      case 'pods':
        return pods;
      case 'relative':
        return path.relative(this.root, volume(0));
      case 'empty':
        return '';
      case 'dot-dot':
        return `${pods}/uid-1/../uid-0/volumes/kubernetes.io~csi/vol-0/mount`;
      case 'escape':
        return `${this.root}/../escaped/mount`;
      case 'trailing-slash':
        return `${volume(0)}/`;
      case 'double-slash':
        return volume(0).replace('/pods/', '//pods/');
      case 'nul':
        return `${volume(0)}\0x`;
      case 'too-long':
        return `${pods}/${`${'l'.repeat(200)}/`.repeat(21)}mount`;
      case 'long-name':
        return `${csi}/${'n'.repeat(256)}/mount`;
    }
  }
}

/** The path the driver should act on: absolute, clean, trailing slashes dropped; else undefined. */
function cleanTarget(targetPath: string): string | undefined {
  if (!targetPath.startsWith('/') || targetPath.includes('\0')) return undefined;
  const trimmed = targetPath.replace(/(.)\/+$/, '$1');
  return path.posix.normalize(trimmed) === trimmed ? trimmed : undefined;
}

/** `p` with the symlinks of its folders resolved (as mount(2) sees it), its last element as it is. */
function realTarget(p: string): string {
  let dir = path.dirname(p);
  const rest = [path.basename(p)];
  for (;;) {
    try {
      return path.join(fs.realpathSync(dir), ...rest);
    } catch {
      if (dir === '/') return p;
      rest.unshift(path.basename(dir));
      dir = path.dirname(dir);
    }
  }
}

const within = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/** Every entry below `root`, without following symlinks: type, mode, group and contents. */
function snapshot(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const full = path.join(dir, name);
      const st = fs.lstatSync(full, { throwIfNoEntry: false });
      if (!st) continue;
      const owner = `${(st.mode & 0o7777).toString(8)}:${st.gid}`;
      if (st.isSymbolicLink()) entries.set(full, `link ${fs.readlinkSync(full)}`);
      else if (st.isFile())
        entries.set(full, `file ${owner} ${createHash('sha1').update(fs.readFileSync(full)).digest('hex')}`);
      else if (st.isDirectory()) {
        entries.set(full, `dir ${owner}`);
        walk(full);
      } else entries.set(full, `other ${owner}`);
    }
  };
  walk(root);
  return entries;
}

function changes(before: Map<string, string>, after: Map<string, string>) {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [p, d] of after) {
    const old = before.get(p);
    if (old === undefined) added.push(p);
    else if (old !== d) changed.push(p);
  }
  for (const p of before.keys()) if (!after.has(p)) removed.push(p);
  return { added, removed, changed };
}

const bytesOf = (contents: Contents): Buffer =>
  'text' in contents ? Buffer.from(contents.text) : Buffer.alloc(contents.size, 0x78);

/** Why a provider's answer cannot be written as it is, by the rules a volume's files follow. */
function answerProblem(script: ProviderScript): string | undefined {
  switch (script.kind) {
    case 'status':
    case 'hang':
      return 'the call fails';
    case 'many':
    case 'writes-itself':
      return undefined;
    case 'files':
      break;
  }
  if (script.errorCode !== '') return 'an error code';
  // Beyond the driver's limit for an answer (the sizes never come near it: fuzz-steps.ts).
  if (script.files.reduce((n, f) => n + bytesOf(f.contents).length, 0) > MAX_PROVIDER_MESSAGE_BYTES)
    return 'too large an answer';
  if (script.versions.length === 0) return 'no object versions';
  const paths = new Set<string>();
  for (const { path: p, mode } of script.files) {
    if (p === '' || p.includes('\0') || p.length > 4096 || p.startsWith('/')) return `path ${p}`;
    const parts = p.split('/');
    if (parts.some((s) => s === '' || s === '.' || s === '..' || s.length > 255)) return `path ${p}`;
    const top = parts[0] as string;
    if (top === '..data' || top === '..data_tmp' || /^\.\.\d{4}(_\d\d){5}\./.test(top)) return `path ${p}`;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) return `mode ${mode}`;
    if (paths.has(p)) return `duplicate ${p}`;
    paths.add(p);
  }
  for (const p of paths)
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1))
      if (paths.has(p.slice(0, i))) return `${p} inside the file ${p.slice(0, i)}`;
  return undefined;
}

const newVolume = (real: string): Volume => ({
  real,
  files: new Map(),
  foreign: new Map(),
  group: undefined,
});

interface ExpectedFile {
  mode: number;
  contents: Buffer;
}

/** A volume the model holds published: where it is mounted and what it must show. */
interface Volume {
  real: string;
  /** The files the driver wrote last, by path. */
  files: Map<string, ExpectedFile>;
  /** Plain files the provider wrote itself: they stay until the unmount. */
  foreign: Map<string, Buffer>;
  /** The group of the files, when the volume is shared with one. */
  group: number | undefined;
}

/** What a Mount call was answered, for the oracles. */
interface AnsweredCall {
  request: MountRequest__Output;
  script: ProviderScript;
}

/** The Mount answer a script gives; a provider that writes files itself writes them first. */
function mountAnswer(script: ProviderScript, request: MountRequest__Output): MountAnswer {
  switch (script.kind) {
    case 'status':
      return { code: script.code as Status, details: script.details };
    case 'hang':
      return 'hang';
    case 'many':
      return {
        objectVersion: [{ id: 'db', version: '1' }],
        files: Array.from({ length: script.count }, (_, i) => ({
          path: `f-${i}`,
          mode: 0o644,
          contents: Buffer.from(`v${i}`),
        })),
      };
    case 'writes-itself':
      for (const file of script.files) {
        const full = path.join(request.targetPath, file.path);
        fs.mkdirSync(path.dirname(full), { recursive: true });
        fs.writeFileSync(full, file.text);
      }
      return { objectVersion: [{ id: 'db', version: '1' }], files: [] };
    case 'files': {
      const answer: MountResponse = {
        objectVersion: script.versions,
        files: script.files.map((f) => ({ path: f.path, mode: f.mode, contents: bytesOf(f.contents) })),
      };
      if (script.errorCode !== '') answer.error = { code: script.errorCode };
      return answer;
    }
  }
}

/** What is wrong with a publish before any class or provider is involved, if anything. */
function shapeProblem(request: PublishFields, targetPath: string): string | undefined {
  if (request.capability.kind === 'none') return 'no capability';
  if (request.volumeId === '') return 'no volume ID';
  if (cleanTarget(targetPath) === undefined) return 'target path';
  if (request.capability.kind === 'block') return 'block';
  const ctx = request.volumeContext;
  if (Object.keys(ctx).length === 0) return 'no volume context';
  if (!request.readonly) return 'not read-only';
  if (!ctx[Attr.secretProviderClass]) return 'no class';
  if (!ctx[Attr.podName] || !ctx[Attr.podNamespace] || !ctx[Attr.podUid]) return 'no pod';
  const group = request.capability.volumeMountGroup;
  if (group !== '' && !(/^\d{1,10}$/.test(group) && Number(group) <= 2_147_483_647))
    return 'volume mount group';
  return undefined;
}

/** The CSI request the kubelet would send for these fields. */
function csiPublish(request: PublishFields, targetPath: string): object {
  const { capability } = request;
  return {
    volumeId: request.volumeId,
    targetPath,
    readonly: request.readonly,
    volumeContext: request.volumeContext,
    secrets: request.secrets,
    volumeCapability:
      capability.kind === 'none'
        ? undefined
        : capability.kind === 'block'
          ? { block: {}, accessMode: { mode: capability.accessMode } }
          : {
              mount: { fsType: '', mountFlags: [], volumeMountGroup: capability.volumeMountGroup },
              accessMode: { mode: capability.accessMode },
            },
  };
}

/** The files a volume shows, read back: top-level names, and each file's mode and contents. */
function checkVolume(key: string, volume: Volume): void {
  const fail = (what: string) => violated(`volume ${key}: ${what}`);
  const visible = fs
    .readdirSync(volume.real)
    .filter((n) => !isWriterName(n))
    .sort();
  const tops = new Set([...volume.files.keys()].map((p) => p.split('/')[0] as string));
  for (const p of volume.foreign.keys()) tops.add(p.split('/')[0] as string);
  const wanted = [...tops].sort();
  if (JSON.stringify(visible) !== JSON.stringify(wanted))
    fail(`shows ${JSON.stringify(visible)}, the provider answered ${JSON.stringify(wanted)}`);
  for (const [p, file] of volume.files) {
    const full = path.join(volume.real, p);
    const st = fs.statSync(full, { throwIfNoEntry: false });
    if (!st?.isFile()) fail(`${p} is not a file`);
    const mode = volume.group === undefined ? file.mode : file.mode | 0o040;
    if ((st!.mode & 0o7777) !== mode)
      fail(`${p} has mode ${(st!.mode & 0o7777).toString(8)}, not ${mode.toString(8)}`);
    if (!fs.readFileSync(full).equals(file.contents)) fail(`${p} holds other contents`);
  }
  for (const [p, contents] of volume.foreign)
    if (!fs.readFileSync(path.join(volume.real, p)).equals(contents)) fail(`${p} (the provider's) changed`);
  if (volume.files.size > 0) {
    const data = fs.realpathSync(path.join(volume.real, '..data'));
    const payload = fs
      .readdirSync(data, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory())
      .map((e) => path.relative(data, path.join(e.parentPath, e.name)))
      .sort();
    if (JSON.stringify(payload) !== JSON.stringify([...volume.files.keys()].sort()))
      fail(`..data holds ${JSON.stringify(payload)}`);
  }
}

const statusName = (code: number) => Status[code] ?? String(code);

/** Counts of what the fuzzer sent and what came back. */
export interface FuzzCounts {
  runs: number;
  /** CSI calls made: the steps' and the final unpublishes. */
  requests: number;
  publishes: number;
  unpublishes: number;
  mountCalls: number;
  /** Calls by the status they ended with. */
  statuses: Record<string, number>;
}

export class NodeFuzzer {
  readonly counts: FuzzCounts = {
    runs: 0,
    requests: 0,
    publishes: 0,
    unpublishes: 0,
    mountCalls: 0,
    statuses: {},
  };
  private fixture!: NodeFixture;
  private volumes = new Map<string, Volume>();
  private calls: AnsweredCall[] = [];
  private before = new Map<string, string>();
  /** Targets (real paths) published or unpublished this run: what the end of a run may differ by. */
  private publishedReals = new Set<string>();
  private unpublishedReals = new Set<string>();

  constructor(private readonly harness: CsiNodeHarness) {}

  /** Plays `steps` in fresh kubelet folders, unpublishes every volume, checks what is left. */
  async run(steps: readonly Step[]): Promise<void> {
    this.fixture = new NodeFixture(this.harness.nodeRoot, this.counts.runs++);
    this.volumes = new Map();
    this.publishedReals = new Set();
    this.unpublishedReals = new Set();
    const initial = snapshot(this.harness.nodeRoot);
    this.before = initial;
    try {
      for (const [i, step] of steps.entries()) {
        try {
          await this.play(step);
        } catch (err) {
          if (err instanceof FuzzViolation) err.message = `step ${i} (${step.op}): ${err.message}`;
          throw err;
        }
      }
      await this.finish(initial);
    } finally {
      this.harness.unmountAll();
      fs.rmSync(this.fixture.root, { recursive: true, force: true });
    }
  }

  private async play(step: Step): Promise<void> {
    const targetPath = this.fixture.path(step.target);
    const key = cleanTarget(targetPath);
    const real = key === undefined ? undefined : realTarget(key);
    this.calls = [];
    if (step.op === 'unpublish') {
      const status = await this.call(false, () =>
        this.harness.unpublish({ volumeId: step.volumeId, targetPath }, CALL_TIMEOUT_MS),
      );
      this.counts.unpublishes++;
      this.checkUnpublish(status, step.volumeId, key, real);
    } else {
      const request = csiPublish(step.request, targetPath);
      const hang = step.provider.kind === 'hang';
      this.harness.answer = (req) => {
        this.calls.push({ request: req, script: step.provider });
        this.counts.mountCalls++;
        return mountAnswer(step.provider, req);
      };
      const timeout = hang ? HANG_TIMEOUT_MS : CALL_TIMEOUT_MS;
      const send = () => this.harness.publish(request, timeout);
      if (step.op === 'publish-unpublish') {
        const unpublish = () =>
          this.harness.unpublish({ volumeId: VALID_PUBLISH.volumeId, targetPath }, CALL_TIMEOUT_MS);
        const [published, unpublished] = await this.callAll(hang, [send, unpublish]);
        this.counts.publishes++;
        this.counts.unpublishes++;
        this.checkRace(step, published!, unpublished!, key as string, real as string);
      } else {
        const statuses = await this.callAll(hang, step.op === 'publish' ? [send] : [send, send]);
        this.counts.publishes += statuses.length;
        this.checkPublish(step, statuses, targetPath, key, real);
      }
    }
    this.checkMounts();
    for (const [k, volume] of this.volumes) checkVolume(k, volume);
  }

  /** One call: it must end with a status of its own, not the deadline, unless the provider hung. */
  private async call(hang: boolean, send: () => Promise<CallStatus>): Promise<CallStatus> {
    return (await this.callAll(hang, [send]))[0] as CallStatus;
  }

  /** Calls sent at once, checked as `call`'s, once the driver finished all of them. */
  private async callAll(hang: boolean, sends: Array<() => Promise<CallStatus>>): Promise<CallStatus[]> {
    const statuses = await Promise.all(sends.map((send) => send()));
    if (!(await this.harness.settled(CALL_TIMEOUT_MS)))
      violated(`the driver still works on a call ${CALL_TIMEOUT_MS} ms after its answer`);
    for (const status of statuses) {
      this.counts.requests++;
      const name = statusName(status.code);
      this.counts.statuses[name] = (this.counts.statuses[name] ?? 0) + 1;
      if (!Number.isInteger(status.code) || status.code < 0 || status.code > 16)
        violated(`answered ${status.code}, not a gRPC status`);
      // (A provider may answer DEADLINE_EXCEEDED itself, which the driver passes on at once.)
      if (!hang && status.code === Status.DEADLINE_EXCEEDED && status.ms >= CALL_TIMEOUT_MS)
        violated(`no answer within ${CALL_TIMEOUT_MS} ms: ${status.details}`);
      if (status.code !== Status.OK && status.details.trim() === '') violated(`${name} without a message`);
    }
    return statuses;
  }

  private checkPublish(
    step: Extract<Step, { op: 'publish' | 'publish-twice' }>,
    statuses: CallStatus[],
    targetPath: string,
    key: string | undefined,
    real: string | undefined,
  ): void {
    const ok = statuses.some((s) => s.code === Status.OK);
    const codes = statuses.map((s) => `${statusName(s.code)} ${s.details}`).join('; ');
    const after = snapshot(this.harness.nodeRoot);
    this.checkChanges(after, real, ok ? 'publish' : 'failed publish');
    this.before = after;

    const shape = shapeProblem(step.request, targetPath);
    if (shape !== undefined) {
      if (statuses.some((s) => s.code !== Status.INVALID_ARGUMENT))
        violated(`a request with a bad ${shape} was answered ${codes}, not INVALID_ARGUMENT`);
      if (this.calls.length > 0) violated(`the provider was asked for a request with a bad ${shape}`);
      return;
    }
    for (const { request } of this.calls) this.checkMountRequest(request, step.request, key as string);

    const volume = this.volumes.get(key as string);
    const filled = volume !== undefined && volume.files.size + volume.foreign.size > 0;
    const { className, goodClass, ownership } = this.classOf(step.request);
    const problem = answerProblem(step.provider);
    const ordinaryTarget =
      typeof step.target === 'string' &&
      [
        'volume-0',
        'volume-1',
        'volume-2',
        'volume-3',
        'new-pod',
        'through-symlink',
        'trailing-slash',
      ].includes(step.target);

    if (filled) {
      // A republish of a filled volume is a rotation: whatever fails, the pod keeps its files (which
      // checkVolume sees). Only a hung provider may keep the answer past the kubelet's deadline.
      const gaveUp =
        step.provider.kind === 'hang' && statuses.every((s) => s.code === Status.DEADLINE_EXCEEDED);
      if (!ok && !gaveUp) violated(`a republish of a filled volume was answered ${codes}`);
    } else if (ok) {
      if (!goodClass || ownership === undefined)
        violated(`published with class ${JSON.stringify(className)} or the ownership refused: ${codes}`);
      if (problem !== undefined) violated(`published although the provider answered ${problem}`);
      if (this.calls.length === 0) violated('published without asking the provider');
    } else if (ordinaryTarget && goodClass && ownership !== undefined && problem === undefined) {
      violated(`a valid publish was refused: ${codes}`);
    }
    if (ok) this.published(key as string, volume ?? newVolume(real as string), ownership);
  }

  /**
   * A publish and an unpublish of one volume at once: whichever the driver ran last decides what
   * is left, the volume filled afresh or nothing at all, never a mount without its volume.
   */
  private checkRace(
    step: Extract<Step, { op: 'publish-unpublish' }>,
    published: CallStatus,
    unpublished: CallStatus,
    key: string,
    real: string,
  ): void {
    const after = snapshot(this.harness.nodeRoot);
    this.checkChanges(after, real, published.code === Status.OK ? 'publish' : 'failed publish');
    this.before = after;
    if (unpublished.code !== Status.OK)
      violated(
        `the unpublish racing a publish was answered ${statusName(unpublished.code)} ${unpublished.details}`,
      );
    this.volumes.delete(key);
    this.unpublishedReals.add(real);
    // Parents a successful publish made stay, as if the kubelet had made them.
    if (published.code === Status.OK) this.publishedReals.add(real);
    if (!mountsBelow(this.harness.nodeRoot).includes(real)) {
      if (fs.lstatSync(key, { throwIfNoEntry: false })) violated(`${key} is left without a mount`);
      return;
    }
    if (published.code !== Status.OK) violated(`a failed publish left ${key} mounted`);
    // The publish came last, on a volume the unpublish had taken away: a first publish.
    for (const { request } of this.calls) this.checkMountRequest(request, step.request, key);
    this.published(key, newVolume(real), this.classOf(step.request).ownership);
  }

  /** The class a publish names and the ownership of its files, as the driver should read them. */
  private classOf(request: PublishFields) {
    const ctx = request.volumeContext;
    const className = ctx[Attr.secretProviderClass] as string;
    const spc = FUZZ_CLASSES.find(
      (c) => c.metadata.name === className && c.metadata.namespace === ctx[Attr.podNamespace],
    );
    // A class the driver takes: it names the fuzz provider, with parameters. (A bad file mode or
    // group in it is the ownership's to refuse, unless the pod's own attributes override it.)
    const goodClass =
      spc?.spec.provider === FUZZ_PROVIDER && Object.keys(spc.spec.parameters ?? {}).length > 0;
    let ownership: VolumeOwnership | undefined;
    try {
      const group = request.capability.kind === 'mount' ? request.capability.volumeMountGroup : '';
      ownership = volumeOwnership(
        spc?.spec.parameters,
        ctx,
        group === '' ? undefined : Number(group),
        className,
      );
    } catch {
      ownership = undefined;
    }
    return { className, goodClass, ownership };
  }

  /** A publish succeeded: the volume shows the last valid answer the provider gave it. */
  private published(key: string, volume: Volume, ownership: VolumeOwnership | undefined): void {
    this.publishedReals.add(volume.real);
    this.volumes.set(key, volume);
    const last = this.calls.at(-1);
    if (!last || answerProblem(last.script) !== undefined || ownership === undefined) return;
    const { script } = last;
    if (script.kind === 'writes-itself') {
      for (const f of script.files) volume.foreign.set(f.path, Buffer.from(f.text));
      return;
    }
    // No files at all: the provider wrote them itself, and the driver's stay as they were.
    const files =
      script.kind === 'many'
        ? Array.from({ length: script.count }, (_, i) => ({
            path: `f-${i}`,
            mode: 0o644,
            contents: { text: `v${i}` },
          }))
        : script.kind === 'files'
          ? script.files
          : [];
    if (files.length === 0) return;
    volume.files = new Map(files.map((f) => [f.path, { mode: f.mode, contents: bytesOf(f.contents) }]));
    volume.group = ownership.group;
    const tops = new Set(files.map((f) => f.path.split('/')[0]));
    for (const p of volume.foreign.keys()) if (tops.has(p.split('/')[0])) volume.foreign.delete(p);
  }

  /** The provider gets the cleaned target, the pod's attributes and the secrets, tokens apart. */
  private checkMountRequest(received: MountRequest__Output, sent: PublishFields, key: string): void {
    if (received.targetPath !== key)
      violated(`the provider was sent target ${JSON.stringify(received.targetPath)}`);
    const attributes = JSON.parse(received.attributes) as Record<string, string>;
    for (const [k, v] of Object.entries(sent.volumeContext))
      if (k !== 'fileGroup' && k !== Attr.serviceAccountTokens && attributes[k] !== v)
        violated(`the provider was sent attribute ${k}=${JSON.stringify(attributes[k])}`);
    const secrets = { ...sent.secrets };
    delete secrets[Attr.serviceAccountTokens];
    const sorted = (json: string) => JSON.stringify(Object.entries(JSON.parse(json) ?? {}).sort());
    if (
      received.secrets === 'null'
        ? Object.keys(secrets).length > 0
        : sorted(received.secrets) !== sorted(JSON.stringify(secrets))
    )
      violated('the provider was sent other secrets');
  }

  private checkUnpublish(
    status: CallStatus,
    volumeId: string,
    key: string | undefined,
    real: string | undefined,
  ): void {
    const ok = status.code === Status.OK;
    const after = snapshot(this.harness.nodeRoot);
    this.checkChanges(after, real, 'unpublish');
    this.before = after;
    if (volumeId === '' || key === undefined) {
      if (status.code !== Status.INVALID_ARGUMENT)
        violated(`an unpublish of a bad shape was answered ${statusName(status.code)}`);
      return;
    }
    const mounted = new Set(mountsBelow(this.harness.nodeRoot));
    if (ok) {
      if (fs.lstatSync(key, { throwIfNoEntry: false })) violated(`${key} is still there after its unpublish`);
      this.unpublishedReals.add(real as string);
    }
    for (const [k, volume] of [...this.volumes]) {
      if (!within(volume.real, real as string)) continue;
      if (volume.real !== real) {
        // Another volume below the target: an unpublish must leave it alone.
        if (ok) violated(`the unpublish of ${key} succeeded over the volume ${k}`);
        continue;
      }
      if (!mounted.has(volume.real)) this.volumes.delete(k);
    }
  }

  /** Everything that changed lies within the target; a failed publish made no folder on the way. */
  private checkChanges(after: Map<string, string>, real: string | undefined, what: string): void {
    const { added, removed, changed } = changes(this.before, after);
    const outside = (p: string) => real === undefined || !within(p, real);
    const bad = [
      ...added
        .filter(outside)
        .filter((p) => !(what === 'publish' && real!.startsWith(`${p}/`) && after.get(p)?.startsWith('dir ')))
        .map((p) => `added ${p}`),
      ...removed.filter(outside).map((p) => `removed ${p}`),
      ...changed.filter(outside).map((p) => `changed ${p}`),
    ];
    if (bad.length > 0) violated(`the ${what} of ${real ?? 'a refused path'} ${bad.slice(0, 5).join(', ')}`);
  }

  /** The kernel's mounts below the node are the model's volumes, each mounted once. */
  private checkMounts(): void {
    const actual = mountsBelow(this.harness.nodeRoot).sort();
    const expected = [...this.volumes.values()].map((v) => v.real).sort();
    if (JSON.stringify(actual) !== JSON.stringify(expected))
      violated(`mounted ${JSON.stringify(actual)}, published ${JSON.stringify(expected)}`);
  }

  /** Unpublishes every volume; then nothing may be left of the run but folders on the way. */
  private async finish(initial: Map<string, string>): Promise<void> {
    for (const key of [...this.volumes.keys()]) {
      const status = await this.call(false, () =>
        this.harness.unpublish({ volumeId: VALID_PUBLISH.volumeId, targetPath: key }, CALL_TIMEOUT_MS),
      );
      this.counts.unpublishes++;
      if (status.code !== Status.OK)
        violated(`the final unpublish of ${key} was answered ${statusName(status.code)} ${status.details}`);
      this.unpublishedReals.add(this.volumes.get(key)!.real);
      this.volumes.delete(key);
    }
    const left = mountsBelow(this.harness.nodeRoot);
    if (left.length > 0) violated(`mounts left after every unpublish: ${JSON.stringify(left)}`);
    if (!(await this.harness.probe())) violated('the driver no longer answers Probe');
    const { added, removed, changed } = changes(initial, snapshot(this.harness.nodeRoot));
    const unpublished = (p: string) => [...this.unpublishedReals].some((r) => within(p, r));
    const onTheWay = (p: string) => [...this.publishedReals].some((r) => r.startsWith(`${p}/`));
    const left2 = [
      ...added.filter((p) => !onTheWay(p)).map((p) => `added ${p}`),
      ...removed.filter((p) => !unpublished(p)).map((p) => `removed ${p}`),
      ...changed.filter((p) => !unpublished(p)).map((p) => `changed ${p}`),
    ];
    if (left2.length > 0) violated(`left after every unpublish: ${left2.slice(0, 5).join(', ')}`);
  }
}
