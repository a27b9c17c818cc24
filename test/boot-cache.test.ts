// A standby's boot cache (lib/shim/warm/boot-cache.ts): V8 code caches and module resolutions
// kept in the pool directory. Each case boots a fresh node on a small module tree through the
// cache, as a standby would, and checks what it loaded: a cache never serves a module that
// changed on disk or a resolution that would now differ, and a cache that is not ours, not
// intact or not for this node is ignored (and replaced). Then end to end: standbys of a
// packaged shim write it, use it, and boot the changed module after an upgrade.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { linux } from '../lib/native';
import { nodeModulePaths } from '../lib/shim/warm/boot-cache';
import type { BootCacheStats } from '../lib/shim/warm/boot-cache';
import { requireLinux } from './helpers/env';
import {
  killStandbys,
  onePoolEnv,
  packageProbeShim,
  prewarm,
  standbyPids,
  traceLines,
  waitSettled,
} from './helpers/warm';

const top = path.resolve(__dirname, '..', '..');
const bootCache = path.join(top, 'dist', 'lib', 'shim', 'warm', 'boot-cache.js');
const daemonRuntime = path.join(top, 'dist', 'lib', 'shim', 'daemon-runtime.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Boot {
  stats: BootCacheStats;
  value: string;
  stack: string;
  restored: boolean;
  /** mode 'serve': what writeServingCache answered after the module's functions ran. */
  served?: number | string;
  /** Modules with a Latin-1 and a non-Latin-1 source. */
  extra: string;
  /** A function of thrower.js first called at the very end (compiled then, from its source). */
  late: string;
  /** The lines of /proc/self/maps naming the pool at the end. */
  maps: string[];
}

/** A cache file's header (boot-cache.ts's layout: magic, checksum, length, JSON, code caches, sources). */
interface CacheHeader {
  files: Array<[string, string, string | null, number, number?]>;
  dirs: unknown[];
  map: unknown[];
  serving?: boolean;
}
function cacheHeader(file: string): CacheHeader {
  const data = fs.readFileSync(file);
  const length = data.readUInt32LE(24);
  return JSON.parse(data.toString('utf8', 28, 28 + length)) as CacheHeader;
}

describe('boot cache (a standby booting from the previous boot)', function () {
  this.timeout(120_000);
  let dir: string;
  let pool: string;
  let app: string;
  let driver: string;

  before(function () {
    requireLinux(this, 'run on Linux');
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boot-cache-'));
    // A package scope: above it nothing is recorded (an unrelated /tmp changes all the time).
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "boot-cache-test" }\n');
    pool = path.join(dir, 'pool');
    fs.mkdirSync(pool, { mode: 0o700 });
    app = path.join(dir, 'app');
    const files: Record<string, string> = {
      'package.json': '{ "name": "app" }\n',
      'main.js': `'use strict';
module.exports = [require('./a'), require('./sub'), require('dep'), require('dep/extra')].join(' ');
`,
      'a.js': "module.exports = 'A1';\n",
      'sub/index.js': "module.exports = 'S' + require('dep2');\n",
      'node_modules/dep2/index.js': "module.exports = '2';\n",
      'thrower.js':
        "exports.make = () => new Error('here');\n" +
        'exports.serve = function serve() {\n' +
        '  const parts = [];\n' +
        '  function add(n) { for (let i = 0; i < n; i++) parts.push({ i, s: String(i).padStart(4) }); }\n' +
        '  add(10);\n' +
        '  return parts.map((p) => p.s).join(",");\n' +
        '};\n' +
        "exports.late = function late() { function inner(n) { return 'L' + n; } return inner(7); };\n",
      'l1.js': "module.exports = '\u00e9A';\n",
      'u.js': "module.exports = '\u2603';\n",
      'node_modules/dep/package.json': '{ "name": "dep", "main": "lib.js" }\n',
      'node_modules/dep/lib.js': "module.exports = 'D1';\n",
      'node_modules/dep/other.js': "module.exports = 'D2';\n",
      'node_modules/dep/extra.js': "module.exports = 'E';\n",
    };
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(app, name)), { recursive: true });
      fs.writeFileSync(path.join(app, name), text);
    }
    driver = path.join(dir, 'driver.js');
    fs.writeFileSync(
      driver,
      `'use strict';
const Module = module.constructor;
const before = [Module._resolveFilename, Module._nodeModulePaths, Module._extensions['.js'], Module.prototype._compile];
const cache = require(${JSON.stringify(bootCache)});
cache.openBootCache(process.argv[2], process.argv[3] === 'read-only');
const value = require(${JSON.stringify(path.join(app, 'main.js'))});
const stack = require(${JSON.stringify(path.join(app, 'thrower.js'))}).make().stack.split('\\n')[1];
const extra = require(${JSON.stringify(path.join(app, 'l1.js'))}) + require(${JSON.stringify(path.join(app, 'u.js'))});
const stats = cache.closeBootCache();
const after = [Module._resolveFilename, Module._nodeModulePaths, Module._extensions['.js'], Module.prototype._compile];
const restored = before.every((f, i) => f === after[i]);
let served;
if (process.argv[3] === 'serve') {
  // A daemon: the serving path runs (functions V8 compiles on their first call), with the
  // daemon's V8 flags, then the cache is re-made from the modules' wrappers.
  const runtime = require(${JSON.stringify(daemonRuntime)});
  runtime.servingV8Flags();
  require(${JSON.stringify(path.join(app, 'thrower.js'))}).serve();
  const swap = process.env.SWAP_CACHE;
  if (swap === 'rm') require('fs').rmSync(require('path').join(process.argv[2], 'boot-cache'));
  else if (swap) {
    // As a writer replaces it (never in place: a process maps the sources of the file it read).
    const target = require('path').join(process.argv[2], 'boot-cache');
    require('fs').copyFileSync(swap, target + '.swap');
    require('fs').renameSync(target + '.swap', target);
  }
  served = cache.writeServingCache(process.env.NO_SET_FLAGS ? undefined : runtime.setV8Flags);
}
const late = require(${JSON.stringify(path.join(app, 'thrower.js'))}).late();
const maps = require('fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes(process.argv[2]));
process.stdout.write(JSON.stringify({ stats, value, stack, restored, served, extra, late, maps }));
`,
    );
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function boot(args: string[] = [], mode = ''): Boot {
    const r = spawnSync(process.execPath, [...args, driver, pool, mode], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Boot;
  }

  const cacheFile = (): string => path.join(pool, 'boot-cache');

  /** A first boot writes the cache; the second takes every module and resolution from it. */
  function primed(): Boot {
    const first = boot();
    assert.equal(first.stats.unused, 'none yet');
    assert.ok(first.stats.written > 0, first.stats.notWritten);
    const second = boot();
    assert.equal(second.stats.unused, '');
    assert.equal(second.stats.misses, 0);
    assert.equal(second.stats.looked, 0);
    assert.ok(second.stats.hits >= 7 && second.stats.resolved >= 5, JSON.stringify(second.stats));
    assert.equal(second.stats.notWritten, 'the cache covered this boot');
    assert.equal(second.value, first.value);
    return second;
  }

  it('is written by a first boot (0600, in the pool) and used whole by the next', () => {
    const b = primed();
    assert.equal(b.value, 'A1 S2 D1 E');
    assert.ok(b.restored, "node's module functions are back after the boot");
    const st = fs.statSync(cacheFile());
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(
      fs.readdirSync(pool).filter((n) => n !== 'boot-cache'),
      [],
      'no temporary file left',
    );
  });

  it("holds the modules' Latin-1 sources, which a boot maps from the cache file, still there once the file is gone", () => {
    const first = boot();
    assert.equal(first.extra, '\u00e9A\u2603');
    assert.equal(first.stats.mapped, 0);
    assert.deepEqual(first.maps, []);
    const source = (f: string): number | undefined =>
      cacheHeader(cacheFile()).files.find(([file]) => file === path.join(app, f))?.[4];
    assert.equal(source('a.js'), fs.statSync(path.join(app, 'a.js')).size);
    assert.equal(source('l1.js'), fs.statSync(path.join(app, 'l1.js')).size - 1, 'é: one byte');
    assert.equal(source('u.js'), 0, 'not Latin-1: read from its file');
    // A daemon whose cache file is removed after its boot: a function first called then
    // compiles from the mapped source, of the file as it was.
    process.env.SWAP_CACHE = 'rm';
    let b: Boot;
    try {
      b = boot([], 'serve');
    } finally {
      delete process.env.SWAP_CACHE;
    }
    assert.equal(b.stats.unused, '');
    assert.equal(b.stats.mapped, b.stats.hits - 1, JSON.stringify(b.stats)); // all but u.js
    assert.equal(b.value, 'A1 S2 D1 E');
    assert.equal(b.extra, '\u00e9A\u2603');
    assert.equal(b.late, 'L7');
    assert.equal(b.served, 'none yet');
    assert.ok(
      b.maps.some((l) => / r--p .*\/boot-cache \(deleted\)$/.test(l)),
      `the cache file mapped read-only:\n${b.maps.join('\n')}`,
    );
  });

  it('keeps stack positions: line and column as without it', () => {
    const plain = spawnSync(
      process.execPath,
      [
        '-e',
        `console.log(require(${JSON.stringify(path.join(app, 'thrower.js'))}).make().stack.split('\\n')[1])`,
      ],
      { encoding: 'utf8' },
    ).stdout.trim();
    assert.match(plain, /thrower\.js:1:\d+/);
    assert.equal(primed().stack.trim(), plain);
  });

  it('a module changed on disk (same size) compiles from its new source', () => {
    primed();
    fs.writeFileSync(path.join(app, 'a.js'), "module.exports = 'A2';\n");
    const b = boot();
    assert.equal(b.value, 'A2 S2 D1 E');
    assert.match(b.stats.unused, /a\.js changed/);
    assert.ok(b.stats.written > 0);
    const next = boot();
    assert.equal(next.stats.unused, '');
    assert.equal(next.value, 'A2 S2 D1 E');
  });

  it('a package closer to the requiring module, a file that now wins, a package.json that now points elsewhere', () => {
    primed();
    const changed = (value: string): void => {
      const b = boot();
      assert.equal(b.value, value);
      assert.match(b.stats.unused, /changed/);
      assert.equal(boot().stats.unused, '', 'the new cache is used');
    };
    fs.mkdirSync(path.join(app, 'sub', 'node_modules', 'dep2'), { recursive: true });
    fs.writeFileSync(
      path.join(app, 'sub', 'node_modules', 'dep2', 'index.js'),
      "module.exports = '3';\n",
    );
    changed('A1 S3 D1 E');
    // ./sub resolved to sub/index.js; a sub.js next to it wins now.
    fs.writeFileSync(path.join(app, 'sub.js'), "module.exports = 'T';\n");
    changed('A1 T D1 E');
    // dep's main, rewritten in place (its directory's mtime does not change).
    fs.writeFileSync(
      path.join(app, 'node_modules', 'dep', 'package.json'),
      '{ "name": "dep", "main": "other.js" }\n',
    );
    changed('A1 T D2 E');
  });

  it('a package requiring itself by name: a change above its scope keeps the cache', () => {
    fs.writeFileSync(
      path.join(app, 'package.json'),
      '{ "name": "app", "exports": { "./a": "./a.js", "./main.js": "./main.js" } }\n',
    );
    fs.writeFileSync(path.join(app, 'main.js'), "module.exports = require('app/a');\n");
    assert.ok(boot().stats.written > 0);
    assert.equal(boot().stats.unused, '');
    // What a busy /tmp does to the directories above a package: node resolves `app/a` from
    // app's package.json before any node_modules lookup, so nothing above app matters.
    fs.rmSync(fs.mkdtempSync(path.join(path.dirname(dir), 'churn-')), { recursive: true });
    const b = boot();
    assert.equal(b.stats.unused, '');
    assert.equal(b.value, 'A1');
    // Its package.json is what it depends on.
    fs.writeFileSync(
      path.join(app, 'package.json'),
      '{ "name": "app", "exports": { "./a": "./sub/index.js", "./main.js": "./main.js" } }\n',
    );
    const moved = boot();
    assert.match(moved.stats.unused, /changed/);
    assert.equal(moved.value, 'S2');
  });

  it('a corrupt or truncated cache is ignored and replaced', () => {
    primed();
    const data = fs.readFileSync(cacheFile());
    const corrupt = Buffer.from(data);
    corrupt[corrupt.length - 100]! ^= 0x55; // inside a code cache
    fs.writeFileSync(cacheFile(), corrupt, { mode: 0o600 });
    let b = boot();
    assert.equal(b.stats.unused, 'checksum mismatch');
    assert.equal(b.value, 'A1 S2 D1 E');
    assert.ok(b.stats.written > 0);
    assert.equal(boot().stats.unused, '');
    fs.writeFileSync(cacheFile(), data.subarray(0, data.length >> 1), { mode: 0o600 });
    b = boot();
    assert.equal(b.stats.unused, 'checksum mismatch');
    assert.equal(b.value, 'A1 S2 D1 E');
    fs.writeFileSync(cacheFile(), 'short', { mode: 0o600 });
    assert.equal(boot().stats.unused, 'bad size');
  });

  it('a cache that is not ours, or that others can write, or a symlink, is ignored', () => {
    primed();
    fs.chownSync(cacheFile(), 65534, 65534);
    const b = boot();
    assert.equal(b.stats.unused, 'not a file of ours that only we can write');
    assert.equal(b.value, 'A1 S2 D1 E');
    assert.equal(fs.statSync(cacheFile()).uid, process.geteuid!(), 'replaced by ours');
    fs.chmodSync(cacheFile(), 0o620);
    assert.equal(boot().stats.unused, 'not a file of ours that only we can write');
    const elsewhere = path.join(dir, 'elsewhere');
    fs.renameSync(cacheFile(), elsewhere);
    fs.symlinkSync(elsewhere, cacheFile());
    assert.equal(boot().stats.unused, 'cannot open it');
  });

  it('a pool directory others can enter is neither read nor written', () => {
    primed();
    fs.chmodSync(pool, 0o755);
    const before = fs.readFileSync(cacheFile());
    fs.appendFileSync(path.join(app, 'a.js'), '\n');
    const b = boot();
    assert.match(b.stats.unused, /pool directory/);
    assert.match(b.stats.notWritten, /pool directory/);
    assert.equal(b.value, 'A1 S2 D1 E');
    assert.deepEqual(fs.readFileSync(cacheFile()), before);
  });

  it('another node, node flags or V8 flags: not used', () => {
    primed();
    const b = boot(['--no-warnings']);
    assert.match(b.stats.unused, /another node/);
    assert.equal(b.value, 'A1 S2 D1 E');
  });

  describe('serving code (writeServingCache: a daemon re-makes the cache once it served)', () => {
    const thrower = (): string => path.join(app, 'thrower.js');
    // Files kept out of `dir`, which the cache records.
    let aside: string;
    beforeEach(() => {
      aside = fs.mkdtempSync(path.join(os.tmpdir(), 'boot-cache-aside-'));
    });
    afterEach(() => {
      fs.rmSync(aside, { recursive: true, force: true });
    });
    const codeLength = (h: CacheHeader, file: string): number =>
      h.files.find(([f]) => f === file)?.[3] ?? -1;

    it('holds the code of what ran, once per cache; the next boots use it whole', () => {
      primed();
      const before = cacheHeader(cacheFile());
      assert.equal(before.serving, undefined);
      const daemon = boot([], 'serve');
      assert.equal(daemon.stats.unused, '');
      assert.equal(daemon.stats.serving, false);
      assert.equal(typeof daemon.served, 'number', String(daemon.served));
      assert.equal(fs.statSync(cacheFile()).size, daemon.served);
      assert.equal(fs.statSync(cacheFile()).mode & 0o777, 0o600);
      const after = cacheHeader(cacheFile());
      assert.equal(after.serving, true);
      // serve() and its inner function were compiled on their first call: now in the cache.
      assert.ok(
        codeLength(after, thrower()) > codeLength(before, thrower()),
        `${codeLength(after, thrower())} > ${codeLength(before, thrower())}`,
      );
      // Identities, resolutions and directories as validated at the boot.
      assert.deepEqual(
        after.files.map(([f, id, format]) => [f, id, format]),
        before.files.map(([f, id, format]) => [f, id, format]),
      );
      assert.deepEqual(after.dirs, before.dirs);
      assert.deepEqual(after.map, before.map);
      assert.deepEqual(fs.readdirSync(pool), ['boot-cache'], 'no temporary file left');

      // V8 takes every code cache (made with the boot's flags): nothing compiled.
      const next = boot();
      assert.equal(next.stats.unused, '');
      assert.equal(next.stats.serving, true);
      assert.equal(next.stats.misses, 0);
      assert.equal(next.stats.mapped, next.stats.hits - 1, 'the sources kept'); // all but u.js
      assert.equal(next.value, 'A1 S2 D1 E');
      assert.equal(next.stack, daemon.stack, 'same stack positions');
      // Once: a daemon from a cache with serving code writes nothing.
      const data = fs.readFileSync(cacheFile());
      const again = boot([], 'serve');
      assert.equal(again.served, 'nothing to write');
      assert.deepEqual(fs.readFileSync(cacheFile()), data);
    });

    it("with V8 flags other than the boot's, nothing is written", () => {
      primed();
      const data = fs.readFileSync(cacheFile());
      process.env.NO_SET_FLAGS = '1';
      try {
        assert.equal(boot([], 'serve').served, 'another node, V8 version, flags or entry');
      } finally {
        delete process.env.NO_SET_FLAGS;
      }
      assert.deepEqual(fs.readFileSync(cacheFile()), data);
    });

    it('a cache replaced, removed or tampered with since the boot is left alone', () => {
      primed();
      const data = fs.readFileSync(cacheFile());
      // Another valid cache (another boot's: other node flags).
      assert.match(boot(['--no-warnings']).stats.unused, /another node/);
      const other = path.join(aside, 'other');
      fs.copyFileSync(cacheFile(), other);
      fs.writeFileSync(cacheFile(), data, { mode: 0o600 });
      const swap = (to: string): Boot => {
        process.env.SWAP_CACHE = to;
        try {
          return boot([], 'serve');
        } finally {
          delete process.env.SWAP_CACHE;
        }
      };
      const swapped = swap(other);
      assert.equal(
        swapped.served,
        'the cache changed since the boot',
        JSON.stringify(swapped.stats),
      );
      assert.deepEqual(fs.readFileSync(cacheFile()), fs.readFileSync(other));
      fs.writeFileSync(cacheFile(), data, { mode: 0o600 });
      assert.equal(swap('rm').served, 'none yet');
      assert.equal(fs.existsSync(cacheFile()), false);
      const corrupt = Buffer.from(data);
      corrupt[corrupt.length - 100]! ^= 0x55;
      const bad = path.join(aside, 'bad');
      fs.writeFileSync(bad, corrupt, { mode: 0o600 });
      fs.writeFileSync(cacheFile(), data, { mode: 0o600 });
      assert.equal(swap(bad).served, 'checksum mismatch');
      assert.deepEqual(fs.readFileSync(cacheFile()), corrupt);

      // A serving cache tampered with is refused whole, and replaced by a boot's.
      fs.writeFileSync(cacheFile(), data, { mode: 0o600 });
      assert.equal(typeof boot([], 'serve').served, 'number');
      const serving = fs.readFileSync(cacheFile());
      serving[serving.length - 100]! ^= 0x55;
      fs.writeFileSync(cacheFile(), serving, { mode: 0o600 });
      const b = boot();
      assert.equal(b.stats.unused, 'checksum mismatch');
      assert.equal(b.value, 'A1 S2 D1 E');
      assert.ok(b.stats.written > 0);
      assert.equal(cacheHeader(cacheFile()).serving, undefined);
    });

    it('a module changed after the boot: the next boot refuses the serving cache', () => {
      primed();
      assert.equal(typeof boot([], 'serve').served, 'number');
      fs.writeFileSync(path.join(app, 'a.js'), "module.exports = 'A2';\n");
      const b = boot();
      assert.match(b.stats.unused, /a\.js changed/);
      assert.equal(b.value, 'A2 S2 D1 E');
    });
  });

  it("records identities as fs.statSync's (device, inode, size, mtime, ctime; absent; errors)", () => {
    const files = [
      path.join(app, 'a.js'),
      app,
      path.join(app, 'none'),
      path.join(app, 'a.js', 'x'),
    ];
    const js = (f: string): string | number => {
      try {
        const st = fs.statSync(f, { bigint: true, throwIfNoEntry: false });
        return st ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : '-';
      } catch (err) {
        return (err as NodeJS.ErrnoException).errno! * -1;
      }
    };
    assert.deepEqual(linux.bootCacheIdentities(files), files.map(js));
    assert.throws(() => linux.bootCacheIdentities([1 as unknown as string]), TypeError);
  });

  it("computes node_modules lookup paths as node's Module._nodeModulePaths", () => {
    // The CommonJS Module class (as boot-cache.ts reaches it).
    const M = module.constructor as unknown as { _nodeModulePaths(from: string): string[] };
    for (const from of [
      '/',
      '/a',
      '/a/b',
      '/node_modules',
      '/node_modules/x',
      '/a/node_modules',
      '/a/node_modules/b/node_modules/c',
      '/a/node_modules/@scope/pkg/lib',
      '/a/node_modulesx/b',
      '/a/xnode_modules',
      '/a/.b/..c',
      app,
    ]) {
      assert.deepEqual(nodeModulePaths(from), M._nodeModulePaths(from), from);
    }
    // Not normalized, or relative: left to node.
    for (const from of ['/a//b', '/a/./b', '/a/../b', '/a/b/', '/a/.', '/a/..', 'a/b', '']) {
      assert.equal(nodeModulePaths(from), undefined, from);
    }
  });

  it('read-only (a cold process): uses a valid cache whole, never writes one', () => {
    const none = boot([], 'read-only');
    assert.equal(none.stats.unused, 'none yet');
    assert.equal(none.stats.notWritten, 'read-only');
    assert.equal(none.value, 'A1 S2 D1 E');
    assert.ok(none.restored);
    assert.equal(fs.existsSync(cacheFile()), false, 'no cache written');

    primed();
    const before = fs.readFileSync(cacheFile());
    const ino = fs.statSync(cacheFile()).ino;
    const b = boot([], 'read-only');
    assert.equal(b.stats.unused, '');
    assert.equal(b.stats.misses, 0);
    assert.equal(b.stats.looked, 0);
    assert.ok(b.stats.hits >= 7 && b.stats.resolved >= 5, JSON.stringify(b.stats));
    assert.ok(b.stats.mapped >= 7, 'sources mapped from the cache');
    assert.equal(b.stats.notWritten, 'read-only');
    assert.equal(b.value, 'A1 S2 D1 E');
    assert.ok(b.restored, "node's module functions are back after the boot");

    // Stale: a module changed on disk (same size). Not used, not replaced.
    fs.writeFileSync(path.join(app, 'a.js'), "module.exports = 'A9';\n");
    const stale = boot([], 'read-only');
    assert.match(stale.stats.unused, /a\.js changed/);
    assert.equal(stale.stats.hits, 0);
    assert.equal(stale.value, 'A9 S2 D1 E');
    assert.equal(stale.stats.notWritten, 'read-only');
    assert.ok(stale.restored);
    assert.equal(fs.statSync(cacheFile()).ino, ino);
    assert.deepEqual(fs.readFileSync(cacheFile()), before, 'the cache is never written');
  });

  it('CONTAINERD_SHIM_WARM_BOOT_CACHE=0 turns it off', () => {
    const r = spawnSync(process.execPath, [driver, pool], {
      encoding: 'utf8',
      env: { ...process.env, CONTAINERD_SHIM_WARM_BOOT_CACHE: '0' },
    });
    assert.equal(r.status, 0, r.stderr);
    const b = JSON.parse(r.stdout) as { stats?: unknown; value: string };
    assert.equal(b.stats, undefined);
    assert.equal(b.value, 'A1 S2 D1 E');
    assert.equal(fs.existsSync(cacheFile()), false);
  });

  describe('standbys of a packaged shim', function () {
    this.timeout(240_000);
    let root: string;
    let log: string;
    let binary: string;
    let env: Record<string, string>;

    beforeEach(() => {
      root = path.join(dir, 'warm');
      // Files that come and go live apart: the shim's own directory is recorded by the cache.
      fs.mkdirSync(path.join(dir, 'run'));
      log = path.join(dir, 'run', 'warm.log');
      env = onePoolEnv(root, log);
      // The SDK first (it installs the cache), then the shim's own module.
      binary = packageProbeShim(dir, 'cached', {
        after: "const value = require('./app/a.js');",
        written: 'value',
      });
    });

    afterEach(async () => {
      await killStandbys(root);
    });

    function runDelete(): string {
      const out = path.join(dir, 'run', 'out');
      fs.rmSync(out, { force: true });
      const r = spawnSync(binary, ['-namespace', 'bc', '-id', 'x', 'delete'], {
        cwd: dir,
        env: { ...process.env, ...env, PROBE_OUT: out },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return fs.readFileSync(out, 'utf8');
    }

    async function lines(n: number): Promise<void> {
      const until = Date.now() + 180_000;
      while (cacheLines().length < n) {
        if (Date.now() > until)
          assert.fail(`fewer than ${n} boots:\n${traceLines(log).join('\n')}`);
        await sleep(50);
      }
    }

    const cacheLines = (): string[] =>
      traceLines(log).filter((l) => l.startsWith('standby boot cache'));

    it('a cold `delete` (no standby) boots from it read-only; not from a stale one; never writes it', async () => {
      const p = prewarm(binary, env);
      await waitSettled(p);
      await killStandbys(root);
      const file = path.join(p, 'boot-cache');
      const before = fs.readFileSync(file);
      const ino = fs.statSync(file).ino;
      // No standby and none booted (pool size 0; the same pool: the size is no boot setting).
      env.CONTAINERD_SHIM_WARM_POOL = '0';
      const coldLines = (): string[] =>
        traceLines(log).filter((l) => l.startsWith('cold boot cache'));
      assert.equal(runDelete(), 'A1');
      assert.match(traceLines(log).join('\n'), /^delete cold: /m);
      assert.match(
        coldLines()[0] ?? '',
        /^cold boot cache used: [1-9]\d* modules from it \([1-9]\d* sources mapped\), \d+ compiled, [1-9]\d* resolutions from it, \d+ made; not written \(read-only\)$/,
      );

      fs.writeFileSync(path.join(app, 'a.js'), "module.exports = 'A9';\n");
      assert.equal(runDelete(), 'A9');
      assert.match(
        coldLines()[1] ?? '',
        /^cold boot cache not used \(.*a\.js changed\).*\(read-only\)$/,
      );
      assert.equal(fs.statSync(file).ino, ino);
      assert.deepEqual(fs.readFileSync(file), before, 'a cold process never writes the cache');
      assert.deepEqual(standbyPids(root), [], 'nothing booted');
    });

    it('the first standby writes it, the next boots from it, an upgraded module is never served from it', async () => {
      const p = prewarm(binary, env);
      await waitSettled(p);
      assert.match(
        cacheLines()[0] ?? '',
        /^standby boot cache not used \(none yet\).*wrote \d+ bytes/,
      );
      const st = fs.statSync(path.join(p, 'boot-cache'));
      assert.equal(st.mode & 0o777, 0o600);
      // The standby serves; the one booted to replace it boots from the cache.
      assert.equal(runDelete(), 'A1');
      await lines(2);
      assert.match(
        cacheLines()[1] ?? '',
        /^standby boot cache used: \d+ modules from it \([1-9]\d* sources mapped\), 0 compiled, \d+ resolutions from it, 0 made/,
      );

      // An upgrade of a module the standbys loaded (same size): the standby waiting answers
      // stale (module watch), and no later boot serves the old module from the cache.
      fs.writeFileSync(path.join(app, 'a.js'), "module.exports = 'A9';\n");
      assert.equal(runDelete(), 'A9');
      const until = Date.now() + 180_000;
      while (!cacheLines().some((l) => /not used \(.*a\.js changed\)/.test(l))) {
        if (Date.now() > until)
          assert.fail(`no boot after the change:\n${cacheLines().join('\n')}`);
        await sleep(50);
      }
      await waitSettled(p);
      for (let i = 0; i < 3; i++) assert.equal(runDelete(), 'A9');
    });
  });
});
