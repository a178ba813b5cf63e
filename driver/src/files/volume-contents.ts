// What a mounted volume shows a pod. A volume mounted but never filled (the driver stopped between
// mount and write, or a failed publish could not unmount) must be told apart from a filled one, or
// a republish would answer success for an empty volume. Filling it again needs no clean-up first:
// the atomic writer removes what an interrupted write left and puts back missing names.
import { isWriterName } from '@sscsi/common';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * True when the volume shows the pod at least one file: a name other than the writer's own
 * (`..data`, payload folders) that resolves. A name whose `..data` link is missing dangles and
 * does not count.
 */
export async function showsFiles(targetPath: string): Promise<boolean> {
  for (const name of await fs.readdir(targetPath)) {
    if (isWriterName(name)) continue;
    try {
      await fs.stat(path.join(targetPath, name));
      return true;
    } catch {
      // A dangling link: its payload folder is gone.
    }
  }
  return false;
}
