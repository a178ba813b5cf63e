// Where the provider is called: a SecretSync's Mount request (tokens included) sent to the provider
// its class names, and the answer's files by path.
//
// SecretSyncs that share a namespace, a ServiceAccount and a class (the same uid and generation)
// make the same request. During a poll cycle (the periodic sync of every SecretSync, and the first
// sync of all of them at start) those share one call: a call in flight is joined, and an answer is
// reused by the others of the cycle. The answers are held in memory only until every SecretSync the
// cycle enqueued has been reconciled (or a next cycle began and the last reconcile of this one
// ended), and never logged. A sync a user asked for (a new SecretSync, a changed spec,
// forceSynchronization) or a retry always makes its own call.
import type { MountedContent, ProviderGateway } from '@sscsi/common';
import { ProviderCallError, SingleFlight } from '@sscsi/common';

import type { SecretProviderClassView } from '../api/secret-sync';
import type { ProviderFailureContext } from '../sync/failure';
import { providerFailure, SyncFailure } from '../sync/failure';
import { mountCall } from './mount-request';

export interface FetchRequest {
  /** The SecretSync's queue key (`namespace/name`). */
  key: string;
  namespace: string;
  serviceAccountName: string;
  spc: SecretProviderClassView;
}

/** What the fetcher needs of the tokens. */
export interface TokenSource {
  attribute(namespace: string, serviceAccount: string, signal?: AbortSignal): Promise<string | undefined>;
}

export type FetchOutcome = 'called' | 'joined' | 'reused';

export interface SecretFetcherOptions extends ProviderFailureContext {
  providers: ProviderGateway;
  tokens: TokenSource;
  /** This controller's pod, sent as the pod attributes. */
  pod: { name: string; uid: string };
  /** Each fetch: a call of its own, a call joined, or an answer of the cycle reused. */
  counted?: (outcome: FetchOutcome, provider: string) => void;
}

/** One poll cycle: the SecretSyncs it still has to start, and the answers it holds for them. */
class PollCycle {
  readonly answers = new Map<string, MountedContent>();
  readonly calls = new SingleFlight<string, MountedContent>();

  constructor(readonly pending: Set<string>) {}
}

/** The files of an answer, by path; of several files with one path, the last counts (as upstream). */
function filesByPath(content: MountedContent): Map<string, Buffer> {
  return new Map(content.files.map((f) => [f.path, f.contents]));
}

export class SecretFetcher {
  /** The cycle poll-enqueued SecretSyncs join when they start. */
  private current?: PollCycle;
  /** The cycle of each SecretSync being reconciled, if it started as part of one. */
  private readonly running = new Map<string, PollCycle>();

  constructor(private readonly o: SecretFetcherOptions) {}

  /**
   * A poll cycle begins for these SecretSyncs. A previous cycle is held only by its reconciles
   * still under way, and its answers go with the last of them.
   */
  startCycle(keys: Iterable<string>): void {
    const pending = new Set(keys);
    this.current = pending.size > 0 ? new PollCycle(pending) : undefined;
  }

  /** A user's change asks for a fresh call for this SecretSync, even if a cycle enqueued it too. */
  exclude(key: string): void {
    this.current?.pending.delete(key);
  }

  /** The SecretSync's reconcile starts: as part of the current cycle if that enqueued it. */
  begin(key: string): void {
    const cycle = this.current;
    if (!cycle?.pending.delete(key)) return;
    this.running.set(key, cycle);
    if (cycle.pending.size === 0) this.current = undefined;
  }

  /** The SecretSync's reconcile is over, whatever its outcome. */
  finished(key: string): void {
    this.running.delete(key);
  }

  /** Answers held by cycles (for tests). */
  get heldAnswers(): number {
    const cycles = new Set([...this.running.values(), ...(this.current ? [this.current] : [])]);
    return [...cycles].reduce((n, c) => n + c.answers.size, 0);
  }

  /** The files the provider answers for this SecretSync; a failure is a SyncFailure. */
  async fetch(request: FetchRequest, signal?: AbortSignal): Promise<Map<string, Buffer>> {
    const provider = request.spc.spec.provider ?? '';
    const cycle = this.running.get(request.key);
    if (!cycle) {
      this.o.counted?.('called', provider);
      return filesByPath(await this.call(request, provider, signal));
    }
    const requestKey = JSON.stringify([
      request.namespace,
      request.serviceAccountName,
      request.spc.metadata.uid ?? '',
      request.spc.metadata.generation ?? 0,
    ]);
    const kept = cycle.answers.get(requestKey);
    if (kept) {
      this.o.counted?.('reused', provider);
      return filesByPath(kept);
    }
    const joined = cycle.calls.get(requestKey);
    this.o.counted?.(joined ? 'joined' : 'called', provider);
    // The answer is kept by the call itself, before the call leaves the single-flight: a reconcile
    // that begins in between finds one or the other, never neither (a second call).
    const content = await (
      joined ??
      cycle.calls.start(requestKey, async (s) => {
        const answer = await this.call(request, provider, s);
        cycle.answers.set(requestKey, answer);
        return answer;
      })
    ).wait(signal);
    return filesByPath(content);
  }

  private async call(request: FetchRequest, provider: string, signal?: AbortSignal): Promise<MountedContent> {
    const tokens = await this.o.tokens.attribute(request.namespace, request.serviceAccountName, signal);
    const call = mountCall({
      parameters: request.spc.spec.parameters,
      pod: this.o.pod,
      namespace: request.namespace,
      serviceAccountName: request.serviceAccountName,
      tokens,
    });
    try {
      return await this.o.providers.mount(provider, call, new Date(Date.now() + this.o.timeoutMs), signal);
    } catch (err) {
      if (err instanceof ProviderCallError)
        throw new SyncFailure(providerFailure(err, this.o), { cause: err });
      throw err;
    }
  }
}
