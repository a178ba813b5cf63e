// Build information, printed by --version and reported as the CSI vendor_version.
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

export const DRIVER_VERSION = `v${packageVersion()}`;

export function versionInfo(): Record<string, string> {
  return {
    version: DRIVER_VERSION,
    runtime: 'node',
    runtimeVersion: process.versions.node,
    platform: `${process.platform}/${process.arch}`,
    minKubernetesVersion: 'v1.20.0',
  };
}
