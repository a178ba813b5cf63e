import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { type FlagSpec, flagUsage } from './flags';
import type { KubeClient } from './kube/client';
import { KubeConfigError } from './kube/connection';
import {
  type Command,
  MINIMUM_NODE_MAJOR,
  type ProgramConfig,
  type ProgramInfo,
  startProgram,
  unsupportedNode,
  versionInfo,
} from './program';
import { type LoopbackServer, serveOnLoopback } from './testing/loopback-server';

describe('unsupportedNode', () => {
  it.each([
    ['24.22.3', undefined],
    ['v24.0.0', undefined],
    ['25.1.0', undefined],
  ])('accepts Node.js %s', (version, expected) => {
    expect(unsupportedNode(version)).toBe(expected);
  });

  it.each(['20.20.2', 'v22.11.0', 'garbage', ''])('refuses %j with the version it needs', (version) => {
    expect(unsupportedNode(version)).toBe(`needs Node.js ${MINIMUM_NODE_MAJOR} or newer, this is ${version}`);
  });
});

describe('startProgram', () => {
  const FLAGS = { v: { kind: 'int', default: 0, help: 'log verbosity' } } satisfies Record<string, FlagSpec>;
  let apiServer: LoopbackServer;
  let kubeconfig: string;
  const userAgents: string[] = [];
  const clients: KubeClient[] = [];

  beforeAll(async () => {
    apiServer = await serveOnLoopback((req, res) => {
      userAgents.push(String(req.headers['user-agent']));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'start-program-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      `apiVersion: v1
current-context: lab
contexts: [{ name: lab, context: { cluster: lab } }]
clusters: [{ name: lab, cluster: { server: '${apiServer.url}' } }]
`,
    );
  });
  afterEach(() => clients.splice(0).forEach((c) => c.close()));
  afterAll(async () => {
    fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true });
    await apiServer.close();
  });

  function started(command: Command<ProgramConfig>, info: Partial<ProgramInfo<ProgramConfig>> = {}) {
    const out: string[] = [];
    const log: string[] = [];
    const start = startProgram(command, {
      name: 'the-program',
      version: 'v1.2.3',
      flags: FLAGS,
      stdout: { write: (text: string) => out.push(text) },
      logDestination: { write: (line: string) => log.push(line) },
      ...info,
    });
    if (start) clients.push(start.kube);
    return { start, out, log };
  }
  const run = (config: Partial<ProgramConfig>): Command<ProgramConfig> => ({
    kind: 'run',
    config: { logJson: true, verbosity: 0, kubeconfig, inCluster: {}, ...config },
    warnings: ['flag --x has no effect'],
  });

  it.each([
    ['versionInfo as JSON', undefined, JSON.stringify(versionInfo('v1.2.3'))],
    ["the program's own line", () => 'v1.2.3 built today', 'v1.2.3 built today'],
  ])('answers --version with %s and goes no further', (_, versionLine, want) => {
    const { start, out, log } = started({ kind: 'version' }, { versionLine });
    expect(start).toBeUndefined();
    expect(out).toEqual([`${want}\n`]);
    expect(log).toEqual([]);
  });

  it('answers --help with the usage and goes no further', () => {
    const { start, out } = started({ kind: 'help' });
    expect(start).toBeUndefined();
    expect(out).toEqual([`${flagUsage('the-program', FLAGS)}\n`]);
  });

  it.each([
    [{}, 'info', 1],
    [{ verbosity: 4 }, 'debug', 1],
    [{ errorsOnly: true }, 'error', 0],
  ])("logs as %j asks (level %s), with the flags' warnings (%d lines)", (config, level, warnings) => {
    const { start, out, log } = started(run(config));
    expect(out).toEqual([]);
    expect(start?.logger.level).toBe(level);
    expect(log).toHaveLength(warnings);
    for (const line of log) expect(JSON.parse(line)).toMatchObject({ name: 'the-program', level: 40 });
  });

  it('connects to the API server with its user agent and throttling, its requests counted', async () => {
    const kube = jest.fn(() => ({ qps: 0 }));
    const { start } = started(run({}), { kube });
    if (!start) throw new Error('not started');
    expect(kube).toHaveBeenCalledWith(start.config);
    expect(start.connection.server).toBe(apiServer.url);
    expect(start.userAgent).toBe('the-program/v1.2.3');
    await start.kube.get('/api/v1/namespaces/default/pods/p');
    expect(userAgents.at(-1)).toBe('the-program/v1.2.3');
    expect(await start.registry.metrics()).toContain('kubernetes_api_requests_total{verb="GET"} 1');
  });

  it('fails as runProgram reports a configuration error when no API server can be found', () => {
    expect(() => started(run({ kubeconfig: undefined }))).toThrow(KubeConfigError);
  });
});
