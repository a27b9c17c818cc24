#!/usr/bin/env node
// The addon as a generic-POSIX build (what macOS and the BSDs get), built on Linux: binding.gyp
// with generic_posix=1 compiles only the POSIX layer with every Linux shortcut turned off
// (native/posix/features.h: fcntl instead of SOCK_NONBLOCK/accept4/MSG_CMSG_CLOEXEC, getpeereid
// instead of SO_PEERCRED, no abstract sockets, no close_range/pipe2) and no Linux layer (no
// subreaper, reaper, mounts or eventfd). glibc lacks getpeereid, so it comes from libbsd
// (Debian libbsd-dev), as a BSD libc would provide it.
//
//   node scripts/build-posix.js     prints the directory to point CONTAINERD_SHIM_PREBUILD at
//
// Built in .cache/posix-build/ (the development build/ is untouched) and reused while binding.gyp,
// native/, this script and the Node version are unchanged. test/posix-build.test.ts runs the TTRPC
// suites against it.
'use strict';

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const { findNodeDir } = require('./node-headers');

const top = path.resolve(__dirname, '..');
const stage = path.join(top, '.cache', 'posix-build');
const addon = path.join(stage, 'build', 'Release', 'containerd_shim.node');
const stampFile = path.join(stage, 'stamp.json');

function listFiles(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)],
    )
    .sort();
}

function inputsHash() {
  const h = crypto.createHash('sha256');
  for (const file of [
    path.join(top, 'binding.gyp'),
    __filename,
    ...listFiles(path.join(top, 'native')),
  ]) {
    h.update(`${path.relative(top, file)}\0`).update(fs.readFileSync(file));
  }
  h.update(process.version);
  return h.digest('hex');
}

function build() {
  const hash = inputsHash();
  try {
    const stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
    if (stamp.inputs === hash && fs.existsSync(addon)) return stage;
  } catch {
    // no stamp: build
  }
  if (process.platform === 'linux' && !fs.existsSync('/usr/include/bsd/unistd.h')) {
    throw new Error('build-posix: libbsd headers are missing (apt-get install libbsd-dev)');
  }
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  fs.copyFileSync(path.join(top, 'binding.gyp'), path.join(stage, 'binding.gyp'));
  fs.cpSync(path.join(top, 'native'), path.join(stage, 'native'), { recursive: true });
  const headers = findNodeDir();
  const env = { ...process.env };
  if (headers) env.npm_config_nodedir = headers.dir;
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [top] });
  execFileSync(process.execPath, [nodeGyp, 'rebuild', '--', '-Dgeneric_posix=1'], {
    cwd: stage,
    env,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  fs.writeFileSync(stampFile, JSON.stringify({ inputs: hash, builtAt: new Date().toISOString() }));
  return stage;
}

module.exports = { build, addon };

if (require.main === module) {
  try {
    console.log(build());
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
