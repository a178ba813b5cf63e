// What both walkthroughs (the stand-in one and the real node's) are made of: steps that print what
// they do through a Reporter and throw a WalkthroughFailure when they do not see what they should.
export interface Reporter {
  step(title: string): void;
  command(text: string): void;
  output(text: string): void;
  note(text: string): void;
}

export interface Step {
  title: string;
  run(): Promise<void>;
}

export class WalkthroughFailure extends Error {
  override name = 'WalkthroughFailure';
}

export function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new WalkthroughFailure(message);
}

/** Prints nothing: for listing the steps' titles. */
export const silentReporter: Reporter = {
  step: () => undefined,
  command: () => undefined,
  output: () => undefined,
  note: () => undefined,
};

/** Collects what a person would see into `lines` (the tests show its end when a step fails). */
export function transcriptReporter(lines: string[]): Reporter {
  return {
    step: (title) => lines.push(`== ${title}`),
    command: (text) => lines.push(`$ ${text}`),
    output: (text) => lines.push(text),
    note: (text) => lines.push(text),
  };
}
