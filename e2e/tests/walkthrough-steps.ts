// Runs a walkthrough's steps as one test each, in order: a failed step stops the rest, and its
// error ends with what a person would have seen up to there. Used by walkthrough and real-node.
import type { Step } from '@sscsi/demo';

export function itRunsEachStep(
  titles: string[],
  stepAt: (i: number) => Step | undefined,
  transcript: string[],
): void {
  let failed: string | undefined;
  for (const [i, title] of titles.entries()) {
    it(`${i + 1}. ${title}`, async () => {
      if (failed) throw new Error(`not run: step "${failed}" failed`);
      const step = stepAt(i);
      if (!step) throw new Error(`no step ${i + 1}`);
      try {
        await step.run();
      } catch (err) {
        failed = title;
        throw new Error(
          `${(err as Error).message}\n--- transcript ---\n${transcript.slice(-40).join('\n')}`,
          {
            cause: err,
          },
        );
      }
    });
  }
}
