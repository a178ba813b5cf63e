// SSM parameter names wanted by several mounts of one identity at about the same time go out
// together: a GetParameters call waits `coalesceMs` for other mounts' names, and takes ten of them,
// none twice (ssm-names.ts). Each name's answer is kept by itself (kept-answers.ts).
//
// A call that mixed other mounts' names and failed with an error that is not AWS being unavailable
// (one name the role may not read denies the whole call) is tried again with this mount's names
// only (shared with mounts asking exactly those).
import type { GetParametersCommand, GetParametersCommandOutput, Parameter } from '@aws-sdk/client-ssm';
import { SharedCall } from '@sscsi/common';

import { ssmSdk } from '../aws-clients';
import { classifyAwsError } from '../aws-errors';
import type { MountRound } from './kept-answers';
import { KeptAnswers } from './kept-answers';
import { NameBatch, parameterNameOf, parametersByName } from './ssm-names';

/** What the fetchers use of a client: `send`. */
export interface Sender {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** The answers of one GetParameters call, by the selector asked. */
type Answers = Map<string, Parameter>;

/** A GetParameters call waiting for names, sent once the coalescing pause is over. */
interface PendingCall {
  batch: NameBatch<string>;
  call: SharedCall<Answers>;
  startedAt: number;
}

export interface SsmCoalescerOptions {
  /** How long an answer serves other rotation remounts; 0: only calls in flight. */
  windowMs: number;
  /** How long a GetParameters call waits for other mounts' names. */
  coalesceMs: number;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Counts the answers a mount got from another mount's call. */
  onShared: (operation: string) => void;
}

export class SsmCoalescer {
  /** Each selector's answer, by identity, region, decryption and selector. */
  private readonly answers: KeptAnswers<Answers>;
  /** Calls waiting for names, by identity, region, decryption and group. */
  private readonly pending = new Map<string, PendingCall[]>();
  /** The names each call sent. */
  private readonly sent = new WeakMap<SharedCall<Answers>, NameBatch<string>>();

  constructor(private readonly o: SsmCoalescerOptions) {
    this.answers = new KeptAnswers({ windowMs: o.windowMs, maxBytes: Number.POSITIVE_INFINITY });
  }

  /** Answers `command` for one mount, out of calls shared with the other mounts of `scope` (identity, region). */
  async getParameters(
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
      const now = this.o.now();
      return selectors.map((selector) => {
        const key = JSON.stringify([scope, decrypt, selector]);
        const kept = group === '' ? this.answers.usable(key, round, now) : undefined;
        if (kept) {
          this.o.onShared('GetParameters');
          return { selector, call: kept };
        }
        const { call, startedAt } = this.enqueue(
          client,
          JSON.stringify([scope, decrypt, group]),
          selector,
          decrypt,
        );
        this.answers.keep(key, call, startedAt, () => 0);
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
        ({ call }) => call.failed && (this.sent.get(call)?.items ?? []).some((s) => !mine.has(s)),
      );
      if (signal?.aborted || !mixed || classifyAwsError(err).retriable) throw err;
      // Another mount's name may be what failed the call: these names alone, once.
      return answer(ask(JSON.stringify([...mine].sort())));
    }
  }

  /** The call that will carry `selector`: one of this group waiting to go, or a new one. */
  private enqueue(client: Sender, group: string, selector: string, decrypt: boolean): PendingCall {
    const name = parameterNameOf(selector);
    // A call whose every mount gave up before it went out is not joined: it will not go out.
    const waiting = (this.pending.get(group) ?? []).filter((p) => !p.call.failed);
    const joined =
      waiting.find((p) => p.batch.items.includes(selector)) ?? waiting.find((p) => p.batch.fits([name]));
    if (joined) {
      if (!joined.batch.items.includes(selector)) joined.batch.add(selector, [name]);
      return joined;
    }
    const batch = new NameBatch<string>();
    batch.add(selector, [name]);
    const call = new SharedCall<Answers>(async (signal) => {
      await new Promise((resolve) => setTimeout(resolve, this.o.coalesceMs));
      const left = (this.pending.get(group) ?? []).filter((p) => p.batch !== batch);
      if (left.length > 0) this.pending.set(group, left);
      else this.pending.delete(group);
      signal.throwIfAborted();
      const out = (await client.send(
        new (ssmSdk().GetParametersCommand)({ Names: batch.items, WithDecryption: decrypt }),
        { abortSignal: signal },
      )) as GetParametersCommandOutput;
      const byName = parametersByName(out.Parameters);
      const invalid = new Set(out.InvalidParameters ?? []);
      const answers: Answers = new Map();
      for (const s of batch.items) {
        const p = invalid.has(s) ? undefined : byName.get(parameterNameOf(s));
        if (p) answers.set(s, p);
      }
      return answers;
    });
    const created: PendingCall = { batch, call, startedAt: this.o.now() };
    this.sent.set(call, batch);
    waiting.push(created);
    this.pending.set(group, waiting);
    return created;
  }

  /** Drops the answers no mount may use any more. */
  sweep(): void {
    this.answers.sweep(this.o.now());
  }

  /** Answers kept or in flight. */
  get size(): number {
    return this.answers.size;
  }
}
