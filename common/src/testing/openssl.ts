// For unit tests: key material as openssl writes it, made fresh in a temporary folder per test file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class OpensslFolder {
  readonly dir: string;

  constructor(prefix: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  /** Runs openssl in the folder. */
  run(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }

  /** A file of the folder. */
  read(name: string): Buffer {
    return fs.readFileSync(path.join(this.dir, name));
  }

  /** A self-signed certificate for a day, `<name>.crt`, and its new RSA key, `<name>.key` (PKCS#8). */
  selfSigned(name: string, commonName: string): void {
    const req = 'req -x509 -newkey rsa:2048 -nodes -days 1'.split(' ');
    this.run(...req, '-subj', `/CN=${commonName}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
