// Tests that form one sequence on a shared system (the real node's tests): each needs the set-up
// and the steps before it to have left the system healthy, so after a failure the rest say which
// step failed instead of failing for reasons of their own.
/** A sequence's step: a jest test that does not run once an earlier step failed. */
export type SequenceStep = (title: string, run: () => Promise<void>, timeoutMs: number) => void;

export function testSequence(): SequenceStep {
  let failed: string | undefined;
  return (title, run, timeoutMs) =>
    it(
      title,
      async () => {
        if (failed) throw new Error(`not run: "${failed}" failed`);
        try {
          await run();
        } catch (err) {
          failed = title;
          throw err;
        }
      },
      timeoutMs,
    );
}
