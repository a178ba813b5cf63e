// The provider client against a real gRPC server on a Unix socket: how many Mount calls a failing
// provider receives, what a Version failure does, deadlines, cancellation and restarts.
import type { MountResponse } from '@sscsi/proto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { Status } from '../status-error';
import { capturingLogger, FakeProviderServer } from '../testing';
import { rejectionOf } from '../testing/thrown';
import { until } from '../testing/until';
import type { MountCall } from './provider-clients';
import { ProviderClients } from './provider-clients';
import { ProviderCallError } from './provider-error';

const OK_RESPONSE: MountResponse = {
  objectVersion: [{ id: 'db', version: '1' }],
  files: [{ path: 'db', mode: 0o644, contents: Buffer.from('value') }],
};

const CALL: MountCall = {
  attributes: '{}',
  secrets: 'null',
  targetPath: '/nonexistent/mount',
  permission: '420',
  currentObjectVersion: [],
};

/** Upstream's retry policy, which the client keeps to. */
const MAX_ATTEMPTS_UPSTREAM = 3;

const unavailable = () => ({ code: Status.UNAVAILABLE, details: 'throttled by AWS' });

describe('ProviderClients', () => {
  let dir: string;
  let provider: FakeProviderServer;
  let clients: ProviderClients;
  /** The failure of a Mount of `provider` through `clients`. */
  const mountFailure = (provider: string, deadline: Date) =>
    rejectionOf(clients.mount(provider, CALL, deadline), ProviderCallError);
  const { logger, lines: logLines } = capturingLogger(5);

  const makeClients = (retryDelayMs: number) =>
    new ProviderClients({
      searchPaths: [dir],
      maxReceiveMessageSize: 4 * 1024 * 1024,
      logger,
      retryDelayMs,
    });

  const inSeconds = (s: number) => new Date(Date.now() + s * 1000);

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'provider-clients-'));
    logLines.length = 0;
    provider = new FakeProviderServer(path.join(dir, 'fake.sock'), {
      mount: () => OK_RESPONSE,
      version: () => 'ok',
    });
    await provider.start();
  });

  afterEach(async () => {
    clients?.close();
    await provider.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes at most 3 Mount calls to a provider answering UNAVAILABLE, however long the deadline', async () => {
    provider.behaviour.mount = unavailable;
    clients = makeClients(10);
    const err = await mountFailure('fake', inSeconds(10));
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err.reason).toBe('CallFailed');
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.message).toContain('provider "fake" is unavailable: throttled by AWS');
    expect(err).toMatchObject({ provider: 'fake', attempts: 3 });
    expect(provider.mountCalls).toBe(3);
  });

  it('succeeds when the provider recovers within the 3 attempts', async () => {
    let failures = 2;
    provider.behaviour.mount = () => (failures-- > 0 ? unavailable() : OK_RESPONSE);
    clients = makeClients(10);
    const res = await clients.mount('fake', CALL, inSeconds(10));
    expect(res.objects).toEqual([{ id: 'db', version: '1' }]);
    expect(provider.mountCalls).toBe(3);
  });

  it('keeps each of many concurrent mounts to 3 attempts', async () => {
    provider.behaviour.mount = unavailable;
    clients = makeClients(10);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => clients.mount('fake', CALL, inSeconds(10)).catch((e: unknown) => e)),
    );
    expect(results.every((r) => r instanceof ProviderCallError)).toBe(true);
    expect(provider.mountCalls).toBe(15);
  });

  it('does not retry an answer other than UNAVAILABLE', async () => {
    provider.behaviour.mount = () => ({ code: Status.PERMISSION_DENIED, details: 'AccessDenied' });
    clients = makeClients(10);
    const err = await mountFailure('fake', inSeconds(10));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(provider.mountCalls).toBe(1);
  });

  it('starts no attempt that the deadline leaves no room for', async () => {
    provider.behaviour.mount = unavailable;
    // The backoff before a second attempt (1 s) does not fit in a 500 ms deadline.
    clients = makeClients(1000);
    const started = Date.now();
    const err = await mountFailure('fake', new Date(started + 500));
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(err.attempts).toBe(1);
    expect(provider.mountCalls).toBe(1);
  });

  it('stops waiting between attempts when the call is cancelled', async () => {
    provider.behaviour.mount = unavailable;
    clients = makeClients(60_000);
    const controller = new AbortController();
    const pending = clients.mount('fake', CALL, inSeconds(120), controller.signal).catch((e: unknown) => e);
    await until(() => provider.mountCalls === 1);
    controller.abort(new Error('kubelet cancelled'));
    const err = (await pending) as ProviderCallError;
    expect(err.code).toBe(Status.CANCELLED);
    expect(provider.mountCalls).toBe(1);
  });

  it('cancels a Mount in flight when the call is cancelled', async () => {
    provider.behaviour.mount = () => 'hang';
    clients = makeClients(10);
    const controller = new AbortController();
    const pending = clients.mount('fake', CALL, inSeconds(120), controller.signal).catch((e: unknown) => e);
    await until(() => provider.mountCalls === 1);
    controller.abort();
    const err = (await pending) as ProviderCallError;
    expect(err.code).toBe(Status.CANCELLED);
    expect(err.message).toContain('call to provider "fake" was cancelled');
  });

  it.each([
    ['UNAVAILABLE', Status.UNAVAILABLE],
    ['INTERNAL', Status.INTERNAL],
    ['DEADLINE_EXCEEDED', Status.DEADLINE_EXCEEDED],
  ])('mounts although Version answers %s', async (_name, code) => {
    provider.behaviour.version = () => ({ code, details: 'no version here' });
    clients = makeClients(10);
    const res = await clients.mount('fake', CALL, inSeconds(10));
    expect(res.files).toHaveLength(1);
    expect(provider.mountCalls).toBe(1);
  });

  it('mounts although Version never answers', async () => {
    provider.behaviour.version = () => 'hang';
    clients = makeClients(10);
    const res = await clients.mount('fake', CALL, inSeconds(10));
    expect(res.objects).toHaveLength(1);
    expect(provider.mountCalls).toBe(1);
  });

  it('waits for a restarting provider to listen again instead of spending its attempts', async () => {
    clients = makeClients(10);
    await clients.mount('fake', CALL, inSeconds(10));
    await provider.stop();
    // While the provider restarts, its socket refuses every connection; count the attempts.
    let refused = 0;
    const refusing = net.createServer((socket) => (refused++, socket.destroy()));
    await new Promise<void>((resolve) => refusing.listen(provider.socketPath, resolve));
    const pending = clients.mount('fake', CALL, inSeconds(20));
    // More refused connections than 3 attempts could have survived.
    await until(() => refused > MAX_ATTEMPTS_UPSTREAM, 15_000);
    await new Promise<void>((resolve) => refusing.close(() => resolve()));
    fs.rmSync(provider.socketPath, { force: true });
    await provider.start();
    await expect(pending).resolves.toMatchObject({ objects: [{ id: 'db', version: '1' }] });
    expect(provider.mountCalls).toBe(2);
  }, 30_000);

  it('says it could not connect when nothing listens on the socket until the deadline', async () => {
    await provider.stop();
    // A socket file nobody listens on, as a crashed provider leaves behind.
    execFileSync('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(provider.socketPath)})`,
    ]);
    clients = makeClients(10);
    const err = await mountFailure('fake', inSeconds(1));
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(err.message).toContain(`could not connect to provider "fake" at ${provider.socketPath}`);
    expect(provider.mountCalls).toBe(0);
  });

  it('fails at once, naming the folders, when no provider socket exists', async () => {
    clients = makeClients(10);
    const err = await mountFailure('absent', inSeconds(10));
    expect(err.reason).toBe('ProviderNotFound');
    expect(err.provider).toBe('absent');
    expect(err.message).toContain(`no absent.sock in ${dir}`);
  });

  it('refuses a name that cannot be a socket before looking for one', async () => {
    clients = makeClients(10);
    const err = await mountFailure('../fake', inSeconds(10));
    expect(err).toMatchObject({
      reason: 'InvalidProviderName',
      provider: '../fake',
      code: Status.INVALID_ARGUMENT,
      message: 'invalid provider name "../fake": want [a-zA-Z0-9_-]{1,30}',
    });
    expect(provider.mountCalls).toBe(0);
  });

  it("gives the provider's objects and files", async () => {
    clients = makeClients(10);
    const res = await clients.mount('fake', CALL, inSeconds(10));
    expect(res).toEqual({
      objects: [{ id: 'db', version: '1' }],
      files: [{ path: 'db', mode: 0o644, contents: Buffer.from('value') }],
    });
  });

  it('fails with the error code a provider answered in its response, without retrying', async () => {
    provider.behaviour.mount = () => ({ objectVersion: [], files: [], error: { code: 'AccessDenied' } });
    clients = makeClients(10);
    const err = await mountFailure('fake', inSeconds(10));
    expect(err).toMatchObject({
      reason: 'ProviderError',
      providerCode: 'AccessDenied',
      code: Status.INTERNAL,
      message: 'provider "fake" failed to mount the objects: error code AccessDenied',
    });
    expect(provider.mountCalls).toBe(1);
  });

  it('fails when a provider answers without object versions', async () => {
    provider.behaviour.mount = () => ({ objectVersion: [], files: OK_RESPONSE.files });
    clients = makeClients(10);
    const err = await mountFailure('fake', inSeconds(10));
    expect(err).toMatchObject({
      reason: 'NoObjectVersions',
      code: Status.INTERNAL,
      message: 'provider "fake" returned no object versions; a provider must report at least one object',
    });
  });

  it('reports Version results as health', async () => {
    clients = makeClients(10);
    const healthy: Array<[string, boolean]> = [];
    await clients.checkHealth((name, ok) => healthy.push([name, ok]));
    provider.behaviour.version = () => ({ code: Status.INTERNAL, details: 'broken' });
    await clients.checkHealth((name, ok) => healthy.push([name, ok]));
    expect(healthy).toEqual([
      ['fake', true],
      ['fake', false],
    ]);
  });
});
