// AWS answers shared node-wide by the mounts of one identity, so that a rotation round costs one
// call per (identity, region, object) rather than one per pod:
// - Secrets Manager reads (DescribeSecret, GetSecretValue, ListSecrets) with the same input join
//   one call; a secret's stages and a selection's listing pages (what the selection reads of
//   them, within a byte budget) are kept for a while, and so is a value read for a rotation
//   remount, within a byte budget (values read for first mounts are not kept);
// - SSM parameter names wanted by several mounts at about the same time go out together, ten per
//   GetParameters call, and each name's answer is kept by itself (ssm-coalescer.ts).
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
// waiting on it has given up (common's single-flight.ts).
import type { ListSecretsCommandOutput } from '@aws-sdk/client-secrets-manager';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
} from '@aws-sdk/client-secrets-manager';
import { SharedCall } from '@sscsi/common';

import { ssmSdk } from '../aws-clients';
import type { MountRound } from './kept-answers';
import { KeptAnswers } from './kept-answers';
import type { Sender } from './ssm-coalescer';
import { SsmCoalescer } from './ssm-coalescer';

export type { MountRound } from './kept-answers';
export type { Sender } from './ssm-coalescer';

export const DEFAULT_COALESCE_MS = 3;

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

/**
 * Listing pages kept at most, in estimated bytes: a round's selections of a node's identities (a
 * 100-secret page with a few tags each is about 50 KiB here).
 */
export const MAX_KEPT_LISTING_BYTES = 1024 * 1024;

/**
 * What a selection reads of a ListSecrets page (secret-selection.ts), all that is kept of it: each
 * secret's name, tags and version stages, and the next page's token. ARNs, descriptions, KMS key
 * ids and dates, as long as AWS makes them, are dropped.
 */
function listingOf(out: ListSecretsCommandOutput): ListSecretsCommandOutput {
  return {
    $metadata: {},
    SecretList: (out.SecretList ?? []).map(({ Name, Tags, SecretVersionsToStages }) => ({
      Name,
      Tags: Tags?.map(({ Key, Value }) => ({ Key, Value })),
      SecretVersionsToStages,
    })),
    NextToken: out.NextToken,
  };
}

/** What a kept listing page holds, about: its JSON, two bytes a character as a string in memory. */
const listingBytes = (listing: unknown): number => JSON.stringify(listing).length * 2;

export class SharedAnswers {
  /** DescribeSecret calls: in flight, or kept. */
  private readonly stages: KeptAnswers<unknown>;
  /** ListSecrets calls (their pages as listingOf keeps them): in flight, or kept within MAX_KEPT_LISTING_BYTES. */
  private readonly listings: KeptAnswers<unknown>;
  /** GetSecretValue calls: in flight, or kept within MAX_KEPT_VALUE_BYTES. */
  private readonly values: KeptAnswers<unknown>;
  private readonly parameters: SsmCoalescer;
  /** When each volume's last mount ended; only the last window's matter. */
  private readonly volumes = new Map<string, number>();
  private readonly identities = new WeakMap<object, number>();
  private nextIdentity = 1;
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly onShared: (operation: string) => void;

  constructor(options: SharedAnswersOptions) {
    this.windowMs = Math.max(0, options.windowMs);
    this.now = options.now ?? (() => performance.now());
    this.onShared = options.onShared ?? (() => undefined);
    this.stages = new KeptAnswers({ windowMs: this.windowMs, maxBytes: Number.POSITIVE_INFINITY });
    this.values = new KeptAnswers({ windowMs: this.windowMs, maxBytes: MAX_KEPT_VALUE_BYTES });
    this.listings = new KeptAnswers({ windowMs: this.windowMs, maxBytes: MAX_KEPT_LISTING_BYTES });
    this.parameters = new SsmCoalescer({
      windowMs: this.windowMs,
      coalesceMs: Math.max(0, options.coalesceMs),
      now: this.now,
      onShared: this.onShared,
    });
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
      if (
        command instanceof DescribeSecretCommand ||
        command instanceof GetSecretValueCommand ||
        command instanceof ListSecretsCommand
      ) {
        const operation =
          command instanceof DescribeSecretCommand
            ? 'DescribeSecret'
            : command instanceof ListSecretsCommand
              ? 'ListSecrets'
              : 'GetSecretValue';
        const key = JSON.stringify([identity, region, operation, command.input]);
        const call = (signal: AbortSignal) => client.send(command, { abortSignal: signal });
        // Names, tags and version ids, no values: kept as a secret's stages are, within a budget.
        if (operation === 'ListSecrets') {
          const listing = async (signal: AbortSignal) =>
            listingOf((await client.send(command, { abortSignal: signal })) as ListSecretsCommandOutput);
          return this.shared(
            this.listings,
            key,
            operation,
            round,
            listing,
            options?.abortSignal,
            listingBytes,
          );
        }
        if (operation === 'DescribeSecret')
          return this.shared(this.stages, key, operation, round, call, options?.abortSignal, () => 0);
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
      return this.parameters.getParameters(client, scope, command, round, options?.abortSignal);
    };
    return shared;
  }

  /**
   * Joins the call for `key` in `kept` when this mount may use it, or starts one. `bytesOf` says
   * how many bytes its answer holds (0 for a small one), or undefined not to keep it once answered.
   */
  private async shared<T>(
    kept: KeptAnswers<unknown>,
    key: string,
    operation: string,
    round: MountRound,
    call: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
    bytesOf: (out: T) => number | undefined,
  ): Promise<T> {
    signal?.throwIfAborted();
    const now = this.now();
    let answer = kept.usable(key, round, now) as SharedCall<T> | undefined;
    if (answer) {
      this.onShared(operation);
    } else {
      answer = new SharedCall(call);
      kept.keep(key, answer, now, bytesOf as (out: unknown) => number | undefined);
    }
    return answer.wait(signal);
  }

  /** Drops what no mount may use any more: answers and volume records older than the window. */
  sweep(): void {
    const now = this.now();
    this.stages.sweep(now);
    this.values.sweep(now);
    this.listings.sweep(now);
    this.parameters.sweep();
    // A volume whose last mount ended before the cutoff cannot be served an answer older than it.
    const cutoff = now - this.windowMs;
    for (const [path, endedAt] of this.volumes) {
      if (endedAt > cutoff) break;
      this.volumes.delete(path);
    }
  }

  /** Answers kept or in flight, and volumes remembered: for the metrics and the tests. */
  get size(): { answers: number; valueBytes: number; listingBytes: number; volumes: number } {
    return {
      answers: this.stages.size + this.values.size + this.listings.size + this.parameters.size,
      valueBytes: this.values.bytes,
      listingBytes: this.listings.bytes,
      volumes: this.volumes.size,
    };
  }
}
