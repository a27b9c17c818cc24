// Which Node headers node-gyp compiles the addon against: those of the Node running the build.
//
//   1. $npm_config_nodedir (or --nodedir), when the user chose a directory;
//   2. the running Node's own prefix: <prefix>/include/node of `process.execPath` (bin/node), as
//      in a Node tarball, the node-<os>-<arch> npm packages, nvm, Homebrew or Debian's nodejs,
//      provided its node_version.h is this Node's version;
//   3. otherwise nothing: node-gyp's defaults (headers downloaded for this version into its cache).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** "22.23.5" from <dir>/include/node/node_version.h, or undefined. */
function headerVersion(dir) {
  let text;
  try {
    text = fs.readFileSync(path.join(dir, 'include', 'node', 'node_version.h'), 'utf8');
  } catch {
    return undefined;
  }
  const part = (name) => new RegExp(`#define ${name} (\\d+)`).exec(text)?.[1];
  const [major, minor, patch] = [
    'NODE_MAJOR_VERSION',
    'NODE_MINOR_VERSION',
    'NODE_PATCH_VERSION',
  ].map(part);
  return major && minor && patch ? `${major}.${minor}.${patch}` : undefined;
}

/** Prefixes the running Node may live in: bin/node as invoked, and with symlinks resolved. */
function prefixes() {
  const found = [path.resolve(path.dirname(process.execPath), '..')];
  try {
    const real = path.resolve(path.dirname(fs.realpathSync(process.execPath)), '..');
    if (!found.includes(real)) found.push(real);
  } catch {
    // keep the invoked path only
  }
  return found;
}

/**
 * { dir, reason } for node-gyp's nodedir, or undefined to let node-gyp use its defaults.
 * `env` defaults to process.env.
 */
function findNodeDir(env = process.env) {
  const version = process.versions.node;
  if (env.npm_config_nodedir) {
    const theirs = headerVersion(env.npm_config_nodedir);
    const note = theirs === version ? '' : `; headers of node ${theirs ?? '?'}, not ${version}`;
    return { dir: env.npm_config_nodedir, reason: `npm_config_nodedir${note}` };
  }
  for (const prefix of prefixes()) {
    if (headerVersion(prefix) === version)
      return { dir: prefix, reason: `headers of node ${version} in its prefix` };
  }
  return undefined;
}

module.exports = { findNodeDir, headerVersion };
