// The lab's CSI node registrar: what node-driver-registrar does, for the lab's real node, whose
// Go module proxy does not serve node-driver-registrar. Same flags as the sidecar the driver chart
// runs. It asks the driver its name (CSI GetPluginInfo), then serves the kubelet's plugin
// registration API on /registration/<name>-reg.sock, pointing the kubelet at the driver's socket.
import * as grpc from '@grpc/grpc-js';
import type { FlagSpec } from '@sscsi/common';
import { createLogger, drainServer, listenOnSocket, onShutdown, parseFlags, runProgram } from '@sscsi/common';
import type { RegistrationHandlers } from '@sscsi/proto';
import { loadCsi, loadPluginRegistration } from '@sscsi/proto';
import path from 'node:path';

const FLAGS = {
  'csi-address': {
    kind: 'string',
    default: '/run/csi/socket',
    help: "the driver's socket, as this container sees it",
  },
  'kubelet-registration-path': {
    kind: 'string',
    default: '',
    help: "the driver's socket, as the kubelet sees it",
  },
  'plugin-registration-path': {
    kind: 'string',
    default: '/registration',
    help: "the kubelet's plugins_registry folder",
  },
  v: { kind: 'int', default: 0, help: 'log verbosity' },
} satisfies Record<string, FlagSpec>;

function driverName(address: string): Promise<string> {
  const Identity = loadCsi().csi.v1.Identity;
  const client = new Identity(`unix://${address}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.getPluginInfo({}, { deadline: new Date(Date.now() + 10_000) }, (err, res) => {
      client.close();
      if (err || !res?.name) reject(err ?? new Error('the driver has no name'));
      else resolve(res.name);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseFlags(process.argv.slice(2), FLAGS);
  const logger = createLogger({
    name: 'csi-node-driver-registrar',
    json: false,
    verbosity: Number(values.v),
  });
  const endpoint = String(values['kubelet-registration-path']);
  if (!endpoint) throw new Error('--kubelet-registration-path is required');
  let name = '';
  // The driver may still be starting: ask until it answers.
  for (;;) {
    try {
      name = await driverName(String(values['csi-address']));
      break;
    } catch (err) {
      logger.info({ err: (err as Error).message }, 'waiting for the CSI driver');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const handlers: RegistrationHandlers = {
    GetInfo: (_call, callback) =>
      callback(null, { type: 'CSIPlugin', name, endpoint, supportedVersions: ['1.0.0'] }),
    NotifyRegistrationStatus: (call, callback) => {
      callback(null, {});
      if (call.request.pluginRegistered) {
        logger.info({ name }, 'registered with the kubelet');
      } else {
        logger.error({ name, error: call.request.error }, 'the kubelet refused the registration');
        process.exit(1);
      }
    },
  };
  const server = new grpc.Server();
  server.addService(loadPluginRegistration().pluginregistration.Registration.service, handlers);
  const socket = path.join(String(values['plugin-registration-path']), `${name}-reg.sock`);
  await listenOnSocket(server, socket);
  logger.info({ socket, endpoint, name }, 'serving the plugin registration API');
  onShutdown(logger, () => drainServer(server, socket, 1000));
}

runProgram('csi-node-driver-registrar', main);
