import { writePayload } from '@sscsi/common';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { showsFiles } from './volume-contents';

describe('showsFiles', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volume-contents-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const payload = [{ path: 'password', mode: 0o644, contents: Buffer.from('pw') }];

  it('is false for an empty volume', async () => {
    expect(await showsFiles(dir)).toBe(false);
  });

  it('is true for a written payload, and for files another writer left as plain files', async () => {
    writePayload(dir, payload);
    expect(await showsFiles(dir)).toBe(true);
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), 'volume-contents-'));
    try {
      fs.writeFileSync(path.join(plain, 'written-by-provider'), 'x');
      expect(await showsFiles(plain)).toBe(true);
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });

  it("is false when only the writer's own entries are left", async () => {
    writePayload(dir, payload);
    fs.unlinkSync(path.join(dir, 'password'));
    expect(fs.readdirSync(dir)).toContain('..data');
    expect(await showsFiles(dir)).toBe(false);
  });

  it('is false when the visible names dangle (the ..data link is gone)', async () => {
    writePayload(dir, payload);
    fs.unlinkSync(path.join(dir, '..data'));
    expect(await showsFiles(dir)).toBe(false);
  });

  it('counts a name starting with ".." that is not the writer\'s own', async () => {
    writePayload(dir, [{ path: '..config', mode: 0o644, contents: Buffer.from('c') }]);
    expect(await showsFiles(dir)).toBe(true);
  });
});
