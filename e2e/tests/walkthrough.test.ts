// The article's walkthrough as an end-to-end test: the steps `make demo` prints, each asserting
// that it shows what the article shows, against the whole system (driver and AWS provider with their
// charts' flags, IAM policies enforced by the AWS gate, the kubelet stand-in as the node's kubelet).
import { transcriptReporter, Walkthrough } from '@sscsi/demo';

import type { DemoSystem } from '../src';
import { startDemoSystem, uniqueSuffix } from '../src';
import { itRunsEachStep } from './walkthrough-steps';

const transcript: string[] = [];
const reporter = transcriptReporter(transcript);

let system: DemoSystem;
let walkthrough: Walkthrough;

beforeAll(async () => {
  system = await startDemoSystem({ nodeName: `walkthrough-${uniqueSuffix()}` });
  walkthrough = new Walkthrough(system, reporter);
});

afterAll(async () => {
  await walkthrough?.close();
  await system?.close();
});

describe('the walkthrough', () => {
  itRunsEachStep(Walkthrough.titles(), (i) => walkthrough.steps[i], transcript);
});
