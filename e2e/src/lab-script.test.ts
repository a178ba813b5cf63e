// What the lab script prints when a component fails to start: which component, the end of its log
// (20 lines, each cut short) and the log's path, never the whole log. Runs the script's own
// functions on a stand-in component in a temporary state folder; no lab needed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT } from './lab';

const LAB_SCRIPT = path.join(REPO_ROOT, 'e2e', 'lab', 'lab.sh');

/** Runs `script` in bash after sourcing lab.sh's functions with state in `state`. */
function withLabFunctions(state: string, script: string) {
  return spawnSync('bash', ['-c', `source "${LAB_SCRIPT}"; ${script}`], {
    env: { ...process.env, LAB_SOURCE_ONLY: '1', LAB_STATE_DIR: state },
    encoding: 'utf8',
  });
}

describe('lab.sh when a component fails to start', () => {
  let state: string;
  beforeEach(() => {
    state = fs.mkdtempSync(path.join(os.tmpdir(), 'sscsi-lab-script-'));
  });
  afterEach(() => fs.rmSync(state, { recursive: true, force: true }));

  // A component that writes 500 lines of 5,000 characters, as the API server's gRPC warnings do.
  const noisy = `for i in $(seq 1 500); do printf "line %03d %05000d\\n" $i 0; done`;

  it('names the component that exited, shows its last 20 lines cut short and the log path', () => {
    const run = withLabFunctions(state, `start noisy bash -c '${noisy}; exit 1'; wait_for noisy 20 false`);
    expect(run.status).not.toBe(0);
    const lines = run.stderr.trimEnd().split('\n');
    const log = path.join(state, 'logs', 'noisy.log');
    expect(lines[0]).toBe(`[lab] noisy exited while starting; the last lines of its log, ${log}:`);
    expect(lines).toHaveLength(21);
    expect(lines[1]).toMatch(/^ {4}line 481 /);
    expect(lines[20]).toMatch(/^ {4}line 500 /);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(304);
    expect(run.stdout).toBe('');
  });

  it('says how long it waited for a component that never became ready', () => {
    const run = withLabFunctions(
      state,
      `start slow bash -c '${noisy}; sleep 30'; wait_for slow 1 false; rc=$?; stop slow; exit $rc`,
    );
    expect(run.status).not.toBe(0);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(
      `[lab] slow not ready after 1s; the last lines of its log, ${path.join(state, 'logs', 'slow.log')}:`,
    );
    expect(lines).toHaveLength(21);
  });
});
