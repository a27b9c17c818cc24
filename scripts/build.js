#!/usr/bin/env node
// npm run build: the addon and the shim launcher (node-gyp, incremental), the TypeScript, the
// generated protobuf JavaScript copied next to its compiled TypeScript importers in dist/, and
// (Linux) the examples' runtime binaries, written by `containerd-shim package`. The addon is
// compiled against the headers of the Node running this script (scripts/node-headers.js);
// switching Node reconfigures build/.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { findNodeDir } = require('./node-headers');

const top = path.resolve(__dirname, '..');
const headers = findNodeDir();
const env = { ...process.env };
if (headers) env.npm_config_nodedir = headers.dir;
const run = (cmd, args) => {
  try {
    execFileSync(cmd, args, { cwd: top, stdio: 'inherit', env });
  } catch (err) {
    console.error(`build: ${path.basename(args[0] || cmd)} failed (exit ${err.status})`);
    process.exit(1);
  }
};
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');

if (!process.argv.includes('--ts-only')) {
  // What build/ was configured for: this Node and these headers, or configure again.
  const stampFile = path.join(top, 'build', 'node-headers.json');
  const stamp = JSON.stringify({
    node: process.execPath,
    version: process.version,
    nodedir: headers ? headers.dir : null,
  });
  const configured =
    (fs.existsSync(path.join(top, 'build', 'Makefile')) ||
      fs.existsSync(path.join(top, 'build', 'binding.sln'))) &&
    fs.existsSync(stampFile) &&
    fs.readFileSync(stampFile, 'utf8') === stamp;
  if (!configured) {
    console.log(
      `build: node ${process.version} (${process.execPath}), headers: ` +
        (headers ? `${headers.dir} (${headers.reason})` : "node-gyp's default (its header cache)"),
    );
    run(process.execPath, [nodeGyp, 'configure']);
    fs.writeFileSync(stampFile, stamp);
  }
  run(process.execPath, [nodeGyp, 'build']);
}

// A fresh dist/: files of sources that were moved or deleted must not linger (and ship).
fs.rmSync(path.join(top, 'dist'), { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc');
run(process.execPath, [tsc, '-p', 'tsconfig.json']);
// tsconfig.json emits JavaScript without comments: V8 keeps the source text of every loaded module
// for the life of the process (a shim daemon: −0.1 MiB private). The declarations keep their doc
// comments: a second pass writes them again with comments.
run(process.execPath, [
  tsc,
  '-p',
  'tsconfig.json',
  '--emitDeclarationOnly',
  '--removeComments',
  'false',
]);

const from = path.join(top, 'lib', 'generated');
const to = path.join(top, 'dist', 'lib', 'generated');
// Message classes live one per file in <bundle>-types/ subdirectories (see scripts/proto-gen.js).
for (const name of fs.readdirSync(from, { recursive: true })) {
  if (!name.endsWith('.js') && !name.endsWith('.d.ts')) continue;
  fs.mkdirSync(path.dirname(path.join(to, name)), { recursive: true });
  fs.copyFileSync(path.join(from, name), path.join(to, name));
}

// What a shim loads, whitespace-minified (scripts/minify.js): V8 keeps each loaded module's source.
require('./minify').minifyDirs([path.join(top, 'dist', 'lib'), path.join(top, 'dist', 'examples')]);

// The binaries containerd executes for the examples: the launcher with the entry script recorded
// relative to it (the checkout can move).
if (process.platform === 'linux') {
  const { packageShim } = require(path.join(top, 'dist', 'lib', 'shim', 'package.js'));
  const examples = [
    ['runc-shim', 'containerd-shim-runcts-v2'],
    ['skeleton', 'containerd-shim-skeleton-v1'],
  ];
  for (const [dir, binary] of examples) {
    try {
      packageShim({
        entry: path.join(top, 'dist', 'examples', dir, 'main.js'),
        output: path.join(top, 'examples', dir, binary),
        relative: true,
      });
    } catch (err) {
      console.error(`build: examples/${dir}/${binary}: ${err.message}`);
      process.exit(1);
    }
  }
}
