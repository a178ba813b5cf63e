// The STS proxy that upstream's AWS provider reaches the lab's STS through (HTTPS_PROXY): it tunnels
// only STS's host names on 443, speaks TLS with its certificate inside the tunnel, and hands the
// plain request to the target. A local CA and target stand in for the lab's; no lab needed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { stsProxy } from './upstream-programs';

const HOST = 'sts.ap-northeast-1.amazonaws.com';
let dir: string;
let ca: Buffer;
let proxy: ReturnType<typeof stsProxy>;
let target: http.Server;
let proxyPort: number;
const received: Array<{ method?: string; url?: string; host?: string }> = [];

const listen = (server: net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sts-proxy-test-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca'].concat([
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
    ]),
  );
  fs.writeFileSync(file('ext'), `subjectAltName=DNS:${HOST}\nextendedKeyUsage=serverAuth\n`);
  openssl([
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${HOST}`,
    '-keyout',
    file('k'),
    '-out',
    file('csr'),
  ]);
  openssl(
    ['x509', '-req', '-days', '1', '-in', file('csr'), '-extfile', file('ext'), '-out', file('crt')].concat([
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-CAserial',
      file('srl'),
    ]),
  );
  ca = fs.readFileSync(file('ca.crt'));
  target = http.createServer((req, res) => {
    received.push({ method: req.method, url: req.url, host: req.headers.host });
    res.end('from the target');
  });
  const targetPort = await listen(target);
  proxy = stsProxy(
    [HOST],
    { key: fs.readFileSync(file('k')), cert: fs.readFileSync(file('crt')) },
    new URL(`http://127.0.0.1:${targetPort}`),
  );
  proxyPort = await listen(proxy.server);
});

afterAll(async () => {
  for (const tunnel of proxy.tunnels) tunnel.destroy();
  proxy.server.closeAllConnections();
  await new Promise((resolve) => proxy.server.close(resolve));
  target.closeAllConnections();
  await new Promise((resolve) => target.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** CONNECT to `authority` through the proxy: its status, and the tunnel when it answered 200. */
function connect(authority: string): Promise<{ status: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: authority });
    req.on('connect', (res, socket) => resolve({ status: res.statusCode ?? 0, socket }));
    req.on('error', reject);
    req.end();
  });
}

it('tunnels a CONNECT to an STS host name into TLS with its certificate, and passes the request on', async () => {
  const { status, socket } = await connect(`${HOST}:443`);
  expect(status).toBe(200);
  const secure = tls.connect({ socket, servername: HOST, ca });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  secure.write(`POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    secure.on('data', (chunk: Buffer) => (text += chunk.toString()));
    secure.on('end', () => resolve(text));
  });
  expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);
  expect(answer).toMatch(/from the target$/);
  expect(received).toEqual([{ method: 'POST', url: '/', host: HOST }]);
});

it('refuses any other host or port, and a plain request', async () => {
  for (const authority of ['secretsmanager.ap-northeast-1.amazonaws.com:443', `${HOST}:80`]) {
    const { status, socket } = await connect(authority);
    socket.destroy();
    expect([authority, status]).toEqual([authority, 403]);
  }
  const plain = await new Promise<number>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: proxyPort, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  expect(plain).toBe(405);
});
