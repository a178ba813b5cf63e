// The lab's CSI liveness probe: what the livenessprobe sidecar does, for the lab's real node, whose
// Go module proxy does not serve livenessprobe. Same flags as the sidecar the driver chart runs:
// GET /healthz answers 200 when the driver's CSI Probe says ready, 500 otherwise.
import * as grpc from '@grpc/grpc-js';
import type { FlagSpec } from '@sscsi/common';
import { createLogger, onShutdown, parseFlags, parseListenAddress, runProgram } from '@sscsi/common';
import { loadCsi } from '@sscsi/proto';
import http from 'node:http';

const FLAGS = {
  'csi-address': { kind: 'string', default: '/run/csi/socket', help: "the driver's socket" },
  'probe-timeout': { kind: 'duration', default: 1000, help: 'deadline of each Probe call' },
  'http-endpoint': { kind: 'string', default: ':9808', help: 'where /healthz is served' },
  'health-port': { kind: 'int', default: 9808, help: 'port of /healthz when --http-endpoint is empty' },
  v: { kind: 'int', default: 0, help: 'log verbosity' },
} satisfies Record<string, FlagSpec>;

async function main(): Promise<void> {
  const { values } = parseFlags(process.argv.slice(2), FLAGS);
  const logger = createLogger({ name: 'livenessprobe', json: false, verbosity: Number(values.v) });
  const Identity = loadCsi().csi.v1.Identity;
  const client = new Identity(`unix://${String(values['csi-address'])}`, grpc.credentials.createInsecure());
  const probe = () =>
    new Promise<boolean>((resolve) => {
      client.probe({}, { deadline: new Date(Date.now() + Number(values['probe-timeout'])) }, (err, res) =>
        resolve(!err && res?.ready?.value !== false),
      );
    });
  const server = http.createServer((req, res) => {
    if (req.url !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    void probe().then((ok) => {
      if (!ok) logger.warn('the driver is not ready');
      res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
    });
  });
  const endpoint = String(values['http-endpoint']) || `:${Number(values['health-port'])}`;
  const { host, port } = parseListenAddress(endpoint);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  logger.info({ endpoint }, 'serving /healthz');
  onShutdown(logger, async () => {
    server.close();
    client.close();
  });
}

runProgram('livenessprobe', main);
