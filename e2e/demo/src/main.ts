// `make demo`: the article's walkthrough on this machine, printed as a person would see it. Exits
// non-zero at the first step that does not show what it should. Expects the lab to be up. With the
// lab's real node (make lab-up NODE=1) it runs on that node with helm, the installer and real pods;
// without it, the driver and the provider run as processes beside the kubelet stand-in.
import { requireLab, startDemoSystem } from '@sscsi/e2e';

import { NodeWalkthrough } from './node-walkthrough';
import type { Reporter, Step } from './steps';
import { Walkthrough } from './walkthrough';

const tty = process.stdout.isTTY;
const paint = (code: string, text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const write = (text: string) => process.stdout.write(`${text}\n`);

const reporter: Reporter = {
  step: (title) => write(`\n${paint('1;36', `== ${title}`)}`),
  command: (text) => write(paint('1', `$ ${text}`)),
  output: (text) => write(text),
  note: (text) => write(paint('2', text)),
};

interface Demo {
  steps: Step[];
  close(): Promise<void>;
}

async function standInDemo(): Promise<Demo> {
  const system = await startDemoSystem({ nodeName: 'demo-node' });
  const walkthrough = new Walkthrough(system, reporter);
  return {
    steps: walkthrough.steps,
    close: async () => {
      await walkthrough.close();
      await system.close();
    },
  };
}

async function main(): Promise<void> {
  const lab = requireLab();
  const realNode = process.env.LAB_MODE === 'node';
  write(
    paint(
      '1',
      `Secrets Store CSI Driver + AWS provider: the walkthrough, on the lab${realNode ? "'s real node" : ''}`,
    ),
  );
  const demo: Demo = realNode ? await NodeWalkthrough.start(lab, reporter) : await standInDemo();
  let failed = false;
  // Ctrl-C: clean up (the stand-in's driver, provider and mounts; the real node's releases and pods).
  const interrupt = () => {
    write(paint('1;31', '\ninterrupted: cleaning up'));
    void demo.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    for (const [i, step] of demo.steps.entries()) {
      reporter.step(`${i + 1}. ${step.title}`);
      const started = Date.now();
      await step.run();
      write(paint('32', `   ok (${((Date.now() - started) / 1000).toFixed(1)} s)`));
    }
  } catch (err) {
    failed = true;
    write(paint('1;31', `\nFAILED: ${(err as Error).message}`));
  } finally {
    await demo.close();
  }
  write(
    failed
      ? paint('1;31', '\nThe walkthrough failed.')
      : paint('1;32', '\nThe walkthrough showed every step.'),
  );
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
