// One test file's share of the whole system (startDemoSystem): its node's system (or several nodes'),
// a namespace of its own and the lab's AWS as the account root, set up before the file's tests and
// taken down after them, each step even when one before it failed. The file's own beforeAll,
// declared after systemSuite(), runs once these are up. Used by the tests that run pods through the
// driver and the AWS provider as the charts run them (faults, isolation, multi-node, ...).
import type { Pod } from '@sscsi/common';

import type { DemoSystem, DemoSystemOptions } from '../src';
import {
  awsAdmin,
  createNamespace,
  createPod,
  deleteNamespace,
  DEMO_REGION,
  startDemoSystem,
  uniqueSuffix,
} from '../src';

export type AwsAdmin = ReturnType<typeof awsAdmin>;

export interface SystemSuiteOptions extends Omit<DemoSystemOptions, 'nodeName'> {
  /** How many nodes, each with a system of its own against the one lab; default 1. */
  nodes?: number;
}

export interface SystemSuite {
  /** Unique to this run: part of the names of the file's namespace, nodes, roles and AWS objects. */
  readonly sfx: string;
  /** The file's namespace, `<prefix>-<sfx>`; also the node's name when there is one node. */
  readonly ns: string;
  /** The first node's system. */
  readonly system: DemoSystem;
  /** Every node's system, in order. */
  readonly systems: readonly DemoSystem[];
  /** The lab's AWS in the demo region, as the account root (for set-up). */
  readonly aws: AwsAdmin;
  /** The lab's AWS in another region; destroyed with the suite. */
  awsIn(region: string): AwsAdmin;
  /** Another namespace, deleted with the suite. */
  createNamespace(name: string): Promise<void>;
  /** A pod on a node (the first by default) that mounts the class `spc` as its volume `v`. */
  createPod(
    name: string,
    serviceAccount: string,
    spc: string,
    where?: { namespace?: string; system?: DemoSystem },
  ): Promise<Pod>;
  /** Runs at the end, before the namespaces go and the systems stop; the last registered runs first. */
  atEnd(cleanup: () => unknown): void;
}

export function systemSuite(prefix: string, options: SystemSuiteOptions = {}): SystemSuite {
  const { nodes = 1, ...systemOptions } = options;
  const sfx = uniqueSuffix();
  const ns = `${prefix}-${sfx}`;
  const systems: DemoSystem[] = [];
  const admins: AwsAdmin[] = [];
  const namespaces: string[] = [];
  const cleanups: Array<() => unknown> = [];
  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error(`the system of ${ns} is not up: its set-up failed or has not run`);
    return value;
  };

  const suite: SystemSuite = {
    sfx,
    ns,
    get system() {
      return started(systems[0]);
    },
    systems,
    get aws() {
      return started(admins[0]);
    },
    awsIn(region) {
      const admin = awsAdmin(suite.system.lab, region);
      admins.push(admin);
      return admin;
    },
    async createNamespace(name) {
      await createNamespace(suite.system.kube, name);
      namespaces.push(name);
    },
    createPod(name, serviceAccount, spc, where = {}) {
      const system = where.system ?? suite.system;
      return createPod(system.kube, where.namespace ?? ns, name, {
        nodeName: system.nodeName,
        serviceAccountName: serviceAccount,
        volumes: [{ name: 'v', spc }],
      });
    },
    atEnd(cleanup) {
      cleanups.push(cleanup);
    },
  };

  beforeAll(async () => {
    for (let i = 0; i < nodes; i++) {
      const nodeName = nodes === 1 ? ns : `${ns}-${i}`;
      systems.push(await startDemoSystem({ ...systemOptions, nodeName }));
    }
    suite.awsIn(DEMO_REGION);
    await suite.createNamespace(ns);
  });

  afterAll(async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => unknown) => {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    };
    for (const cleanup of [...cleanups].reverse()) await attempt(cleanup);
    const [first] = systems;
    if (first) {
      // A test that failed midway must not leave its AWS faults to the next file.
      await attempt(() => first.gate.clearFaults());
      for (const name of namespaces) await attempt(() => deleteNamespace(first.kube, name));
    }
    for (const admin of admins) admin.destroy();
    for (const system of systems) await attempt(() => system.close());
    if (failures.length > 0) throw failures[0];
  });

  return suite;
}
