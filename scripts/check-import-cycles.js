#!/usr/bin/env node
// Fails when the modules of a workspace import each other in a circle, type-only imports included:
// a circle means two modules that cannot be read, tested or moved one without the other. Imports
// between workspaces cannot circle (tsc -b refuses circular project references), so each
// workspace's relative imports are enough. Uses TypeScript's own scanner and resolver: no build.
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const { workspaces } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** The workspace's source files (its tsconfig's), each with the files it imports. */
function graphOf(workspace) {
  const configPath = path.join(root, workspace, 'tsconfig.json');
  const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, path.dirname(configPath));
  const files = new Set(parsed.fileNames.map((f) => path.resolve(f)));
  const graph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, false);
    const imported = new Set();
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const { resolvedModule } = ts.resolveModuleName(fileName, file, parsed.options, ts.sys);
      const target = resolvedModule && path.resolve(resolvedModule.resolvedFileName);
      if (target && files.has(target)) imported.add(target);
    }
    graph.set(file, imported);
  }
  return graph;
}

/** Strongly connected components of more than one module, or of one importing itself (Tarjan). */
function circlesOf(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const circles = [];
  let next = 0;
  const visit = (file) => {
    index.set(file, next);
    low.set(file, next++);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file)) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file), low.get(target)));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file), index.get(target)));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || graph.get(file).has(file)) circles.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return circles;
}

let found = 0;
for (const workspace of workspaces) {
  if (!fs.existsSync(path.join(root, workspace, 'tsconfig.json'))) continue;
  for (const circle of circlesOf(graphOf(workspace))) {
    found++;
    console.error(`import circle in ${workspace}: ${circle.map((f) => path.relative(root, f)).join(', ')}`);
  }
}
if (found > 0) process.exit(1);
