// The article's walkthrough on the lab's real node (make lab-up NODE=1; make test starts it): a
// kubelet with containerd, the charts installed with helm, the AWS provider from its installer, real
// pods, and `kubectl exec` into them. The steps are the ones `make demo NODE=1` prints. Without the
// real node these tests fail and say why; they never pass by skipping.
import type { Reporter } from '../src';
import { AwsGate, IamPolicyEnforcer, NodeWalkthrough, requireLab } from '../src';

const lab = requireLab();
const nodeMode = process.env.LAB_MODE === 'node';

const transcript: string[] = [];
const reporter: Reporter = {
  step: (title) => transcript.push(`== ${title}`),
  command: (text) => transcript.push(`$ ${text}`),
  output: (text) => transcript.push(text),
  note: (text) => transcript.push(text),
};

let gate: AwsGate | undefined;
let policy: IamPolicyEnforcer | undefined;
let walkthrough: NodeWalkthrough | undefined;

beforeAll(async () => {
  if (!nodeMode || !process.env.LAB_NODE_IP) {
    throw new Error(
      'the lab runs without its real node (LAB_MODE is not "node"): these tests need `make lab-up NODE=1` (make test starts it); they never pass by skipping',
    );
  }
  gate = new AwsGate(lab.awsEndpoint);
  policy = new IamPolicyEnforcer(lab.awsEndpoint);
  gate.policy = policy;
  // On the node's address: the provider's pod reaches it there.
  await gate.start(0, process.env.LAB_NODE_IP);
  walkthrough = new NodeWalkthrough(
    {
      lab,
      gate,
      nodeName: process.env.LAB_NODE_NAME ?? 'lab-node',
      region: process.env.LAB_NODE_REGION ?? 'ap-northeast-1',
    },
    reporter,
  );
});

afterAll(async () => {
  // Whatever a failed step left: the pod, the releases, the AWS objects.
  await walkthrough?.cleanSlate().catch(() => undefined);
  walkthrough?.close();
  policy?.close();
  await gate?.stop();
});

describe("the article's walkthrough on a real node", () => {
  // The steps build on each other: they run in order, and a failure stops the rest.
  let failed: string | undefined;
  for (const [i, title] of NodeWalkthrough.titles().entries()) {
    it(`${i + 1}. ${title}`, async () => {
      if (failed) throw new Error(`not run: step "${failed}" failed`);
      const step = walkthrough?.steps[i];
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
