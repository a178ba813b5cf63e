// No program's build holds a test or a testing/ module: the files each workspace's tsconfig.json
// compiles (what `tsc -b` writes to dist/, and what the Dockerfiles compile into the images) are
// asked of TypeScript itself, with the names of the files they become.
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../../..');
const isTestCode = (file: string) => /\.test\.[jt]s$|[\\/]testing[\\/]/.test(file);

/** The sources a workspace's build compiles and the files it writes for them. */
function build(workspace: string): { sources: string[]; outputs: string[] } {
  const configFile = path.join(ROOT, workspace, 'tsconfig.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(configFile, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (!parsed) throw new Error(`cannot read ${configFile}`);
  const sources = parsed.fileNames.map((f) => path.relative(ROOT, f));
  const outputs = parsed.fileNames.flatMap((f) =>
    ts.getOutputFileNames(parsed, f, !ts.sys.useCaseSensitiveFileNames).map((o) => path.relative(ROOT, o)),
  );
  return { sources, outputs };
}

describe.each(['driver', 'provider-aws', 'sync-controller', 'common', 'proto', 'lint'])(
  'the build of %s',
  (workspace) => {
    const { sources, outputs } = build(workspace);

    it('compiles its program and no test nor anything under testing/', () => {
      expect(sources.length).toBeGreaterThan(0);
      expect(sources.filter(isTestCode)).toEqual([]);
      expect(outputs.filter((o) => o.startsWith(path.join(workspace, 'dist') + path.sep))).toHaveLength(
        outputs.length,
      );
      expect(outputs.filter(isTestCode)).toEqual([]);
    });
  },
);

// Folders whose code a program runs and whose tests sit beside it: each must reach the build without
// its tests (the Event recorder and the provider client came to common with tests of their own).
describe.each(['common/src/kube', 'common/src/events', 'common/src/provider', 'driver/src/csi'])(
  'the folder %s',
  (folder) => {
    const workspace = folder.split('/')[0] ?? '';
    const { sources } = build(workspace);
    const files = ts.sys.readDirectory(path.join(ROOT, folder), ['.ts']).map((f) => path.relative(ROOT, f));

    it('is compiled, its tests are not', () => {
      const code = files.filter((f) => !isTestCode(f));
      const tests = files.filter(isTestCode);
      expect(code.length).toBeGreaterThan(0);
      expect(tests.length).toBeGreaterThan(0);
      expect(sources).toEqual(expect.arrayContaining(code));
      expect(sources.filter((f) => tests.includes(f))).toEqual([]);
    });
  },
);

it('leaves out test code that exists: the check above has something to find', () => {
  const all = (workspace: string) =>
    ts.sys.readDirectory(path.join(ROOT, workspace, 'src'), ['.ts']).map((f) => path.relative(ROOT, f));
  for (const workspace of ['driver', 'provider-aws', 'sync-controller', 'common']) {
    expect(all(workspace).filter((f) => f.includes(`${path.sep}testing${path.sep}`)).length).toBeGreaterThan(
      0,
    );
    expect(all(workspace).filter(isTestCode).length).toBeGreaterThan(0);
  }
  expect(build('driver').outputs).toContain(path.join('driver', 'dist', 'main.js'));
  expect(build('provider-aws').outputs).toContain(path.join('provider-aws', 'dist', 'main.js'));
  expect(build('sync-controller').outputs).toContain(path.join('sync-controller', 'dist', 'main.js'));
});
