// The provider's version: --version output and the Version RPC.
import { packageVersion } from '@sscsi/common';
import path from 'node:path';

export const PROVIDER_VERSION = packageVersion(path.join(__dirname, '..'));
