// Upstream's programs as local processes beside ours: the binaries e2e/peer/build.sh builds and
// caches, and what upstream's AWS provider needs to run outside a pod. It reads its Kubernetes
// credentials only from the in-cluster files (a ServiceAccount's token and the API server's CA), and
// its STS client ignores AWS_ENDPOINT_URL and calls https://sts.<region>.amazonaws.com. So it runs
// in a mount namespace of its own whose /run holds those files, and with HTTPS_PROXY naming a proxy
// here that answers CONNECT for STS's host names only, presents a certificate of the lab's CA for
// them (SSL_CERT_FILE names that CA) and passes the decrypted bytes to the lab's AWS endpoint.
// Nothing on the machine changes (no /etc/hosts, no port 443), so it works with or without the lab's
// real node.
import type { KubeClient } from '@sscsi/common';
import { connectionFromKubeconfig } from '@sscsi/common';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { serviceAccountToken } from './charts';
import type { Lab } from './lab';
import { REPO_ROOT } from './lab';
import type { ManagedProcess } from './processes';
import { startExecutable, waitForSocket } from './processes';

const PEER_BUILD = path.join(REPO_ROOT, 'e2e', 'peer', 'build.sh');

/** The cached path of an upstream program; built by e2e/peer/build.sh when missing (minutes, once). */
export function upstreamProgram(name: 'driver' | 'provider-aws' | 'sync-controller'): string {
  let file = execFileSync(PEER_BUILD, ['path', name], { encoding: 'utf8' }).trim();
  if (!fs.existsSync(file)) {
    process.stderr.write(`building upstream's programs (e2e/peer/build.sh programs)\n`);
    execFileSync(PEER_BUILD, ['programs'], { stdio: ['ignore', 'inherit', 'inherit'] });
    file = execFileSync(PEER_BUILD, ['path', name], { encoding: 'utf8' }).trim();
  }
  return file;
}

/** STS's host names: the global one and those of `regions`. */
function stsHosts(regions: string[]): string[] {
  return ['sts.amazonaws.com', ...[...new Set(regions)].map((r) => `sts.${r}.amazonaws.com`)];
}

/**
 * A proxy for HTTPS_PROXY that answers `CONNECT <host>:443` for `hosts` only, then speaks TLS with
 * `cert` inside the tunnel and passes what it decrypts to `target`.
 */
export function stsProxy(
  hosts: string[],
  cert: { key: Buffer; cert: Buffer },
  target: URL,
): { server: http.Server; tunnels: Set<net.Socket> } {
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    // The client waits for the answer before it speaks TLS: nothing may come with the request.
    if (!host || !hosts.includes(host) || port !== '443' || head.length > 0) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    client.write('HTTP/1.1 200 Connection established\r\n\r\n');
    const secure = new tls.TLSSocket(client, { isServer: true, ...cert });
    const upstream = net.connect(Number(target.port || 80), target.hostname);
    tunnels.add(client);
    const close = () => {
      tunnels.delete(client);
      secure.destroy();
      upstream.destroy();
    };
    secure.on('error', close);
    secure.on('close', close);
    upstream.on('error', close);
    upstream.on('close', close);
    secure.pipe(upstream).pipe(secure);
  });
  return { server, tunnels };
}

/** A certificate of the lab's CA for `hosts`, as e2e/peer/run.sh makes one. */
function labCertificate(lab: Lab, dir: string, hosts: string[]): { key: Buffer; cert: Buffer } {
  const pki = path.join(lab.stateDir, 'pki');
  const key = path.join(dir, 'front.key');
  const csr = path.join(dir, 'front.csr');
  const crt = path.join(dir, 'front.crt');
  const ext = path.join(dir, 'front.ext');
  fs.writeFileSync(
    ext,
    `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
  );
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl([
    ...'req -new -newkey rsa:2048 -nodes -subj /CN=sts.amazonaws.com'.split(' '),
    ...['-keyout', key, '-out', csr],
  ]);
  openssl([
    ...'x509 -req -days 1 -sha256'.split(' '),
    ...['-in', csr, '-extfile', ext, '-out', crt],
    ...['-CA', path.join(pki, 'ca.crt'), '-CAkey', path.join(pki, 'ca.key')],
    ...['-CAcreateserial', '-CAserial', path.join(dir, 'ca.srl')],
  ]);
  fs.copyFileSync(path.join(pki, 'ca.crt'), path.join(dir, 'lab-ca.crt'));
  return { key: fs.readFileSync(key), cert: fs.readFileSync(crt) };
}

export interface UpstreamAwsProviderSandboxOptions {
  /** Whose in-cluster credentials the provider gets, as in a pod of that ServiceAccount. */
  serviceAccount: { namespace: string; name: string };
  /** The regions whose STS host names the proxy serves (besides the global one). */
  regions: string[];
}

/** In-cluster credentials and STS for upstream's AWS provider (the file's head). */
export class UpstreamAwsProviderSandbox {
  private constructor(
    readonly dir: string,
    private readonly proxy: ReturnType<typeof stsProxy>,
    private readonly proxyUrl: string,
  ) {}

  static async start(
    lab: Lab,
    kube: KubeClient,
    o: UpstreamAwsProviderSandboxOptions,
  ): Promise<UpstreamAwsProviderSandbox> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upstream-aws-provider-'));
    const token = await serviceAccountToken(kube, o.serviceAccount);
    const sa = path.join(dir, 'serviceaccount');
    fs.mkdirSync(sa);
    fs.writeFileSync(path.join(sa, 'token'), token, { mode: 0o600 });
    fs.writeFileSync(path.join(sa, 'ca.crt'), connectionFromKubeconfig(lab.kubeconfig).ca ?? '');
    fs.writeFileSync(path.join(sa, 'namespace'), o.serviceAccount.namespace);
    const hosts = stsHosts(o.regions);
    const proxy = stsProxy(hosts, labCertificate(lab, dir, hosts), new URL(lab.awsEndpoint));
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = proxy.server.address() as net.AddressInfo;
    return new UpstreamAwsProviderSandbox(dir, proxy, `http://127.0.0.1:${port}`);
  }

  /** The provider's command line, run in a mount namespace of its own with the files above. */
  command(program: string, args: string[]): { file: string; args: string[] } {
    const setup = [
      'mount -t tmpfs tmpfs /run',
      'mkdir -p /run/secrets/kubernetes.io',
      'cp -r "$1/serviceaccount" /run/secrets/kubernetes.io/serviceaccount',
      'shift',
      'exec "$@"',
    ].join(' && ');
    return {
      file: 'unshare',
      args: ['--mount', '--propagation', 'private', 'sh', '-c', setup, 'sh', this.dir, program, ...args],
    };
  }

  /** The provider's environment: in-cluster settings, the lab's AWS endpoint, STS through the proxy. */
  env(lab: Lab, region: string): NodeJS.ProcessEnv {
    const api = new URL(connectionFromKubeconfig(lab.kubeconfig).server);
    const gate = new URL(lab.awsEndpoint);
    return {
      PATH: process.env.PATH,
      KUBERNETES_SERVICE_HOST: api.hostname,
      KUBERNETES_SERVICE_PORT: api.port || '443',
      AWS_ENDPOINT_URL: lab.awsEndpoint,
      AWS_REGION: region,
      SSL_CERT_FILE: path.join(this.dir, 'lab-ca.crt'),
      HTTPS_PROXY: this.proxyUrl,
      NO_PROXY: [api.hostname, gate.hostname].join(','),
    };
  }

  async stop(): Promise<void> {
    const closed = new Promise((resolve) => this.proxy.server.close(resolve));
    for (const tunnel of this.proxy.tunnels) tunnel.destroy();
    this.proxy.server.closeAllConnections();
    await closed;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface UpstreamAwsProviderProcess extends ManagedProcess {
  socketPath: string;
}

/** Starts upstream's AWS provider in `sandbox` and waits until it serves `<providerDir>/aws.sock`. */
export async function startUpstreamAwsProvider(
  lab: Lab,
  sandbox: UpstreamAwsProviderSandbox,
  o: { providerDir: string; args: string[]; region: string; name?: string },
): Promise<UpstreamAwsProviderProcess> {
  fs.mkdirSync(o.providerDir, { recursive: true });
  const socketPath = path.join(o.providerDir, 'aws.sock');
  const { file, args } = sandbox.command(upstreamProgram('provider-aws'), o.args);
  const proc = startExecutable(o.name ?? 'upstream-provider-aws', file, args, sandbox.env(lab, o.region));
  await waitForSocket(socketPath, proc);
  return Object.assign(proc, { socketPath });
}
