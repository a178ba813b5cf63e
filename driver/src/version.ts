// The driver's version: --version output and the CSI vendor_version.
import { packageVersion } from '@sscsi/common';
import path from 'node:path';

export const DRIVER_VERSION = packageVersion(path.join(__dirname, '..'));
