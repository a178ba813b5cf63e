// The article's walkthrough on the lab's real node (make lab-up NODE=1; make test starts it): a
// kubelet with containerd, the charts installed with helm, the AWS provider from its installer, real
// pods, and `kubectl exec` into them. The steps are the ones `make demo NODE=1` prints. Without the
// real node these tests fail and say why; they never pass by skipping.
import { NodeWalkthrough, requireLab, transcriptReporter } from '../src';
import { itRunsEachStep } from './walkthrough-steps';

const lab = requireLab();
const transcript: string[] = [];
let walkthrough: NodeWalkthrough | undefined;

beforeAll(async () => {
  walkthrough = await NodeWalkthrough.start(lab, transcriptReporter(transcript));
});

afterAll(async () => {
  await walkthrough?.close();
});

describe("the article's walkthrough on a real node", () => {
  itRunsEachStep(NodeWalkthrough.titles(), (i) => walkthrough?.steps[i], transcript);
});
