// The article's walkthrough as an end-to-end test: the steps `make demo` prints, each asserting
// that it shows what the article shows, against the whole system (driver and AWS provider with their
// charts' flags, IAM policies enforced by the AWS gate, the kubelet stand-in as the node's kubelet).
import type { DemoSystem, Reporter } from '../src';
import { startDemoSystem, uniqueSuffix, Walkthrough } from '../src';

const transcript: string[] = [];
const reporter: Reporter = {
  step: (title) => transcript.push(`== ${title}`),
  command: (text) => transcript.push(`$ ${text}`),
  output: (text) => transcript.push(text),
  note: (text) => transcript.push(text),
};

let system: DemoSystem;
let walkthrough: Walkthrough;

beforeAll(async () => {
  system = await startDemoSystem({ nodeName: `walkthrough-${uniqueSuffix()}` });
  walkthrough = new Walkthrough(system, reporter);
});

afterAll(async () => {
  walkthrough?.close();
  await system?.close();
});

describe('the walkthrough', () => {
  // The steps build on each other: they run in order, and a failure stops the rest.
  let failed: string | undefined;
  for (const [i, title] of Walkthrough.titles().entries()) {
    it(`${i + 1}. ${title}`, async () => {
      if (failed) throw new Error(`not run: step "${failed}" failed`);
      const step = walkthrough.steps[i];
      if (!step) throw new Error(`no step ${i + 1}`);
      try {
        await step.run();
      } catch (err) {
        failed = title;
        throw new Error(
          `${(err as Error).message}\n--- transcript ---\n${transcript.slice(-40).join('\n')}`,
          { cause: err },
        );
      }
    });
  }
});
