// The driver fuzzed as the AWS provider's parsers were: NodePublishVolume and NodeUnpublishVolume
// calls made by mutating a valid publish (target paths, volume context, secrets, capabilities,
// read-only), each with a scripted provider answer (odd paths, modes, sizes, versions, failures),
// sent to the real CSI server on a Unix socket that mounts real tmpfs volumes. The oracles are in
// testing/fuzz-node.ts. The seed is fixed; a failure prints the seed, the request count and the
// fast-check path that replay it, with the shrunk steps, which then become a case below.
// `make test-unit` sends DRIVER_FUZZ_REQUESTS (default 300) requests; `make fuzz-driver` 10,000.
// DRIVER_FUZZ_SEED picks another seed; DRIVER_FUZZ_PATH replays one failing run of a seed.
import { Status } from '@sscsi/common';
import fc from 'fast-check';

import { CsiNodeHarness } from '../testing/csi-node-harness';
import { FUZZ_CLASSES, FUZZ_PROVIDER, MAX_PROVIDER_MESSAGE_BYTES, NodeFuzzer } from '../testing/fuzz-node';
import type { ProviderScript, Step } from '../testing/fuzz-steps';
import { steps, VALID_PUBLISH } from '../testing/fuzz-steps';

const SEED = Number(process.env.DRIVER_FUZZ_SEED ?? 1_240_624);
const REQUESTS = Number(process.env.DRIVER_FUZZ_REQUESTS ?? 300);
const PATH = process.env.DRIVER_FUZZ_PATH;
/** Steps in a run at most; every run also unpublishes what it published. */
const MAX_STEPS = 40;
/** Runs enough for the requests: runs average about 20 requests, and the surplus ones are skipped. */
const RUNS = Math.ceil(REQUESTS / 5);

/** A publish of `target` as the kubelet sends it, answered by `provider`. */
const publish = (target: Step['target'], provider: ProviderScript): Step => ({
  op: 'publish',
  target,
  request: VALID_PUBLISH,
  provider,
});
const unpublish = (target: Step['target']): Step => ({
  op: 'unpublish',
  target,
  volumeId: VALID_PUBLISH.volumeId,
});
const answer = (files: Array<{ path: string; text: string }>): ProviderScript => ({
  kind: 'files',
  versions: [{ id: 'db', version: '1' }],
  files: files.map(({ path, text }) => ({ path, mode: 0o644, contents: { text } })),
  errorCode: '',
});
const denied: ProviderScript = { kind: 'status', code: Status.PERMISSION_DENIED, details: 'AccessDenied' };

describe('the driver under fuzzed publishes and unpublishes', () => {
  let harness: CsiNodeHarness;
  let fuzzer: NodeFuzzer;

  beforeAll(async () => {
    if (process.getuid?.() !== 0)
      throw new Error('the fuzz test mounts tmpfs volumes: it needs root, as the driver');
    harness = await CsiNodeHarness.start({
      provider: FUZZ_PROVIDER,
      classes: FUZZ_CLASSES,
      maxProviderMessageBytes: MAX_PROVIDER_MESSAGE_BYTES,
    });
    fuzzer = new NodeFuzzer(harness);
  });

  afterAll(async () => {
    await harness?.stop();
  });

  describe('cases the fuzzer found (each failed before its fix)', () => {
    it('a failed first publish takes back the parent folders it made where the kubelet had made none', async () => {
      await fuzzer.run([publish('new-pod', denied)]);
    });

    it('a publish failing half-way through making the folders (a name too long) takes them back', async () => {
      // The pod's folder gone first, so that the publish has parents to make before the long name.
      await fuzzer.run([
        unpublish('pod-folder'),
        publish('long-name', answer([{ path: 'db', text: 's3cr3t' }])),
      ]);
    });

    it('a target that is itself a symlink is refused: nothing mounted or written where it points', async () => {
      await fuzzer.run([publish('symlink', answer([{ path: 'db', text: 's3cr3t' }])), unpublish('symlink')]);
    });

    it('a republish of a filled volume whose provider hangs keeps its files past the deadline', async () => {
      // A defect of the oracle, not the driver: it wanted OK although the kubelet gave up first.
      await fuzzer.run([
        publish('volume-3', answer([{ path: 'db', text: 's3cr3t' }])),
        publish('volume-3', { kind: 'hang' }),
      ]);
    });

    it("an unpublish of a pod's folder that holds a mounted volume removes nothing", async () => {
      await fuzzer.run([
        publish('volume-0', answer([{ path: 'db', text: 's3cr3t' }])),
        unpublish('pod-folder'),
        unpublish('volume-0'),
      ]);
    });
  });

  it(
    `answers ${REQUESTS} requests with a status, writes nothing outside their targets and leaves no mount (seed ${SEED})`,
    async () => {
      const started = Date.now();
      // A fuzzer of its own: the counts, and so which runs are played, depend on the seed alone.
      const fuzz = new NodeFuzzer(harness);
      // Runs go on until the requests are sent; once a run failed, its shrinking runs all.
      let failed = false;
      try {
        await fc.assert(
          fc.asyncProperty(steps(MAX_STEPS), async (run) => {
            if (!failed && fuzz.counts.requests >= REQUESTS) return;
            try {
              await fuzz.run(run);
            } catch (err) {
              failed = true;
              throw err;
            }
          }),
          { seed: SEED, numRuns: RUNS, endOnFailure: false, ...(PATH ? { path: PATH } : {}) },
        );
      } catch (err) {
        const path = /path: "([\d:]+)"/.exec(String(err))?.[1];
        (err as Error).message +=
          `\nReplay: DRIVER_FUZZ_SEED=${SEED} DRIVER_FUZZ_REQUESTS=${REQUESTS}` +
          (path ? ` DRIVER_FUZZ_PATH=${path}` : '') +
          ' jest --selectProjects unit driver/src/csi/publish-fuzz.test.ts';
        throw err;
      }
      const { counts } = fuzz;
      process.stderr.write(
        `driver fuzz: seed ${SEED}, ${counts.requests} requests in ${counts.runs} runs ` +
          `(${counts.publishes} publishes, ${counts.unpublishes} unpublishes, ${counts.mountCalls} provider calls) ` +
          `in ${((Date.now() - started) / 1000).toFixed(1)} s; statuses ${JSON.stringify(counts.statuses)}; ` +
          'files outside a target 0, mounts left 0, crashes 0\n',
      );
      if (PATH === undefined) expect(counts.requests).toBeGreaterThanOrEqual(REQUESTS);
    },
    Math.max(600_000, REQUESTS * 30),
  );
});
