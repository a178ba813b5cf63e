// The real node's container logs, kept for the log audit (e2e/tests/log-audit.test.ts). containerd
// writes each container's output under /var/log/pods, and the kubelet removes a pod's folder once
// the pod is deleted, before the audit runs: the keeper links every log file there into the test
// logs folder as it appears, so that the file outlives the folder (the same inode, which containerd
// keeps writing), or copies it where a link cannot be made (another file system).
import fs from 'node:fs';
import path from 'node:path';

import { logDir } from './processes';

/** Where the kubelet has containerd write container logs, whatever its root folder. */
export const POD_LOGS_DIR = '/var/log/pods';
/** Prefix of the kept files' names in the test logs folder. */
export const NODE_LOG_PREFIX = 'node-';

/** Every container log file under /var/log/pods: <namespace>_<pod>_<uid>/<container>/<n>.log. */
export function containerLogFiles(root = POD_LOGS_DIR): string[] {
  const files: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone meanwhile, or no node here
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory() && depth < 2) walk(full, depth + 1);
      else if (e.isFile() && depth === 2 && e.name.endsWith('.log')) files.push(full);
    }
  };
  walk(root, 0);
  return files;
}

/** The kept name of a container log: node-<namespace>_<pod>_<uid>-<container>-<n>.log. */
export function keptName(file: string, root = POD_LOGS_DIR): string {
  return NODE_LOG_PREFIX + path.relative(root, file).split(path.sep).join('-');
}

export class ContainerLogKeeper {
  private timer?: NodeJS.Timeout;
  /** Files kept by copying, with how many bytes were copied. */
  private readonly copied = new Map<string, number>();
  private readonly linked = new Set<string>();

  constructor(
    private readonly root = POD_LOGS_DIR,
    private readonly target = logDir(),
    private readonly intervalMs = 250,
  ) {}

  /** Keeps what is there now and whatever appears until stop(). */
  start(): void {
    this.sweep();
    this.timer = setInterval(() => this.sweep(), this.intervalMs);
    this.timer.unref();
  }

  /** A last look, then no more. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sweep();
  }

  /** How many container log files are kept. */
  get kept(): number {
    return this.linked.size + this.copied.size;
  }

  sweep(): void {
    for (const file of containerLogFiles(this.root)) {
      if (this.linked.has(file)) continue;
      const kept = path.join(this.target, keptName(file, this.root));
      if (!this.copied.has(file)) {
        try {
          fs.linkSync(file, kept);
          this.linked.add(file);
          continue;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') continue; // removed meanwhile
          if (code === 'EEXIST') {
            // Kept by an earlier keeper of this run: linked if it is the same file.
            if (fs.statSync(kept).ino === fs.statSync(file).ino) {
              this.linked.add(file);
              continue;
            }
          } else if (code !== 'EXDEV' && code !== 'EPERM') {
            throw err;
          }
        }
      }
      this.copyNew(file, kept);
    }
  }

  /** Appends what was written to `file` since the last look. */
  private copyNew(file: string, kept: string): void {
    const done = this.copied.get(file) ?? 0;
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      return;
    }
    if (data.length > done) fs.appendFileSync(kept, data.subarray(done));
    this.copied.set(file, Math.max(done, data.length));
  }
}
