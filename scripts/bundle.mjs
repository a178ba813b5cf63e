#!/usr/bin/env node
// Bundles each program for its image with esbuild: one tree-shaken, minified file per program (and
// one per module it loads on first use), source maps beside them, and what cannot be bundled (native
// modules, the .proto files) copied next to it. Each program is laid out as a package, the layout of
// its workspace, so that the paths the code computes from its own folder hold:
//
//   <out>/<program>/package.json            name and version (--version reads it)
//   <out>/<program>/dist/main.js            the program, #!/usr/local/bin/node (the images' node)
//   <out>/<program>/dist/<lazy>.js          a module it loads on first use, by a relative require
//   <out>/<program>/dist/*.js.map           source maps (node --enable-source-maps reads them)
//   <out>/<program>/*.proto                 the protocol files proto/ loads, one level above dist/
//   <out>/<program>/node_modules/           packages loaded by name at run time (native code), only
//                                           the files node loads of them
//   <out>/<program>/THIRD-PARTY-LICENSES    the licenses of the bundled packages
//
//   node scripts/bundle.mjs <out> [program ...]      every program when none is named
//
// A new program is one entry of PROGRAMS.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The modules loaded on first use (`createRequire(__filename)('./<name>')`, a sibling of the module
 * that loads it), each bundled as dist/<name>.js: in the bundle every module's __filename is
 * dist/main.js, so the same relative path finds it.
 */
const LAZY = {
  'kubeconfig-yaml': 'common/src/kube/kubeconfig-yaml.ts',
  pkcs12: 'common/src/pkcs12.ts',
  'ssm-sdk': 'provider-aws/src/ssm-sdk.ts',
};

/**
 * workspace: its folder (package.json, src/main.ts). lazy: the modules of LAZY it loads on first
 * use. runtime: packages it loads by name at run time (createRequire), not bundled. protos: it loads
 * proto/'s .proto files.
 */
export const PROGRAMS = {
  'secrets-store-csi-driver': {
    workspace: 'driver',
    lazy: ['kubeconfig-yaml', 'pkcs12'],
    runtime: ['koffi'],
    protos: true,
  },
  'secrets-store-csi-driver-provider-aws': {
    workspace: 'provider-aws',
    lazy: ['kubeconfig-yaml', 'ssm-sdk'],
    protos: true,
  },
  'secrets-store-sync-controller': {
    workspace: 'sync-controller',
    lazy: ['kubeconfig-yaml', 'pkcs12'],
    protos: true,
  },
  'secrets-store-csi-lint': { workspace: 'lint', lazy: ['pkcs12'] },
};

/** The node of the images (scripts/image-root.sh): the bundles' #! line names it. */
const IMAGE_NODE = '/usr/local/bin/node';

export async function bundle(name, out) {
  const program = PROGRAMS[name];
  if (!program) throw new Error(`no program ${name}; the programs: ${Object.keys(PROGRAMS).join(', ')}`);
  const root = path.join(out, name);
  const dist = path.join(root, 'dist');
  fs.rmSync(root, { recursive: true, force: true });
  const entryPoints = { main: path.join(repo, program.workspace, 'src', 'main.ts') };
  for (const lazy of program.lazy ?? []) entryPoints[lazy] = path.join(repo, LAZY[lazy]);
  const { metafile } = await esbuild.build({
    absWorkingDir: repo,
    entryPoints,
    outdir: dist,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    // The ES modules of packages that ship them (the AWS SDK's dist-es), which tree-shaking cuts
    // down to what is used; CommonJS is bundled whole.
    mainFields: ['module', 'main'],
    external: program.runtime ?? [],
    minify: true,
    // Function and class names as written, for stack traces and errors' names.
    keepNames: true,
    sourcemap: 'linked',
    // Positions only: the sources are in the repository.
    sourcesContent: false,
    legalComments: 'none',
    plugins: [workspaceSources()],
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(metafile.inputs);
  const tests = inputs.filter((f) => /\.test\.ts$|\/testing\//.test(f));
  if (tests.length) throw new Error(`${name}: test code in the bundle: ${tests.join(', ')}`);
  const built = inputs.filter((f) => !f.includes('node_modules/') && f.includes('/dist/'));
  if (built.length) throw new Error(`${name}: compiled workspace files in the bundle: ${built.join(', ')}`);
  const bundled = Object.values(metafile.outputs).flatMap((o) =>
    Object.entries(o.inputs)
      .filter(([, i]) => i.bytesInOutput > 0)
      .map(([f]) => f),
  );
  const missing = lazyRequires(bundled).filter((lazy) => !(program.lazy ?? []).includes(lazy));
  if (missing.length)
    throw new Error(`${name} loads ${missing.join(', ')} on first use: add to its lazy list`);

  const main = path.join(dist, 'main.js');
  const code = fs.readFileSync(main, 'utf8').replace(/^#!.*\n/, '');
  fs.writeFileSync(main, `#!${IMAGE_NODE}\n${code}`);
  fs.chmodSync(main, 0o755);
  const pkg = readJson(path.join(repo, program.workspace, 'package.json'));
  writeJson(path.join(root, 'package.json'), { name: pkg.name, version: pkg.version, private: true });
  if (program.protos) {
    for (const f of fs.readdirSync(path.join(repo, 'proto')).filter((f) => f.endsWith('.proto')))
      fs.copyFileSync(path.join(repo, 'proto', f), path.join(root, f));
  }
  const packages = new Set(bundled.map(packageDirOf).filter(Boolean));
  for (const runtime of program.runtime ?? [])
    for (const dir of copyRuntimePackage(runtime, path.join(repo, program.workspace), root))
      packages.add(dir);
  fs.writeFileSync(path.join(root, 'THIRD-PARTY-LICENSES'), licenses([...packages].sort()));
  return { metafile, root };
}

/**
 * The workspaces' own packages (@sscsi/common, secrets-store-csi-driver/validation, ...) from their
 * TypeScript sources, not from dist/: the bundle needs no tsc build, and their ES modules tree-shake.
 * A package's entry in dist/ (its main or exports) maps to the same path under src/.
 */
function workspaceSources() {
  const workspaces = new Map();
  for (const ws of readJson(path.join(repo, 'package.json')).workspaces) {
    // An image's build has only the workspaces its programs need.
    if (!fs.existsSync(path.join(repo, ws, 'package.json'))) continue;
    const pkg = readJson(path.join(repo, ws, 'package.json'));
    workspaces.set(pkg.name, { dir: path.join(repo, ws), pkg });
  }
  const escaped = [...workspaces.keys()].map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  return {
    name: 'workspace-sources',
    setup(build) {
      build.onResolve({ filter: new RegExp(`^(${escaped.join('|')})(/.*)?$`) }, (args) => {
        const [, name, sub] = /^((?:@[^/]+\/)?[^/]+)(\/.*)?$/.exec(args.path);
        const { dir, pkg } = workspaces.get(name);
        const entry = sub ? pkg.exports?.[`.${sub}`] : (pkg.exports?.['.'] ?? pkg.main);
        if (typeof entry !== 'string' || !/^(\.\/)?dist\/.*\.js$/.test(entry))
          return { errors: [{ text: `${args.path}: no dist/ entry in ${name}'s package.json` }] };
        return {
          path: path.join(dir, entry.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts')),
          sideEffects: pkg.sideEffects === false ? false : undefined,
        };
      });
    },
  };
}

/** The './<name>' paths that the workspaces' sources among `inputs` load through createRequire. */
function lazyRequires(inputs) {
  const names = new Set();
  for (const file of inputs.filter((f) => !f.includes('node_modules/') && f.endsWith('.ts'))) {
    // Without the import declarations' paths: what is left are the paths the module loads itself.
    const code = fs.readFileSync(path.join(repo, file), 'utf8').replace(/\bfrom\s+['"][^'"]+['"]/g, '');
    if (!code.includes('createRequire(')) continue;
    for (const m of code.matchAll(/['"]\.\/([\w-]+)['"]/g)) names.add(m[1]);
  }
  return [...names];
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

/** node_modules/<package> (scoped too) of a file, relative to the repository, or undefined. */
function packageDirOf(file) {
  return /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
}

/**
 * Copies the files node loads for `require(name)` from `from` (traced in a child node), each with
 * its package's package.json; returns the packages' folders, relative to the repository.
 */
function copyRuntimePackage(name, from, root) {
  const script =
    `require('node:module').createRequire(${JSON.stringify(path.join(from, 'index.js'))})(${JSON.stringify(name)});` +
    'process.stdout.write(JSON.stringify(Object.keys(require.cache)))';
  const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
  const dirs = new Set();
  for (const file of loaded) {
    const dir = packageDirOf(path.relative(repo, file));
    if (!dir) continue;
    dirs.add(dir);
    const pkgName = /node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(dir)[1];
    for (const f of [path.relative(path.join(repo, dir), file), 'package.json']) {
      const dest = path.join(root, 'node_modules', pkgName, f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(path.join(repo, dir, f), dest);
    }
  }
  return dirs;
}

/** Each package's name, version and license, and its license file as published. */
function licenses(dirs) {
  const parts = [];
  for (const dir of dirs) {
    const pkg = readJson(path.join(repo, dir, 'package.json'));
    const file = fs.readdirSync(path.join(repo, dir)).find((f) => /^(licen[cs]e|copying)/i.test(f));
    const text = file ? fs.readFileSync(path.join(repo, dir, file), 'utf8').trim() : '(no license file)';
    parts.push(`${pkg.name}@${pkg.version} (${pkg.license ?? 'license not stated'})\n\n${text}\n`);
  }
  return parts.join(`\n${'-'.repeat(80)}\n\n`);
}

async function main() {
  const [out, ...names] = process.argv.slice(2);
  if (!out) {
    process.stderr.write('usage: node scripts/bundle.mjs <out> [program ...]\n');
    process.exit(2);
  }
  for (const name of names.length ? names : Object.keys(PROGRAMS)) {
    const { metafile } = await bundle(name, path.resolve(out));
    const files = Object.entries(metafile.outputs)
      .filter(([f]) => f.endsWith('.js'))
      .map(([f, o]) => `${path.basename(f)} ${Math.round(o.bytes / 1024)} KiB`);
    process.stdout.write(`${name}: ${files.join(', ')}\n`);
  }
}

if (import.meta.main) await main();
