#!/usr/bin/env node
// npm run prebuilds: the addon binaries the npm package ships, cross-built on Debian x64.
//
//   prebuilds/linux-x64/containerd-shim.glibc.node    prebuildify + g++, glibc >= 2.28
//   prebuilds/linux-x64/containerd-shim-launcher      the shim launcher (binding.gyp's second
//                                                     target), static: needs no glibc at all
//   prebuilds/linux-arm64/containerd-shim.glibc.node  prebuildify + g++-aarch64-linux-gnu
//   prebuilds/linux-arm64/containerd-shim-launcher
//   prebuilds/win32-x64/containerd-shim.node          mingw-w64 g++ (posix threads), linked
//                                                     against node.exe's N-API exports
//
// The names are the ones node-gyp-build looks up for package "containerd-shim" (see
// prebuilds/README.md). Each target is built in its own staging copy under .cache/prebuild/
// (prebuildify runs `node-gyp rebuild`, which would otherwise wipe the development build/), checked
// (glibc floor, PE imports), and only then copied into prebuilds/. A target whose inputs (native/,
// binding.gyp, this script, compiler and header versions) did not change is not rebuilt.
//
//   node scripts/prebuild.js [--force] [--skip-missing] [--target linux-x64,win32-x64]
//   node scripts/prebuild.js --verify     every target present and built from the current sources
//
// --skip-missing (used by `npm test`): a target whose cross toolchain is not installed is skipped
// with a message instead of failing; ignored under CI=true, where everything must build.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { setTimeout, clearTimeout } = require('node:timers');

const { checkElf, describe } = require('./check-glibc');
const { findNodeDir } = require('./node-headers');

const top = path.resolve(__dirname, '..');
const NAME = require(path.join(top, 'package.json')).name;
const STAGE = path.join(top, '.cache', 'prebuild');
const BUILD_TIMEOUT_MS = 10 * 60 * 1000;
const LAUNCHER = 'containerd-shim-launcher';

const LINUX_LDFLAGS = [
  // No libstdc++.so dependency (and so no GLIBCXX floor); libgcc_s stays shared, as libgcc_eh
  // from GCC 12 would import _dl_find_object (glibc 2.35).
  '-static-libstdc++',
  // Keep libstdc++'s symbols out of the dynamic table (no interposition with Node's own C++).
  '-Wl,--exclude-libs,ALL',
  // Drops unreferenced libstdc++ members (random_device: getentropy 2.25, arc4random 2.36).
  '-Wl,--gc-sections',
  // See scripts/prebuild-glibc-compat.c.
  '-Wl,--wrap=pthread_sigmask',
  '-Wl,--wrap=__libc_single_threaded',
];

const TARGETS = {
  'linux-x64': {
    platform: 'linux',
    arch: 'x64',
    triple: 'x86_64-linux-gnu',
    file: `${NAME}.glibc.node`,
    launcher: LAUNCHER,
    apt: ['g++', 'binutils'],
  },
  'linux-arm64': {
    platform: 'linux',
    arch: 'arm64',
    triple: 'aarch64-linux-gnu',
    file: `${NAME}.glibc.node`,
    launcher: LAUNCHER,
    apt: ['g++-aarch64-linux-gnu', 'binutils-aarch64-linux-gnu'],
  },
  'win32-x64': {
    platform: 'win32',
    arch: 'x64',
    triple: 'x86_64-w64-mingw32',
    file: `${NAME}.node`,
    apt: ['g++-mingw-w64-x86-64-posix', 'binutils-mingw-w64-x86-64'],
  },
};

// DLLs every Windows 10+ machine has; anything else (libstdc++-6.dll, libwinpthread-1.dll) would
// not be there next to node.exe. advapi32: the named pipes' security descriptors.
const WIN_ALLOWED_IMPORTS = ['node.exe', 'kernel32.dll', 'msvcrt.dll', 'advapi32.dll'];

function tools(target) {
  const t = TARGETS[target];
  if (t.platform === 'win32') {
    return {
      cxx: `${t.triple}-g++-posix`,
      dlltool: `${t.triple}-dlltool`,
      objdump: `${t.triple}-objdump`,
    };
  }
  return {
    cc: `${t.triple}-gcc`,
    cxx: `${t.triple}-g++`,
    strip: `${t.triple}-strip`,
    objdump: `${t.triple}-objdump`,
  };
}

function which(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

function missingTools(target) {
  return Object.values(tools(target)).filter((tool) => which(tool) === undefined);
}

/** Node's headers for node-gyp, without a download (scripts/node-headers.js). */
function nodeDir() {
  const found = findNodeDir();
  if (found) return found.dir;
  throw new Error(
    `no headers of node ${process.version} next to ${process.execPath} (include/node); set npm_config_nodedir`,
  );
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function listFiles(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)],
    )
    .sort();
}

function firstLine(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(
      '\n',
    )[0];
  } catch {
    return undefined;
  }
}

function packageVersion(name) {
  return require(require.resolve(`${name}/package.json`, { paths: [top] })).version;
}

/**
 * What goes into one target's binary: `sources`, a hash of the files and header packages, and
 * `toolchain`, the compiler (and Node headers) in use, undefined when that compiler is not
 * installed here (a binary is then judged by its sources alone).
 */
function inputs(target) {
  const h = crypto.createHash('sha256');
  const add = (label, data) => h.update(`${label}\0${data}\0`);
  const sources = [
    path.join(top, 'binding.gyp'),
    path.join(__dirname, 'prebuild.js'),
    path.join(__dirname, 'check-glibc.js'),
    path.join(__dirname, 'prebuild-glibc-compat.c'),
    ...listFiles(path.join(top, 'native')),
  ];
  for (const file of sources) add(path.relative(top, file), fs.readFileSync(file));
  add('target', target);
  add('node-addon-api', packageVersion('node-addon-api'));
  if (TARGETS[target].platform === 'win32') {
    add('node-api-headers', packageVersion('node-api-headers'));
  }
  const cxx = firstLine(tools(target).cxx, ['--version']);
  const headers =
    TARGETS[target].platform === 'win32' ? '' : `, node ${process.versions.node} headers`;
  return { sources: h.digest('hex'), toolchain: cxx && `${cxx}${headers}` };
}

function outputPath(target) {
  return path.join(top, 'prebuilds', target, TARGETS[target].file);
}

/** Every file a target ships: the addon and, on Linux, the launcher. */
function outputPaths(target) {
  const t = TARGETS[target];
  return [t.file, ...(t.launcher ? [t.launcher] : [])].map((f) =>
    path.join(top, 'prebuilds', target, f),
  );
}

function stampPath(target) {
  return path.join(STAGE, `${target}.stamp.json`);
}

/** { fresh: boolean, reason: string } for the binary now in prebuilds/. */
function status(target, current = inputs(target)) {
  const outs = outputPaths(target);
  const rel = path.relative(top, outs[0]);
  for (const out of outs) {
    if (!fs.existsSync(out))
      return { fresh: false, reason: `${path.relative(top, out)} is missing` };
  }
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampPath(target), 'utf8'));
  } catch {
    return { fresh: false, reason: `no build record for ${rel}` };
  }
  const hashes = outs.map((out) => sha256(fs.readFileSync(out)));
  if (JSON.stringify(stamp.outputs) !== JSON.stringify(hashes)) {
    return { fresh: false, reason: `${rel} was not produced by this script` };
  }
  if (stamp.sources !== current.sources) {
    return {
      fresh: false,
      reason: `native sources changed since ${rel} was built (${stamp.builtAt})`,
    };
  }
  if (current.toolchain !== undefined && stamp.toolchain !== current.toolchain) {
    return {
      fresh: false,
      reason: `toolchain changed since ${rel} was built: was ${stamp.toolchain}, now ${current.toolchain}`,
    };
  }
  const by =
    current.toolchain === undefined ? `${stamp.toolchain}, not installed here` : stamp.toolchain;
  return { fresh: true, reason: `built ${stamp.builtAt} with ${by}` };
}

/** Runs a command with output to `log`; kills its process group at the timeout. */
function run(cmd, args, { cwd, env, log }) {
  return new Promise((resolve, reject) => {
    fs.appendFileSync(log, `$ ${cmd} ${args.join(' ')}\n`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', fd, fd], detached: true });
    fs.closeSync(fd);
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL'); // our own child's process group, by its id
      } catch {
        // already gone
      }
    }, BUILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(cmd)} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * A fresh copy of the addon sources in .cache/prebuild/<target>.<pid>/ (prebuildify's
 * `node-gyp rebuild` wipes build/ where it runs; the pid keeps concurrent runs apart). A failed
 * build's copy stays for inspection until a later run finds its process gone.
 */
function stage(target) {
  fs.mkdirSync(STAGE, { recursive: true });
  for (const name of fs.readdirSync(STAGE)) {
    const m = /^(.+)\.(\d+)$/.exec(name);
    if (m && m[1] === target && !alive(Number(m[2]))) {
      fs.rmSync(path.join(STAGE, name), { recursive: true, force: true });
    }
  }
  const dir = path.join(STAGE, `${target}.${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(top, 'binding.gyp'), path.join(dir, 'binding.gyp'));
  fs.cpSync(path.join(top, 'native'), path.join(dir, 'native'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: NAME, private: true }));
  return dir;
}

/** Writes through a temporary file and a rename, so readers never see half a file. */
function writeAtomic(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

async function buildLinux(target, dir, log) {
  const t = TARGETS[target];
  const tl = tools(target);
  const env = {
    ...process.env,
    CC: tl.cc,
    CXX: tl.cxx,
    LINK: tl.cxx,
    npm_config_nodedir: nodeDir(),
  };
  delete env.CFLAGS;
  delete env.CXXFLAGS;

  const compat = path.join(dir, 'glibc-compat.o');
  await run(
    tl.cc,
    ['-c', '-fPIC', '-O2', '-o', compat, path.join(__dirname, 'prebuild-glibc-compat.c')],
    { cwd: dir, env, log },
  );
  const exportsMap = path.join(dir, 'exports.map');
  // The module's two entry points are all a Node-API addon exports.
  fs.writeFileSync(
    exportsMap,
    '{ global: napi_register_module_v1; node_api_module_get_api_version_v1; local: *; };\n',
  );
  env.LDFLAGS = [...LINUX_LDFLAGS, `-Wl,--version-script=${exportsMap}`, compat].join(' ');
  env.PREBUILD_NODE_GYP = require.resolve('node-gyp/bin/node-gyp.js', { paths: [top] });

  const prebuildify = require.resolve('prebuildify/bin.js', { paths: [top] });
  // prettier-ignore
  const args = [
    prebuildify, '--napi', '--strip', '--tag-libc',
    '--target', process.versions.node, // N-API: any version works; the installed headers are this one's
    '--arch', t.arch, '--strip-bin', tl.strip,
    '--cache', path.join(dir, 'devdir'), '--out', dir,
  ];
  await run(process.execPath, args, { cwd: dir, env, log });
  const built = path.join(dir, 'prebuilds', target, t.file);
  // node-gyp built the launcher next to the addon (binding.gyp links it statically).
  const launcher = path.join(dir, 'prebuilds', target, t.launcher);
  await run(tl.strip, ['-o', launcher, path.join(dir, 'build', 'Release', t.launcher)], {
    cwd: dir,
    env,
    log,
  });
  const summaries = [];
  for (const file of [built, launcher]) {
    const result = checkElf(file);
    if (result.problems.length > 0) {
      throw new Error(
        `${path.basename(file)} fails the glibc floor: ${describe(result)}\n  ${result.problems.join('\n  ')}`,
      );
    }
    summaries.push(`${path.basename(file)}: ${describe(result)}`);
  }
  return { files: [built, launcher], summary: summaries.join('; ') };
}

/** binding.gyp's sources, defines, C++ flags and libraries for OS=='win' (gyp files are JSON plus comments). */
function gypForWindows() {
  const text = fs.readFileSync(path.join(top, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '');
  const gyp = JSON.parse(text.replace(/,(\s*[}\]])/g, '$1'));
  const target = gyp.targets[0];
  const pick = (key) => [
    ...(target[key] ?? []),
    ...(target.conditions ?? [])
      .filter(([cond]) => /^\s*OS\s*==\s*['"]win['"]\s*$/.test(cond))
      .flatMap(([, settings]) => settings[key] ?? []),
  ];
  return {
    sources: pick('sources'),
    defines: pick('defines'),
    cflags: pick('cflags_cc'),
    libraries: pick('libraries'),
  };
}

async function buildWindows(target, dir, log) {
  const t = TARGETS[target];
  const tl = tools(target);
  const headers = require(require.resolve('node-api-headers', { paths: [top] }));
  // node-addon-api's include_dir is relative to the working directory: use its folder.
  const addonApi = path.dirname(require.resolve('node-addon-api/package.json', { paths: [top] }));
  const env = { ...process.env };

  // Import library for the N-API functions node.exe exports (node-gyp would use node.lib).
  const lib = path.join(dir, 'libnode.a');
  await run(tl.dlltool, ['-d', headers.def_paths.node_api_def, '-l', lib, '-D', 'node.exe'], {
    cwd: dir,
    env,
    log,
  });
  const gyp = gypForWindows();
  const out = path.join(dir, 'prebuilds', target, t.file);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // prettier-ignore
  const args = [
    '-shared', ...gyp.cflags, ...gyp.defines.map((d) => `-D${d}`),
    // What node-gyp's MSVC builds define (node's common.gypi, addon.gypi).
    '-DWIN32', '-D_CRT_SECURE_NO_DEPRECATE', '-D_CRT_NONSTDC_NO_DEPRECATE', '-DBUILDING_NODE_EXTENSION',
    '-I', headers.include_dir, '-I', addonApi,
    ...gyp.sources.map((s) => path.join(dir, s)),
    '-o', out, lib, ...gyp.libraries,
    // No libstdc++-6.dll / libgcc_s / libwinpthread-1.dll next to node.exe: link them in.
    '-static', '-static-libgcc', '-static-libstdc++',
    '-Wl,--no-undefined', '-s',
  ];
  await run(tl.cxx, args, { cwd: dir, env, log });

  const pe = execFileSync(tl.objdump, ['-p', out], { encoding: 'utf8' });
  const imports = [...pe.matchAll(/DLL Name:\s*(\S+)/g)].map((m) => m[1]);
  const extra = imports.filter((dll) => !WIN_ALLOWED_IMPORTS.includes(dll.toLowerCase()));
  if (extra.length > 0)
    throw new Error(`imports DLLs a Windows machine lacks: ${extra.join(', ')}`);
  if (!/\bnapi_register_module_v1\b/.test(pe))
    throw new Error('does not export napi_register_module_v1');
  const size = fs.statSync(out).size;
  return { files: [out], summary: `PE32+ x86-64, ${size} bytes, imports ${imports.join(' ')}` };
}

async function buildTarget(target, force) {
  const current = inputs(target);
  const before = status(target, current);
  const rel = path.relative(top, outputPath(target));
  if (before.fresh && !force) {
    return `${rel}: up to date (${fs.statSync(outputPath(target)).size} bytes, ${before.reason})`;
  }
  const started = Date.now();
  const dir = stage(target);
  const log = path.join(dir, 'build.log');
  fs.writeFileSync(log, '');
  let built;
  try {
    built =
      TARGETS[target].platform === 'win32'
        ? await buildWindows(target, dir, log)
        : await buildLinux(target, dir, log);
  } catch (err) {
    const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
    throw new Error(
      `${target}: ${err.message}\n--- last lines of ${path.relative(top, log)} ---\n${tail}`,
      { cause: err },
    );
  }
  const outputs = [];
  for (const [i, out] of outputPaths(target).entries()) {
    const binary = fs.readFileSync(built.files[i]);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    writeAtomic(out, binary);
    fs.chmodSync(out, 0o755);
    outputs.push(sha256(binary));
  }
  writeAtomic(
    stampPath(target),
    JSON.stringify({
      sources: current.sources,
      toolchain: current.toolchain,
      outputs,
      builtAt: new Date().toISOString(),
    }),
  );
  fs.rmSync(dir, { recursive: true, force: true });
  return `${rel}: built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${built.summary}`;
}

function parseArgs(argv) {
  const opts = { force: false, verify: false, skipMissing: false, targets: Object.keys(TARGETS) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') opts.force = true;
    else if (a === '--verify') opts.verify = true;
    else if (a === '--skip-missing') opts.skipMissing = true;
    else if (a === '--target' || a.startsWith('--target=')) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      opts.targets = (value ?? '').split(',').filter(Boolean);
      const unknown = opts.targets.filter((t) => !(t in TARGETS));
      if (unknown.length > 0 || opts.targets.length === 0) {
        throw new Error(
          `unknown target ${unknown.join(', ')} (known: ${Object.keys(TARGETS).join(', ')})`,
        );
      }
    } else throw new Error(`unknown argument ${a}`);
  }
  if (process.env.CI === 'true') opts.skipMissing = false;
  return opts;
}

function verify(targets) {
  let failed = 0;
  for (const target of targets) {
    const s = status(target);
    const rel = path.relative(top, outputPath(target));
    if (s.fresh) {
      const size = fs.statSync(outputPath(target)).size;
      if (TARGETS[target].platform === 'linux') {
        let problems;
        try {
          problems = outputPaths(target).flatMap((file) =>
            checkElf(file).problems.map((p) => `${path.basename(file)}: ${p}`),
          );
        } catch (err) {
          problems = [err.message];
        }
        if (problems.length > 0) {
          failed++;
          console.error(`prebuild: ${rel}: fails the glibc floor check: ${problems.join(', ')}`);
          continue;
        }
      }
      console.log(`prebuild: ${rel}: ok (${size} bytes, ${s.reason})`);
    } else {
      failed++;
      console.error(`prebuild: ${rel}: ${s.reason}; run \`npm run prebuilds\``);
    }
  }
  if (!fs.existsSync(path.join(top, 'dist', 'lib', 'index.js'))) {
    failed++;
    console.error('prebuild: dist/lib/index.js is missing; run `npm run build`');
  }
  return failed === 0 ? 0 : 1;
}

async function main(argv) {
  const opts = parseArgs(argv);
  if (opts.verify) return verify(opts.targets);

  const runnable = [];
  let failed = 0;
  for (const target of opts.targets) {
    const missing = missingTools(target);
    if (missing.length === 0) {
      runnable.push(target);
      continue;
    }
    const hint = `apt-get install ${TARGETS[target].apt.join(' ')}, or bash scripts/ci-setup.sh`;
    if (opts.skipMissing) {
      console.error(`prebuild: ${target}: skipped: missing ${missing.join(', ')} (${hint})`);
    } else {
      failed++;
      console.error(`prebuild: ${target}: missing ${missing.join(', ')} (${hint})`);
    }
  }
  if (failed > 0) return 1;
  // The targets build in parallel (one compiler process each).
  const results = await Promise.allSettled(runnable.map((t) => buildTarget(t, opts.force)));
  for (const r of results) {
    if (r.status === 'fulfilled') console.log(`prebuild: ${r.value}`);
    else {
      failed++;
      console.error(`prebuild: ${r.reason.message}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

module.exports = { TARGETS, status, inputs };

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(`prebuild: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
