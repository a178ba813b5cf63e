// Build information: --version output and the Version RPC.
import fs from 'node:fs';
import path from 'node:path';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const PROVIDER_VERSION = `v${packageVersion()}`;

export function versionInfo(): Record<string, string> {
  return {
    version: PROVIDER_VERSION,
    runtime: 'node',
    runtimeVersion: process.versions.node,
    platform: `${process.platform}/${process.arch}`,
  };
}
