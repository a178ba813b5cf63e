// An AWS client whose calls the test answers or fails by hand, recording each command and the
// signal it was sent with: for the shared calls' tests (who waits, who cancels, what is kept).
import type { Sender } from '../fetch/ssm-coalescer';

export interface HeldCall {
  command: unknown;
  signal?: AbortSignal;
  answer: (out: unknown) => void;
  fail: (e: unknown) => void;
}

export class HeldClient implements Sender {
  readonly calls: HeldCall[] = [];

  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    return new Promise((answer, fail) => {
      this.calls.push({ command, signal: options?.abortSignal, answer, fail });
    });
  }
}
