// AWS answers shared node-wide by the mounts of one identity, so that a rotation round costs one
// call per (identity, region, object) rather than one per pod:
// - Secrets Manager reads (DescribeSecret, GetSecretValue) with the same input join one call; a
//   secret's stages are kept for a while, and so is a value read for a rotation remount, within a
//   byte budget (values read for first mounts are not kept);
// - SSM parameter names wanted by several mounts at about the same time go out together, ten per
//   GetParameters call, and each name's answer is kept by itself.
//
// Who shares: an identity here is one credentials object. The credential cache hands the same
// object to every pod whose own token verified for that identity, and a pod whose token did not
// verify gets credentials of its own from STS: it shares with no one. Anyone holding the
// credentials could make the call itself, so a shared answer tells no one anything new.
//
// How fresh: a mount joins a call in flight. A rotation remount (the volume has versions mounted)
// may also use an answer at most `windowMs` old, but never one older than the end of the same
// volume's previous mount: a volume always sees AWS as it is after its last look, so one pod
// remounting twice never gets its own stale answer back. A first mount uses no kept answer: with
// rotation off it would keep a value read before a change for the pod's whole life.
// The driver's poll interval is not known here: with `windowMs` below it (minus the time a round
// of remounts takes), every answer of a round was asked after the previous round, so a value
// changed before a round reaches every pod of that round.
//
// Failures are never kept. A call runs with a signal of its own, aborted only when every mount
// waiting on it has given up. A GetParameters call that mixed other mounts' names and failed with
// an error that is not AWS being unavailable (one name the role may not read denies the whole
// call) is tried again with this mount's names only (shared with mounts asking exactly those).
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { GetParametersCommand, GetParametersCommandOutput, Parameter } from '@aws-sdk/client-ssm';

import { unlessAborted } from '@sscsi/common';
import { ssmSdk } from '../aws-clients';
import { classifyAwsError } from '../aws-errors';

export const DEFAULT_COALESCE_MS = 3;
const SSM_NAMES_PER_CALL = 10;

export interface SharedAnswersOptions {
  /** How long an answer serves other rotation remounts of the same identity; 0: only calls in flight. */
  windowMs: number;
  /** How long a GetParameters call waits for other mounts' names. */
  coalesceMs: number;
  /** Monotonic milliseconds. */
  now?: () => number;
  /** Counts the answers a mount got from another mount's call. */
  onShared?: (operation: string) => void;
}

type SendOptions = { abortSignal?: AbortSignal } | undefined;

/** What the fetchers use of a client: `send`. */
export interface Sender {
  send(command: unknown, options?: SendOptions): Promise<unknown>;
}

/** One mount of one volume, as far as sharing goes. */
export interface MountRound {
  /** Answers asked before this are too old for this mount. */
  readonly notBefore: number;
  /** A rotation remount: kept answers (within the window) serve it, not only calls in flight. */
  readonly remount: boolean;
  /** Called once the mount is over, whatever its outcome. */
  end(): void;
}

/** A call several mounts wait on. */
class SharedCall<T> {
  readonly controller = new AbortController();
  settled = false;
  failed = false;
  answer: T | undefined;
  /** Estimated bytes of a kept secret value. */
  bytes = 0;
  private waiting = 0;
  promise!: Promise<T>;

  constructor(readonly startedAt: number) {}

  run(call: (signal: AbortSignal) => Promise<T>, onSettled: (failed: boolean) => void): this {
    this.promise = call(this.controller.signal);
    this.promise.then(
      (answer) => {
        this.answer = answer;
        this.settled = true;
        onSettled(false);
      },
      () => {
        this.settled = true;
        this.failed = true;
        onSettled(true);
      },
    );
    return this;
  }

  /** This caller's wait: it stops at its own signal; the call stops when no one waits any more. */
  async wait(signal: AbortSignal | undefined): Promise<T> {
    this.waiting++;
    try {
      return await unlessAborted(this.promise, signal);
    } finally {
      this.waiting--;
      if (this.waiting === 0 && !this.settled && signal?.aborted) {
        this.failed = true;
        this.controller.abort(signal.reason);
      }
    }
  }

  usableFor(round: MountRound, now: number, windowMs: number): boolean {
    // Asked after the volume's previous mount ended (strictly: a call that the previous mount made
    // itself started before it ended).
    if (this.failed || this.startedAt <= round.notBefore) return false;
    if (!this.settled) return true;
    return round.remount && now - this.startedAt < windowMs;
  }
}

/**
 * Answers kept at most, per kind (secrets' versions, parameters): a node's identities x objects,
 * with room to spare (110 ServiceAccounts x 3 objects is 330). Past it the oldest are dropped: a
 * later mount asks AWS again.
 */
export const MAX_KEPT_ANSWERS = 1024;

/**
 * Secret values kept at most, in estimated bytes: enough for a round's changed secrets of a node's
 * identities (1,000 secrets of 1 KiB), small beside the value cache's 4 MiB.
 */
export const MAX_KEPT_VALUE_BYTES = 1024 * 1024;
const VALUE_OVERHEAD_BYTES = 200;

/** What a GetSecretValue output holds, about. */
function valueBytes(out: unknown): number {
  const o = out as { SecretString?: string; SecretBinary?: Uint8Array } | undefined;
  return VALUE_OVERHEAD_BYTES + (o?.SecretString?.length ?? 0) * 2 + (o?.SecretBinary?.byteLength ?? 0);
}

/** The parameter name of an SSM selector (`name`, `name:3`, `name:label`, or an ARN with those). */
export function parameterNameOf(selector: string): string {
  // Names hold no colon; an ARN's last own colon is followed by `parameter/...`, with a slash.
  return selector.replace(/:[^:/]+$/, '');
}

/** Names going out in one GetParameters call, sent once the coalescing pause is over. */
interface ParameterBatch {
  selectors: string[];
  names: Set<string>;
  call: SharedCall<Map<string, Parameter>>;
}

export class SharedAnswers {
  private readonly calls = new Map<string, SharedCall<unknown>>();
  /** GetSecretValue calls: in flight, or kept within MAX_KEPT_VALUE_BYTES. */
  private readonly values = new Map<string, SharedCall<unknown>>();
  private keptValueBytes = 0;
  private readonly parameters = new Map<string, SharedCall<Map<string, Parameter>>>();
  private readonly batches = new Map<string, ParameterBatch[]>();
  /** When each volume's last mount ended; only the last window's matter. */
  private readonly volumes = new Map<string, number>();
  private readonly identities = new WeakMap<object, number>();
  private nextIdentity = 1;
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly coalesceMs: number;
  private readonly onShared: (operation: string) => void;

  constructor(options: SharedAnswersOptions) {
    this.windowMs = Math.max(0, options.windowMs);
    this.coalesceMs = Math.max(0, options.coalesceMs);
    this.now = options.now ?? (() => performance.now());
    this.onShared = options.onShared ?? (() => undefined);
  }

  /** Starts a mount of the volume at `targetPath`; `remount` when it has versions mounted. */
  beginMount(targetPath: string, remount: boolean): MountRound {
    const previousEnd = this.volumes.get(targetPath) ?? Number.NEGATIVE_INFINITY;
    return {
      notBefore: previousEnd,
      remount,
      end: () => {
        this.volumes.delete(targetPath);
        this.volumes.set(targetPath, this.now());
        this.sweep();
      },
    };
  }

  private identityOf(credentials: object): number {
    let id = this.identities.get(credentials);
    if (id === undefined) {
      id = this.nextIdentity++;
      this.identities.set(credentials, id);
    }
    return id;
  }

  /** `client` with its Secrets Manager reads shared among the mounts of `credentials`' identity. */
  secretsManager<C extends Sender>(client: C, credentials: object, region: string, round: MountRound): C {
    const identity = this.identityOf(credentials);
    const shared = Object.create(client) as C;
    shared.send = (command: unknown, options?: SendOptions) => {
      if (command instanceof DescribeSecretCommand || command instanceof GetSecretValueCommand) {
        const operation = command instanceof DescribeSecretCommand ? 'DescribeSecret' : 'GetSecretValue';
        const key = JSON.stringify([identity, region, operation, command.input]);
        const call = (signal: AbortSignal) => client.send(command, { abortSignal: signal });
        if (operation === 'DescribeSecret')
          return this.shared(this.calls, key, operation, round, call, options?.abortSignal, () => 0);
        // A value read for a first mount is not kept: no first mount uses a kept answer, and 2,000
        // short-lived pods would fill the budget with values no one asks for again. One read for
        // a rotation remount is kept (within its byte budget) for the other pods of the round.
        return this.shared(this.values, key, operation, round, call, options?.abortSignal, (out) =>
          round.remount ? valueBytes(out) : undefined,
        );
      }
      return client.send(command, options);
    };
    return shared;
  }

  /** `client` with its GetParameters calls coalesced among the mounts of `credentials`' identity. */
  ssm<C extends Sender>(client: C, credentials: object, region: string, round: MountRound): C {
    const scope = JSON.stringify([this.identityOf(credentials), region]);
    const shared = Object.create(client) as C;
    shared.send = (command: unknown, options?: SendOptions) => {
      if (!(command instanceof ssmSdk().GetParametersCommand)) return client.send(command, options);
      return this.getParameters(client, scope, command, round, options?.abortSignal);
    };
    return shared;
  }

  /**
   * Joins the call for `key` in `kept` when this mount may use it, or starts one. `keep` says how
   * many bytes its answer holds (0 for a small one), or undefined not to keep it once answered.
   */
  private async shared<T>(
    kept: Map<string, SharedCall<unknown>>,
    key: string,
    operation: string,
    round: MountRound,
    call: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
    keep: (out: T) => number | undefined,
  ): Promise<T> {
    signal?.throwIfAborted();
    const now = this.now();
    let entry = kept.get(key) as SharedCall<T> | undefined;
    if (entry?.usableFor(round, now, this.windowMs)) {
      this.onShared(operation);
    } else {
      const started = new SharedCall<T>(now);
      started.run(call, (failed) => {
        if (kept.get(key) !== started) return;
        const bytes = failed ? undefined : keep(started.answer as T);
        if (bytes === undefined) return this.forget(kept, key);
        started.bytes = bytes;
        if (kept === this.values) this.trimValues(bytes);
      });
      this.forget(kept, key);
      kept.set(key, started);
      this.bound(kept);
      entry = started;
    }
    return entry.wait(signal);
  }

  private forget(kept: Map<string, SharedCall<unknown>>, key: string): void {
    const call = kept.get(key);
    if (!call) return;
    kept.delete(key);
    if (kept === this.values) this.keptValueBytes -= call.bytes;
  }

  /** Counts `added` bytes of kept values, dropping the oldest kept ones past the budget. */
  private trimValues(added: number): void {
    this.keptValueBytes += added;
    for (const [key, call] of this.values) {
      if (this.keptValueBytes <= MAX_KEPT_VALUE_BYTES) return;
      if (call.settled) this.forget(this.values, key);
    }
  }

  private bound(kept: Map<string, SharedCall<unknown>>): void {
    for (const [key, call] of kept) {
      if (kept.size <= MAX_KEPT_ANSWERS) return;
      if (call.settled) this.forget(kept, key);
    }
  }

  private async getParameters(
    client: Sender,
    scope: string,
    command: GetParametersCommand,
    round: MountRound,
    signal: AbortSignal | undefined,
  ): Promise<GetParametersCommandOutput> {
    signal?.throwIfAborted();
    const decrypt = command.input.WithDecryption === true;
    const selectors = [...new Set(command.input.Names ?? [])];
    const ask = (group: string) => {
      const now = this.now();
      return selectors.map((selector) => {
        const key = JSON.stringify([scope, decrypt, selector]);
        const kept = this.parameters.get(key);
        if (group === '' && kept?.usableFor(round, now, this.windowMs)) {
          this.onShared('GetParameters');
          return { selector, call: kept };
        }
        const call = this.enqueue(client, JSON.stringify([scope, decrypt, group]), selector, decrypt);
        this.parameters.delete(key);
        this.parameters.set(key, call);
        this.bound(this.parameters as Map<string, SharedCall<unknown>>);
        call.promise.catch(() => {
          if (this.parameters.get(key) === call) this.parameters.delete(key);
        });
        return { selector, call };
      });
    };
    const answer = async (asked: ReturnType<typeof ask>) => {
      const found = await Promise.all(asked.map(({ call }) => call.wait(signal)));
      const Parameters: Parameter[] = [];
      const InvalidParameters: string[] = [];
      asked.forEach(({ selector }, i) => {
        const p = found[i]?.get(selector);
        if (p) Parameters.push(p);
        else InvalidParameters.push(selector);
      });
      return { Parameters, InvalidParameters, $metadata: {} };
    };
    const asked = ask('');
    try {
      return await answer(asked);
    } catch (err) {
      const mine = new Set(selectors);
      const mixed = asked.some(
        ({ call }) => call.failed && this.batchOf(call).some((selector) => !mine.has(selector)),
      );
      if (signal?.aborted || !mixed || classifyAwsError(err).retriable) throw err;
      // Another mount's name may be what failed the call: these names alone, once.
      return answer(ask(JSON.stringify([...mine].sort())));
    }
  }

  private readonly sentSelectors = new WeakMap<object, string[]>();

  private batchOf(call: object): string[] {
    return this.sentSelectors.get(call) ?? [];
  }

  /** The call that will carry `selector`: a batch of this group waiting to go, or a new one. */
  private enqueue(
    client: Sender,
    group: string,
    selector: string,
    decrypt: boolean,
  ): SharedCall<Map<string, Parameter>> {
    const name = parameterNameOf(selector);
    // A batch whose every mount gave up before it went out is not joined: it will not go out.
    const waiting = (this.batches.get(group) ?? []).filter((b) => !b.call.failed);
    let batch = waiting.find((b) => b.selectors.includes(selector));
    batch ??= waiting.find((b) => b.selectors.length < SSM_NAMES_PER_CALL && !b.names.has(name));
    if (batch) {
      if (!batch.selectors.includes(selector)) {
        batch.selectors.push(selector);
        batch.names.add(name);
      }
      return batch.call;
    }
    const created: ParameterBatch = {
      selectors: [selector],
      names: new Set([name]),
      call: new SharedCall(this.now()),
    };
    this.sentSelectors.set(created.call, created.selectors);
    waiting.push(created);
    this.batches.set(group, waiting);
    created.call.run(
      async (signal) => {
        await new Promise((resolve) => setTimeout(resolve, this.coalesceMs));
        const left = (this.batches.get(group) ?? []).filter((b) => b !== created);
        if (left.length > 0) this.batches.set(group, left);
        else this.batches.delete(group);
        signal.throwIfAborted();
        const out = (await client.send(
          new (ssmSdk().GetParametersCommand)({ Names: created.selectors, WithDecryption: decrypt }),
          { abortSignal: signal },
        )) as GetParametersCommandOutput;
        const byName = new Map<string, Parameter>();
        for (const p of out.Parameters ?? []) for (const key of [p.Name, p.ARN]) if (key) byName.set(key, p);
        const invalid = new Set(out.InvalidParameters ?? []);
        const bySelector = new Map<string, Parameter>();
        for (const s of created.selectors) {
          const p = invalid.has(s) ? undefined : byName.get(parameterNameOf(s));
          if (p) bySelector.set(s, p);
        }
        return bySelector;
      },
      () => undefined,
    );
    return created.call;
  }

  /** Drops what no mount may use any more: answers and volume records older than the window. */
  sweep(): void {
    const cutoff = this.now() - this.windowMs;
    for (const kept of [this.calls, this.values]) {
      for (const [key, call] of kept) {
        if (call.startedAt > cutoff) break;
        if (call.settled) this.forget(kept, key);
      }
    }
    for (const [key, call] of this.parameters) {
      if (call.startedAt > cutoff) break;
      if (call.settled) this.parameters.delete(key);
    }
    // A volume whose last mount ended before the cutoff cannot be served an answer older than it.
    for (const [path, endedAt] of this.volumes) {
      if (endedAt > cutoff) break;
      this.volumes.delete(path);
    }
  }

  /** Answers kept or in flight, and volumes remembered: for the metrics and the tests. */
  get size(): { answers: number; valueBytes: number; volumes: number } {
    return {
      answers: this.calls.size + this.values.size + this.parameters.size,
      valueBytes: this.keptValueBytes,
      volumes: this.volumes.size,
    };
  }
}
