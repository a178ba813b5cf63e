// `make demo`: the article's walkthrough on this machine, printed as a person would see it. Exits
// non-zero at the first step that does not show what it should. Expects the lab to be up.
import { requireLab } from '../lab';
import { startDemoSystem } from './system';
import type { Reporter } from './walkthrough';
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

async function main(): Promise<void> {
  requireLab();
  write(paint('1', 'Secrets Store CSI Driver + AWS provider: the walkthrough, on the lab'));
  const system = await startDemoSystem({ nodeName: 'demo-node' });
  const walkthrough = new Walkthrough(system, reporter);
  let failed = false;
  // Ctrl-C: stop the driver, the provider and the stand-in cleanly (their mounts with them).
  const interrupt = () => {
    write(paint('1;31', '\ninterrupted: cleaning up'));
    walkthrough.close();
    void system.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    for (const [i, step] of walkthrough.steps.entries()) {
      reporter.step(`${i + 1}. ${step.title}`);
      const started = Date.now();
      await step.run();
      write(paint('32', `   ok (${((Date.now() - started) / 1000).toFixed(1)} s)`));
    }
  } catch (err) {
    failed = true;
    write(paint('1;31', `\nFAILED: ${(err as Error).message}`));
  } finally {
    walkthrough.close();
    await system.close();
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
