import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { connectionFromKubeconfig, KubeConfigError } from './connection';

describe('connectionFromKubeconfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeconfig-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(text: string): string {
    const file = path.join(dir, 'config');
    fs.writeFileSync(file, text);
    return file;
  }

  it("reads the current context's server, CA (from a file beside it) and token", () => {
    fs.writeFileSync(path.join(dir, 'ca.crt'), 'CA');
    const file = write(`apiVersion: v1
kind: Config
current-context: lab
contexts:
  - name: lab
    context: { cluster: c, user: u }
clusters:
  - name: c
    cluster: { server: "https://127.0.0.1:16443/", certificate-authority: ca.crt }
users:
  - name: u
    user: { token: abc }
`);
    const conn = connectionFromKubeconfig(file);
    expect(conn.server).toBe('https://127.0.0.1:16443');
    expect(conn.ca?.toString()).toBe('CA');
    expect(conn.token).toBe('abc');
  });

  it('names the file when it is not YAML', () => {
    const file = write('current-context: [unclosed');
    expect(() => connectionFromKubeconfig(file)).toThrow(KubeConfigError);
    expect(() => connectionFromKubeconfig(file)).toThrow(`cannot read kubeconfig ${file}`);
  });
});
