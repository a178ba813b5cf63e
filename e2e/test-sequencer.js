// Runs test files in a fixed order (by path), and the log audit last: it reads the logs every
// earlier file's processes wrote.
const Sequencer = require('@jest/test-sequencer').default;

const last = (test) => (/log-audit\.test\.ts$/.test(test.path) ? 1 : 0);

class LabSequencer extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => last(a) - last(b) || a.path.localeCompare(b.path));
  }
}

module.exports = LabSequencer;
