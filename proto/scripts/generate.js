#!/usr/bin/env node
// Generates proto/src/generated from the .proto files with @grpc/proto-loader's type generator.
// `generate.js --check` regenerates into a temporary folder and fails when the committed code differs.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const protoDir = path.resolve(__dirname, '..');
const target = path.join(protoDir, 'src', 'generated');
const check = process.argv.includes('--check');
const outDir = check ? fs.mkdtempSync(path.join(os.tmpdir(), 'proto-gen-')) : target;

const generator = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
// These options must match LOADER_OPTIONS in src/index.ts: the types describe what the loader yields.
const options = ['--longs=String', '--enums=String', '--defaults', '--oneofs', '--grpcLib=@grpc/grpc-js'];

if (!check) fs.rmSync(target, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    generator,
    ...options,
    `--outDir=${outDir}`,
    'csi.proto',
    'provider.proto',
    'health.proto',
    'pluginregistration.proto',
  ],
  {
    cwd: protoDir,
    stdio: 'inherit',
  },
);
execFileSync(
  process.execPath,
  [
    require.resolve('prettier/bin/prettier.cjs'),
    '--log-level=warn',
    '--config',
    path.join(protoDir, '..', '.prettierrc.json'),
    '--write',
    outDir,
  ],
  {
    stdio: 'inherit',
  },
);

if (check) {
  const list = (dir) =>
    fs
      .readdirSync(dir, { recursive: true })
      .filter((f) => fs.statSync(path.join(dir, f)).isFile())
      .sort();
  const want = list(outDir);
  const have = fs.existsSync(target) ? list(target) : [];
  const stale =
    want.length !== have.length ||
    want.some(
      (f, i) =>
        f !== have[i] || !fs.readFileSync(path.join(outDir, f)).equals(fs.readFileSync(path.join(target, f))),
    );
  fs.rmSync(outDir, { recursive: true, force: true });
  if (stale) {
    console.error('proto/src/generated is stale: run `make proto` and commit the result');
    process.exit(1);
  }
  console.log('proto/src/generated is up to date');
}
