// The controller's version, and what --version prints: upstream's three fields, in its order.
import { packageVersion } from '@sscsi/common';
import path from 'node:path';

export const CONTROLLER_VERSION = packageVersion(path.join(__dirname, '..'));

/** `{"BuildVersion":…,"GitCommit":…,"BuildDate":…}`, as upstream's --version prints it. */
export function versionLine(version: string = CONTROLLER_VERSION): string {
  return JSON.stringify({ BuildVersion: version, GitCommit: '', BuildDate: '' });
}
