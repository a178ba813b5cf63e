import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { TcpRelay } from './tcp-relay';

let echo: net.Server;
let echoPort: number;
let relay: TcpRelay | undefined;

beforeAll(async () => {
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => echo.close(resolve));
});

afterEach(async () => {
  await relay?.stop();
  relay = undefined;
});

/** What a new connection to `port` gets back for `text` within `ms`: the answer, '' for none, or the error's code. */
function ask(port: number, text: string, ms = 300): Promise<{ answer: string; socket?: net.Socket }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += String(d)));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ answer: err.code ?? 'error' }));
    socket.on('connect', () => {
      socket.write(text);
      setTimeout(() => resolve({ answer, socket }), ms);
    });
  });
}

async function started(): Promise<number> {
  relay = new TcpRelay({
    target: { host: '127.0.0.1', port: echoPort },
    listen: { host: '127.0.0.1', port: 0 },
  });
  return relay.start();
}

test('open passes connections through', async () => {
  const port = await started();
  const { answer, socket } = await ask(port, 'hello');
  socket?.destroy();
  expect(answer).toBe('hello');
  expect(relay?.accepted).toEqual({ passed: 1, held: 0 });
});

test('refuse: nothing listens, open connections are reset; open again on the same port', async () => {
  const port = await started();
  const before = await ask(port, 'a', 100);
  const reset = new Promise((resolve) => before.socket?.on('close', resolve));
  await relay?.setMode('refuse');
  await reset;
  expect((await ask(port, 'b')).answer).toBe('ECONNREFUSED');
  await relay?.setMode('open');
  const after = await ask(port, 'c');
  after.socket?.destroy();
  expect(after.answer).toBe('c');
});

test('blackhole: accepted and never answered, and still held once the relay is open again', async () => {
  const port = await started();
  await relay?.setMode('blackhole');
  const held = await ask(port, 'into the void');
  expect(held.answer).toBe('');
  await relay?.setMode('open');
  let late = '';
  held.socket?.on('data', (d) => (late += String(d)));
  const fresh = await ask(port, 'again');
  fresh.socket?.destroy();
  expect(fresh.answer).toBe('again');
  await sleep(100);
  expect(late).toBe('');
  expect(held.socket?.destroyed).toBe(false);
  held.socket?.destroy();
  expect(relay?.accepted).toEqual({ passed: 1, held: 1 });
});
