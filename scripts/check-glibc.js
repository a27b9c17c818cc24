#!/usr/bin/env node
// The glibc floor of the Linux prebuilds: every versioned symbol a binary imports must exist in
// glibc 2.28 (Debian 10, RHEL 8, Ubuntu 18.10; the oldest glibc Node 20's own binaries support).
//
//   node scripts/check-glibc.js [--max-glibc 2.28] [file.node ...]
//
// With no files it checks prebuilds/linux-*/*.node and the launchers. Reads `objdump -T` (the target's objdump,
// e.g. aarch64-linux-gnu-objdump, when installed) and `objdump -p`, and fails listing each
// offending symbol. Also checked: GLIBCXX/CXXABI (only present when libstdc++ is linked
// dynamically; the prebuilds link it statically), libgcc_s's GCC_ versions, the NEEDED libraries
// (only libc's family and libgcc_s may be needed) and the size (a static libstdc++ must not bloat).
// A statically linked executable (the shim launcher) needs no glibc at all: it passes if it
// really is static (no interpreter, no NEEDED) and within the size limit.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Highest version of each versioned namespace a prebuild may import. */
const FLOOR = {
  // glibc 2.28 (2018): Debian 10, RHEL/Alma/Rocky 8, Ubuntu 18.10, Amazon Linux 2023.
  GLIBC: '2.28',
  // libstdc++ of GCC 8 (the compiler of the same distributions), if it is ever linked dynamically.
  GLIBCXX: '3.4.25',
  CXXABI: '1.3.11',
  // libgcc_s: GCC 7's unwinder and helpers.
  GCC: '7.0.0',
};

const ALLOWED_NEEDED = [
  /^libc\.so\.6$/,
  /^libm\.so\.6$/,
  /^libdl\.so\.2$/,
  /^libpthread\.so\.0$/,
  /^librt\.so\.1$/,
  /^libgcc_s\.so\.1$/,
  /^libstdc\+\+\.so\.6$/,
  /^ld-linux-(x86-64|aarch64)\.so\.[12]$/,
];

const MAX_SIZE = 1024 * 1024;

const MACHINES = { 62: 'x86_64', 183: 'aarch64' };

function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, name))) return true;
  }
  return false;
}

/** The ELF machine of `file` (x86_64, aarch64, ...), or throws when it is not a 64-bit ELF. */
function elfMachine(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(20);
    fs.readSync(fd, head, 0, 20, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file}: not an ELF file`);
    if (head[4] !== 2 || head[5] !== 1) throw new Error(`${file}: not a 64-bit little-endian ELF`);
    const machine = head.readUInt16LE(18);
    return MACHINES[machine] ?? `machine ${machine}`;
  } finally {
    fs.closeSync(fd);
  }
}

function objdumpFor(machine) {
  const cross = `${machine}-linux-gnu-objdump`;
  if (onPath(cross)) return cross;
  if (onPath('objdump')) return 'objdump';
  throw new Error(
    `no objdump for ${machine} (apt-get install binutils binutils-${machine}-linux-gnu)`,
  );
}

/**
 * Checks one binary. Returns { file, machine, size, needed, max: {GLIBC: ['2.28', 'fcntl64']...},
 * problems: [string] }.
 */
function checkElf(file, floor = FLOOR) {
  const machine = elfMachine(file);
  const objdump = objdumpFor(machine);
  const headers = execFileSync(objdump, ['-p', file], { encoding: 'utf8' });
  const problems = [];
  const max = {};
  if (!/^Dynamic Section:/m.test(headers)) {
    if (/^\s*INTERP\s/m.test(headers)) problems.push('has an interpreter but no dynamic section');
    const size = fs.statSync(file).size;
    if (size > MAX_SIZE) problems.push(`${size} bytes (more than ${MAX_SIZE})`);
    return { file, machine, size, needed: [], max, problems, static: true };
  }
  const symbols = execFileSync(objdump, ['-T', file], { encoding: 'utf8' });
  for (const line of symbols.split('\n')) {
    if (!line.includes('*UND*')) continue;
    const m = /\(?\b(GLIBC|GLIBCXX|CXXABI|GCC)_([0-9][0-9.]*)\)?\s+(\S+)\s*$/.exec(line);
    if (!m) continue;
    const [, ns, version, symbol] = m;
    if (!max[ns] || compareVersions(version, max[ns][0]) > 0) max[ns] = [version, symbol];
    if (compareVersions(version, floor[ns]) > 0) {
      problems.push(`${symbol}@${ns}_${version} (newer than ${ns}_${floor[ns]})`);
    }
  }
  const needed = [...headers.matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]);
  for (const lib of needed) {
    if (!ALLOWED_NEEDED.some((re) => re.test(lib)))
      problems.push(`needs ${lib} (not part of glibc)`);
  }
  const size = fs.statSync(file).size;
  if (size > MAX_SIZE)
    problems.push(`${size} bytes (more than ${MAX_SIZE}: static libstdc++ bloat?)`);
  return { file, machine, size, needed, max, problems };
}

function describe(result) {
  if (result.static) return `${result.machine}, ${result.size} bytes, static (needs no glibc)`;
  const versions = Object.entries(result.max)
    .map(([ns, [version, symbol]]) => `${ns}_${version} (${symbol})`)
    .join(', ');
  return (
    `${result.machine}, ${result.size} bytes, highest: ${versions || 'none'}; ` +
    `NEEDED ${result.needed.join(' ') || 'none'}`
  );
}

function defaultFiles(top) {
  const dir = path.join(top, 'prebuilds');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((d) => d.startsWith('linux-'))
    .flatMap((d) =>
      fs
        .readdirSync(path.join(dir, d))
        .filter((f) => f.endsWith('.node') || f === 'containerd-shim-launcher')
        .map((f) => path.join(dir, d, f)),
    );
}

function main(argv) {
  const floor = { ...FLOOR };
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--max-glibc') floor.GLIBC = argv[++i];
    else files.push(argv[i]);
  }
  const top = path.resolve(__dirname, '..');
  if (files.length === 0) files.push(...defaultFiles(top));
  if (files.length === 0) {
    console.error('check-glibc: no prebuilds/linux-*/*.node to check (run npm run prebuilds)');
    return 1;
  }
  let failed = 0;
  for (const file of files) {
    const name = path.relative(process.cwd(), file);
    const result = checkElf(file, floor);
    if (result.problems.length === 0) {
      console.log(`check-glibc: ${name}: ok, ${describe(result)}`);
    } else {
      failed++;
      console.error(
        `check-glibc: ${name}: FAILS the glibc ${floor.GLIBC} floor: ${describe(result)}`,
      );
      for (const p of result.problems) console.error(`  ${p}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

module.exports = { FLOOR, checkElf, compareVersions, describe };

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`check-glibc: ${err.message}`);
    process.exitCode = 1;
  }
}
