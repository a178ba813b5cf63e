// A provider for tests: serves the provider API on a real Unix socket from an in-memory store that
// tests change (rotation), and misbehaves on request. What it does for a volume is chosen by the
// SecretProviderClass parameters, so each test pod can get its own behaviour:
//
//   objects        comma-separated names of store objects to return (required)
//   writeMode      "driver" (default: files returned) or "provider" (written into target_path)
//   failWith       a gRPC status name, e.g. PERMISSION_DENIED: the call fails with it
//   errorCode      answer with MountResponse.error.code set to this
//   hangMs         wait this long before answering
//   filePath       send the first object under this path instead of its name (path checks)
//   fileMode       send every file with this decimal mode
//   padBytes       add a file of this many bytes (oversized responses)
//   noVersions     "true": answer without object versions
import * as grpc from '@grpc/grpc-js';
import type {
  CSIDriverProviderHandlers,
  MountRequest__Output,
  MountResponse,
  ProviderFile,
} from '@sscsi/proto';
import { loadProvider } from '@sscsi/proto';
import { drainServer, listenOnSocket } from '@sscsi/common';
import fs from 'node:fs';
import path from 'node:path';

export interface StoredObject {
  content: string | Buffer;
  version: string;
}

export interface ReceivedMount {
  attributes: Record<string, string>;
  secrets: string;
  targetPath: string;
  permission: string;
  currentObjectVersion: Array<{ id: string; version: string }>;
}

export class TestProvider {
  /** Every Mount call received, oldest first. */
  readonly mounts: ReceivedMount[] = [];
  private readonly store = new Map<string, StoredObject>();
  private server?: grpc.Server;
  private readonly inFlight = new Set<() => void>();

  constructor(
    readonly socketPath: string,
    readonly runtimeName = 'test-provider',
  ) {}

  set(name: string, content: string | Buffer, version: string): void {
    this.store.set(name, { content, version });
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    const handlers: CSIDriverProviderHandlers = {
      Version: (_call, callback) =>
        callback(null, { version: 'v1alpha1', runtimeName: this.runtimeName, runtimeVersion: '0.0.1' }),
      Mount: (call, callback) => {
        this.mount(call.request).then(
          (res) => callback(null, res),
          (err: grpc.ServiceError) => callback(err),
        );
      },
    };
    server.addService(loadProvider().v1alpha1.CSIDriverProvider.service, handlers);
    await listenOnSocket(server, this.socketPath);
    this.server = server;
  }

  /** Stops at once, as a crashed provider would; hanging calls are abandoned. */
  async stop(): Promise<void> {
    for (const release of this.inFlight) release();
    if (this.server) await drainServer(this.server, this.socketPath, 0);
    this.server = undefined;
  }

  private async mount(req: MountRequest__Output): Promise<MountResponse> {
    const attributes = JSON.parse(req.attributes) as Record<string, string>;
    this.mounts.push({
      attributes,
      secrets: req.secrets,
      targetPath: req.targetPath,
      permission: req.permission,
      currentObjectVersion: req.currentObjectVersion.map((v) => ({ id: v.id, version: v.version })),
    });
    const hangMs = Number(attributes.hangMs ?? 0);
    if (hangMs > 0) {
      await new Promise<void>((resolve) => {
        const release = () => {
          clearTimeout(timer);
          this.inFlight.delete(release);
          resolve();
        };
        const timer = setTimeout(release, hangMs);
        this.inFlight.add(release);
      });
    }
    if (attributes.failWith) {
      const code = grpc.status[attributes.failWith as keyof typeof grpc.status];
      throw Object.assign(new Error(attributes.failWith), {
        code,
        details: `test provider fails with ${attributes.failWith}`,
      });
    }
    if (attributes.errorCode)
      return { error: { code: attributes.errorCode }, objectVersion: [{ id: 'x', version: '1' }] };

    const names = (attributes.objects ?? '').split(',').filter((n) => n !== '');
    const defaultMode = Number(req.permission);
    const files: ProviderFile[] = [];
    const versions: Array<{ id: string; version: string }> = [];
    for (const [i, name] of names.entries()) {
      const obj = this.store.get(name);
      if (!obj) {
        throw Object.assign(new Error('not found'), {
          code: grpc.status.NOT_FOUND,
          details: `test provider has no object "${name}"`,
        });
      }
      const filePath = i === 0 && attributes.filePath !== undefined ? attributes.filePath : name;
      files.push({
        path: filePath,
        mode: attributes.fileMode !== undefined ? Number(attributes.fileMode) : defaultMode,
        contents: Buffer.from(obj.content),
      });
      versions.push({ id: name, version: obj.version });
    }
    if (attributes.padBytes)
      files.push({
        path: 'padding',
        mode: defaultMode,
        contents: Buffer.alloc(Number(attributes.padBytes), 120),
      });
    const objectVersion = attributes.noVersions === 'true' ? [] : versions;
    if (attributes.writeMode === 'provider') {
      for (const file of files) {
        const full = path.join(req.targetPath, file.path ?? '');
        fs.mkdirSync(path.dirname(full), { recursive: true });
        fs.writeFileSync(`${full}.tmp`, file.contents as Buffer, { mode: file.mode ?? 0o644 });
        fs.renameSync(`${full}.tmp`, full);
      }
      return { objectVersion, files: [] };
    }
    return { objectVersion, files };
  }
}
