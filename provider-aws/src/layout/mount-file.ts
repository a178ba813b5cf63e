// A file of a mount, as the layout stage makes it: what goes into the volume (common's payload
// file), and the version of the object it came from, which the driver reports back on rotation.
import type { PayloadFile } from '@sscsi/common';

export interface MountFile extends PayloadFile {
  version: string;
}
