import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';

import { writePayload } from './atomic-writer';
import type { PayloadFile } from './payload';
import { DATA_DIR_LINK, PayloadError } from './payload';

const file = (p: string, contents: string, mode = 0o644): PayloadFile => ({
  path: p,
  mode,
  contents: Buffer.from(contents),
});

describe('writePayload', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-writer-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const read = (p: string) => fs.readFileSync(path.join(dir, p), 'utf8');
  const hidden = () => fs.readdirSync(dir).filter((n) => n.startsWith('..') && n !== DATA_DIR_LINK);

  it('lays files out behind ..data with visible symlinks and the requested modes', async () => {
    const outcome = writePayload(dir, [
      file('username', 'admin', 0o600),
      file('nested/password', 'pw', 0o640),
    ]);
    expect(outcome.changed).toBe(true);
    expect(read('username')).toBe('admin');
    expect(read('nested/password')).toBe('pw');
    expect(fs.lstatSync(path.join(dir, 'username')).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(path.join(dir, 'username'))).toBe('..data/username');
    expect(fs.statSync(path.join(dir, 'username')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, 'nested/password')).mode & 0o777).toBe(0o640);
    expect(hidden()).toHaveLength(1);
  });

  it('leaves the volume untouched when the payload is unchanged', async () => {
    writePayload(dir, [file('a', '1')]);
    const before = fs.readlinkSync(path.join(dir, DATA_DIR_LINK));
    const outcome = writePayload(dir, [file('a', '1')]);
    expect(outcome.changed).toBe(false);
    expect(fs.readlinkSync(path.join(dir, DATA_DIR_LINK))).toBe(before);
  });

  it('puts back a visible name that went missing when the payload is unchanged', () => {
    writePayload(dir, [file('a', '1'), file('nested/b', '2')]);
    const before = fs.readlinkSync(path.join(dir, DATA_DIR_LINK));
    fs.unlinkSync(path.join(dir, 'a'));
    fs.unlinkSync(path.join(dir, 'nested'));
    expect(writePayload(dir, [file('a', '1'), file('nested/b', '2')]).changed).toBe(false);
    expect(read('a')).toBe('1');
    expect(read('nested/b')).toBe('2');
    expect(fs.readlinkSync(path.join(dir, 'a'))).toBe('..data/a');
    expect(fs.readlinkSync(path.join(dir, DATA_DIR_LINK))).toBe(before);
  });

  it('tidies an unchanged payload: stale names and leftover payload folders go, its files stay', () => {
    writePayload(dir, [file('a', '1')]);
    const current = fs.readlinkSync(path.join(dir, DATA_DIR_LINK));
    fs.symlinkSync('..data/gone', path.join(dir, 'gone'));
    fs.mkdirSync(path.join(dir, '..2020_01_01_00_00_00.abc123'));
    fs.writeFileSync(path.join(dir, 'not-the-writers'), 'x');
    expect(writePayload(dir, [file('a', '1')]).changed).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual([current, DATA_DIR_LINK, 'a', 'not-the-writers'].sort());
    expect(read('a')).toBe('1');
  });

  it('rewrites when only a mode changed', async () => {
    writePayload(dir, [file('a', '1', 0o644)]);
    expect(writePayload(dir, [file('a', '1', 0o600)]).changed).toBe(true);
    expect(fs.statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o600);
  });

  it('swaps contents, removes names that disappeared and the old payload folder', async () => {
    writePayload(dir, [file('a', 'old'), file('gone', 'x')]);
    writePayload(dir, [file('a', 'new'), file('b', 'added')]);
    expect(read('a')).toBe('new');
    expect(read('b')).toBe('added');
    expect(fs.existsSync(path.join(dir, 'gone'))).toBe(false);
    expect(hidden()).toHaveLength(1);
  });

  it('rejects a bad payload before touching the folder', async () => {
    writePayload(dir, [file('a', 'kept')]);
    const before = fs.readdirSync(dir).sort();
    expect(() => writePayload(dir, [file('a', 'new'), file('../escape', 'x')])).toThrow(PayloadError);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
    expect(read('a')).toBe('kept');
    expect(fs.existsSync(path.join(dir, '..', 'escape'))).toBe(false);
  });

  it('removes leftovers of an interrupted write', async () => {
    fs.mkdirSync(path.join(dir, '..2020_01_01_00_00_00.abc123'));
    writePayload(dir, [file('a', '1')]);
    expect(hidden()).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, '..2020_01_01_00_00_00.abc123'))).toBe(false);
  });

  it('writes names with leading dots as ordinary files, and removes them when they go', () => {
    writePayload(dir, [file('..config', 'c'), file('a', '1')]);
    expect(read('..config')).toBe('c');
    writePayload(dir, [file('..config', 'c2'), file('a', '1')]);
    expect(read('..config')).toBe('c2');
    writePayload(dir, [file('a', '2')]);
    expect(fs.existsSync(path.join(dir, '..config'))).toBe(false);
    expect(hidden()).toHaveLength(1);
  });

  it('replaces plain files left at a visible name by an older writer', () => {
    fs.writeFileSync(path.join(dir, 'a'), 'plain');
    writePayload(dir, [file('a', 'new')]);
    expect(fs.lstatSync(path.join(dir, 'a')).isSymbolicLink()).toBe(true);
    expect(read('a')).toBe('new');
  });

  // Giving files to another group needs root (chown); the driver and the provider run as root.
  (process.getuid?.() === 0 ? describe : describe.skip)('with a group (fsGroup or fileGroup)', () => {
    const GID = 2000;
    /** Reads a file as uid 1000 with only the given supplementary groups, as a non-root container would. */
    const readAs = (groups: number[], p: string) =>
      spawnSync(
        'setpriv',
        [
          '--reuid=1000',
          `--regid=${groups[0] ?? 1000}`,
          groups.length ? `--groups=${groups.join(',')}` : '--clear-groups',
          'cat',
          path.join(dir, p),
        ],
        { encoding: 'utf8' },
      );

    it('gives files, folders and the volume to the group, adding group read to each mode', () => {
      writePayload(dir, [file('key', 'k', 0o400), file('nested/cert', 'c', 0o644)], { group: GID });
      for (const p of ['key', 'nested/cert', 'nested', '.', DATA_DIR_LINK]) {
        expect({ p, gid: fs.statSync(path.join(dir, p)).gid }).toEqual({ p, gid: GID });
      }
      expect(fs.statSync(path.join(dir, 'key')).mode & 0o777).toBe(0o440);
      expect(fs.statSync(path.join(dir, 'nested/cert')).mode & 0o777).toBe(0o644);
      expect(fs.statSync(dir).mode & 0o050).toBe(0o050);
      expect(readAs([GID], 'key')).toMatchObject({ status: 0, stdout: 'k' });
      expect(readAs([GID + 1], 'key').status).not.toBe(0);
    });

    it("writes for the group without capabilities into a volume mounted for it (the provider's case)", () => {
      // The volume as our driver mounts it for a group: its root the group's, setgid.
      fs.chownSync(dir, 0, GID);
      fs.chmodSync(dir, 0o2755);
      // The built module (this file's build), run by root with every capability dropped, as the AWS
      // provider's chart runs it: no CAP_CHOWN, and no CAP_FSETID (a chmod then clears setgid).
      const built = path.join(__dirname, '..', 'dist', 'atomic-writer.js');
      expect(fs.existsSync(built)).toBe(true);
      const script =
        `require(${JSON.stringify(built)}).writePayload(${JSON.stringify(dir)}, ` +
        `[{ path: 'key', mode: 0o400, contents: Buffer.from('k') }, { path: 'nested/cert', mode: 0o644, contents: Buffer.from('c') }], ` +
        `{ group: ${GID} });`;
      const run = () =>
        spawnSync('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, '-e', script], {
          encoding: 'utf8',
        });
      for (const round of [1, 2]) {
        const out = run();
        expect({ round, status: out.status, stderr: out.stderr }).toEqual({ round, status: 0, stderr: '' });
        // The second round rewrites nothing but must still pass.
        for (const p of ['key', 'nested/cert', 'nested'])
          expect({ p, gid: fs.statSync(path.join(dir, p)).gid }).toEqual({ p, gid: GID });
        expect(readAs([GID], 'key')).toMatchObject({ status: 0, stdout: 'k' });
      }
    });

    it('without a group, a non-root reader cannot read a 0440 file', () => {
      writePayload(dir, [file('key', 'k', 0o440)]);
      fs.chmodSync(dir, 0o755);
      expect(fs.statSync(path.join(dir, 'key')).gid).toBe(0);
      expect(readAs([GID], 'key').status).not.toBe(0);
    });

    it('keeps the group on rotation, and rewrites an unchanged payload when the group changes', () => {
      writePayload(dir, [file('key', 'old', 0o400)], { group: GID });
      expect(writePayload(dir, [file('key', 'new', 0o400)], { group: GID }).changed).toBe(true);
      expect(fs.statSync(path.join(dir, 'key')).gid).toBe(GID);
      expect(readAs([GID], 'key')).toMatchObject({ status: 0, stdout: 'new' });
      expect(writePayload(dir, [file('key', 'new', 0o400)], { group: GID }).changed).toBe(false);
      expect(writePayload(dir, [file('key', 'new', 0o400)], { group: 3000 }).changed).toBe(true);
      expect(fs.statSync(path.join(dir, 'key')).gid).toBe(3000);
      expect(fs.statSync(dir).gid).toBe(3000);
      expect(hidden()).toHaveLength(1);
    });

    it('a failed write leaves the previous files, group and all, and no new folder', () => {
      writePayload(dir, [file('key', 'old', 0o400)], { group: GID });
      const before = fs.readdirSync(dir).sort();
      const chown = jest.spyOn(fs, 'chownSync').mockImplementationOnce(() => {
        throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
      });
      try {
        // The first chown is of the new file (the volume's own group is already right).
        expect(() => writePayload(dir, [file('key', 'new', 0o400)], { group: GID })).toThrow(/EPERM/);
      } finally {
        chown.mockRestore();
      }
      expect(fs.readdirSync(dir).sort()).toEqual(before);
      expect(readAs([GID], 'key')).toMatchObject({ status: 0, stdout: 'old' });
    });
  });

  describe('a failure midway (tmpfs full, I/O error)', () => {
    afterEach(() => jest.restoreAllMocks());

    const failOnCall = <K extends 'writeFileSync' | 'renameSync' | 'symlinkSync' | 'chmodSync'>(
      name: K,
      n: number,
    ) => {
      const original = fs[name] as (...args: unknown[]) => unknown;
      let calls = 0;
      jest.spyOn(fs, name).mockImplementation(((...args: unknown[]) => {
        calls += 1;
        if (calls === n) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        return original.apply(fs, args);
      }) as never);
    };

    it.each<['writeFileSync' | 'renameSync' | 'symlinkSync' | 'chmodSync', number]>([
      ['writeFileSync', 1],
      ['writeFileSync', 2],
      ['writeFileSync', 3],
      ['chmodSync', 3],
      ['symlinkSync', 1],
      ['renameSync', 1],
    ])('leaves every old file in place and nothing behind when %s call %i fails', (name, n) => {
      writePayload(dir, [file('a', 'old-a'), file('b', 'old-b'), file('c/d', 'old-d')]);
      const before = fs.readdirSync(dir).sort();
      failOnCall(name, n);
      expect(() => writePayload(dir, [file('a', 'new-a'), file('b', 'new-b'), file('c/d', 'new-d')])).toThrow(
        /no space left/,
      );
      jest.restoreAllMocks();
      expect([read('a'), read('b'), read('c/d')]).toEqual(['old-a', 'old-b', 'old-d']);
      expect(fs.readdirSync(dir).sort()).toEqual(before);
    });
  });

  it('never lets a reader in another thread see a mix of old and new contents during repeated swaps', async () => {
    const names = ['one', 'two', 'three', 'four'];
    const generation = (g: number) => names.map((n) => file(n, `${n}:${g}:${'x'.repeat(2048)}`));
    writePayload(dir, generation(0));
    // The reader runs truly in parallel (a worker thread) while this thread swaps payloads.
    const stopBuffer = new SharedArrayBuffer(4);
    const stopFlag = new Int32Array(stopBuffer);
    const reader = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const fs = require('node:fs');
      const path = require('node:path');
      const { dir, names } = workerData;
      const stop = new Int32Array(workerData.stop);
      let snapshots = 0; const mixed = []; const torn = [];
      parentPort.postMessage('reading');
      while (Atomics.load(stop, 0) === 0) {
        try {
          // A consistent snapshot: resolve ..data once and read every file through that folder.
          const data = fs.realpathSync(path.join(dir, '..data'));
          const gens = names.map((n) => fs.readFileSync(path.join(data, n), 'utf8').split(':')[1]);
          if (new Set(gens).size !== 1) mixed.push(gens.join(','));
          snapshots++;
        } catch (err) {
          // The writer removed the folder this snapshot resolved to: take the next one.
          if (err.code !== 'ENOENT') throw err;
        }
        // Each file read through its visible name is always complete.
        for (const n of names) {
          try {
            const text = fs.readFileSync(path.join(dir, n), 'utf8');
            if (!/^\\w+:\\d+:x{2048}$/.test(text)) torn.push(text.slice(0, 20));
          } catch (err) {
            if (err.code !== 'ENOENT') throw err;
          }
        }
      }
      parentPort.postMessage({ snapshots, mixed, torn });
      `,
      { eval: true, workerData: { dir, names, stop: stopBuffer } },
    );
    const reading = new Promise((resolve, reject) => {
      reader.once('message', resolve);
      reader.once('error', reject);
    });
    const result = reading.then(
      () =>
        new Promise<{ snapshots: number; mixed: string[]; torn: string[] }>((resolve, reject) => {
          reader.once('message', resolve);
          reader.once('error', reject);
        }),
    );
    // Swap only once the reader runs, so that its reads overlap the swaps.
    await reading;
    for (let g = 1; g <= 300; g++) writePayload(dir, generation(g));
    Atomics.store(stopFlag, 0, 1);
    const { snapshots, mixed, torn } = await result;
    expect(snapshots).toBeGreaterThan(10);
    expect(mixed).toEqual([]);
    expect(torn).toEqual([]);
    expect(read('one')).toMatch(/^one:300:/);
  });
});
