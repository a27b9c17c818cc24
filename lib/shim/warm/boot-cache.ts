// A standby's boot cache: what booting a standby computes the same way every time, kept in its
// pool directory for the next standby of the pool. Each container costs one standby boot in the
// background (~90-130 ms of CPU), a third of it compiling modules and another third resolving
// and reading them; with the cache the next boot takes
//  - V8's code cache of every module the boot compiled (the module function and what V8
//    compiles with it), compiled the way node's loader does (vm.compileFunction, i.e.
//    ScriptCompiler::CompileFunction); once a daemon served, re-made from the modules' wrappers
//    with the bytecode of the serving path that ran (writeServingCache), which a boot compiles
//    only lazily: the next standbys' daemons do not compile it on containerd's clock;
//  - each module's source, when Latin-1 (ours are ASCII): a boot from the cache maps them from
//    the cache file into V8 as external strings instead of reading the module files, so the
//    ~0.4 MB that V8 keeps of them (a function compiles from its source lazily, and again after
//    its bytecode was flushed) is the page cache's, shared by the pool's standbys and daemons,
//    not each process's own heap (native/linux/boot_cache.cc); the file is never written in
//    place, so what a process mapped never changes under it;
//  - each module resolution it made (parent directory + request -> file), and each module's
//    format, so it neither walks node_modules, stats candidates, realpaths nor reads
//    package.json files again; and node_modules lookup paths computed once per directory.
// Nothing of it is trusted blindly. The file must be ours (owner our euid, not writable by group
// or others, in a pool directory of ours with mode 0700: a cache someone else could write would
// be code execution), carry our node, arch, V8 version and flags (v8.cachedDataVersionTag()) and
// execArgv, and match its checksum (V8 does not check a code cache's payload in release builds).
// Every module file it names must have the identity it had (device, inode, size, mtime, ctime),
// and so must every directory resolution looked in (any file added, removed or renamed in one
// changes its mtime) and the package.json in each: one difference and the whole cache is
// unused. Each module's identity is taken again before and after it is read: a module changed
// on disk during the boot is compiled from its source, never from the cache. V8 rejecting a
// code cache (cachedDataRejected) only means that module compiles from its source. A boot that
// could not use the cache, or loaded something it did not cover, writes a new one (atomically,
// 0600) for the next. The hooks exist only while a standby boots (openBootCache, imported first
// by the SDK's main module, to closeBootCache, before the standby publishes itself): action
// servers and adopted daemons load modules the usual way. A Node process the launcher runs
// cold (a `start` or `delete` that found no standby, the daemon such a `start` spawns) opens
// the cache read-only (boot-hook.ts): the same checks, nothing recorded, never written (it runs
// on containerd's clock; standbys keep the cache current).
import * as fs from 'node:fs';
import type { Module as ModuleClass } from 'node:module';
import * as path from 'node:path';
import { getSystemErrorName } from 'node:util';
import type * as V8 from 'node:v8';
import type * as VM from 'node:vm';

import { linux } from '../../native';

/** The cache's name in the pool directory. */
export const BOOT_CACHE_FILE = 'boot-cache';
const MAGIC = 'CSHIMBC1';
const SUM_LENGTH = 16;
/** Bytes before the header: magic, checksum (hex), header length (u32 LE). */
const PREFIX_LENGTH = MAGIC.length + SUM_LENGTH + 4;
/** The format of a file the cache only names (a .json or .node file, a module changed while read). */
const UNKNOWN = '?';
/** A source V8 keeps one byte a character, which the cache can hold as Latin-1. */
const LATIN1 = /^[^\u0100-\uffff]*$/;
/** A larger cache is neither read nor written (the runc shim's is ~0.9 MB, sources included). */
export const MAX_BOOT_CACHE = 64 << 20;

/** What openBootCache/closeBootCache did (tests, the trace). */
export interface BootCacheStats {
  /** Why the cache on disk was not used ('' when it was). */
  unused: string;
  /** Modules compiled from the cache / from their source. */
  hits: number;
  misses: number;
  /** Resolutions answered by the cache / made by node. */
  resolved: number;
  looked: number;
  /** A new cache was written (its size), or why not. */
  written: number;
  notWritten: string;
  /** The cache used holds the serving path's code (writeServingCache). */
  serving: boolean;
  /** Modules whose source came from the cache (mapped), not from their file. */
  mapped: number;
}

/**
 * device, inode, size, mtime and ctime (ns) of each file; '-' when there is nothing there, `!CODE`
 * when stat failed otherwise (ENOTDIR, EACCES...: recorded as such). Native: one call, not a
 * bigint fs.Stats per file (~4 ms of a cold boot for the ~250 paths a cache names).
 */
function identities(files: string[]): string[] {
  return linux
    .bootCacheIdentities(files)
    .map((id) => (typeof id === 'string' ? id : `!${getSystemErrorName(-id)}`));
}

function identity(file: string): string {
  return identities([file])[0]!;
}

/* eslint-disable @typescript-eslint/no-require-imports */
// Loaded when first needed: node:v8 costs a cold `start` ~1.7 ms, for nothing when it finds no
// cache.
const v8 = (): typeof V8 => require('node:v8') as typeof V8;
const vm = (): typeof VM => require('node:vm') as typeof VM;
/* eslint-enable @typescript-eslint/no-require-imports */

/** What must be equal for V8 and for us to accept a cache made by another process. */
function tag(): string {
  return [
    process.version,
    process.arch,
    v8().cachedDataVersionTag(),
    process.execPath,
    ...process.execArgv,
  ].join('\n');
}

interface Header {
  tag: string;
  /**
   * path, identity, format (CommonJS: null or 'commonjs'; UNKNOWN: not compiled here), code
   * cache length (0: none), source length (Latin-1; 0 or absent: not held, read from the file).
   * The body holds the code caches in this order, then the sources in this order.
   */
  files: Array<[string, string, string | null, number, number?]>;
  /** directory, its identity, its package.json's identity. */
  dirs: Array<[string, string, string]>;
  /** `${parent directory}\0${request}`, resolved file. */
  map: Array<[string, string]>;
  /** The code caches were re-made after a daemon served (writeServingCache). */
  serving?: boolean;
}

interface Loaded {
  /** Its format and code cache, when the cache had it for this identity. */
  format: string | null;
  data: Buffer | undefined;
  id: string;
  /** Its source, mapped from the cache file (bootCacheSources), when the cache holds it. */
  source: string | undefined;
}

interface ReadCache {
  header: Header;
  body: Buffer;
  sum: string;
  /** The sources, mapped (readCache with `sources`), by the index of their file in the header. */
  sources?: Array<string | undefined>;
}

/** Total code cache and source bytes the header lists. */
function bodyLengths(header: Header): { code: number; source: number } {
  let code = 0;
  let source = 0;
  for (const [, , , c, t] of header.files) {
    code += c;
    source += t ?? 0;
  }
  return { code, source };
}

/** A directory of our uid that nobody else can write (or read). */
function ours(st: fs.Stats, mask: number): boolean {
  return st.uid === process.geteuid!() && (st.mode & mask) === 0;
}

/** Why `pool` is not a directory for a cache ('' when it is: ours, mode 0700). */
function poolProblem(pool: string): string {
  const dir = fs.lstatSync(pool, { throwIfNoEntry: false });
  if (dir?.isDirectory() && ours(dir, 0o077)) return '';
  return 'the pool directory is not ours with mode 0700';
}

/**
 * The cache file's contents when it is ours and intact; else why not. `sources`: with the
 * modules' sources it holds mapped from this very file (the fd checked), not copied.
 */
function readCache(pool: string, sources = false): ReadCache | string {
  const problem = poolProblem(pool);
  if (problem !== '') return problem;
  let fd: number;
  try {
    fd = fs.openSync(
      path.join(pool, BOOT_CACHE_FILE),
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW,
    );
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'none yet' : 'cannot open it';
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !ours(st, 0o022)) return 'not a file of ours that only we can write';
    if (st.size < PREFIX_LENGTH || st.size > MAX_BOOT_CACHE) return 'bad size';
    const file = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < file.length) {
      const r = fs.readSync(fd, file, n, file.length - n, n);
      if (r === 0) return 'truncated';
      n += r;
    }
    if (file.toString('latin1', 0, MAGIC.length) !== MAGIC) return 'not a boot cache';
    const rest = file.subarray(MAGIC.length + SUM_LENGTH);
    if (
      linux.bootCacheChecksum(rest) !==
      file.toString('latin1', MAGIC.length, MAGIC.length + SUM_LENGTH)
    ) {
      return 'checksum mismatch';
    }
    const length = rest.readUInt32LE(0);
    if (4 + length > rest.length) return 'truncated';
    const header = JSON.parse(rest.toString('utf8', 4, 4 + length)) as Header;
    const body = rest.subarray(4 + length);
    const read: ReadCache = {
      header,
      body,
      sum: file.toString('latin1', MAGIC.length, MAGIC.length + SUM_LENGTH),
    };
    const total = bodyLengths(header);
    if (sources && total.source > 0 && total.code + total.source <= body.length) {
      read.sources = linux.bootCacheSources(
        fd,
        PREFIX_LENGTH + length + total.code,
        header.files.map(([, , , , t]) => t ?? 0),
      );
    }
    return read;
  } finally {
    fs.closeSync(fd);
  }
}

// Path helpers for the boot's hot paths. path.dirname/join/resolve, called for every resolution
// and module (~1,000 calls a boot), made V8 optimize them with TurboFan on a worker thread
// (normalizeString, dirname: ~6 ms of CPU a boot) for a process that then waits.

/** `dir`/package.json (`dir` absolute and normalized, as recorded). */
function packageJson(dir: string): string {
  return dir === '/' ? '/package.json' : `${dir}/package.json`;
}

/**
 * The directory of `filename`, a module's file: the module's `path` (node sets it to
 * path.dirname(id) when it makes the module), checked by string comparison, else path.dirname.
 */
function dirOf(mod: Module, filename: string): string {
  const dir = mod.path;
  if (
    typeof dir === 'string' &&
    dir.length > 0 &&
    filename.length > dir.length + 1 &&
    filename.startsWith(dir) &&
    filename.charCodeAt(dir.length) === 47 /* '/' */ &&
    filename.indexOf('/', dir.length + 1) === -1
  ) {
    return dir;
  }
  return path.dirname(filename);
}

/**
 * Module._nodeModulePaths(from) for an absolute, normalized POSIX `from` (a module's directory),
 * without its path.resolve: `from` and each directory above it with `/node_modules` appended,
 * except those that are node_modules directories themselves, then `/node_modules`. Undefined for
 * any other `from` (node's own then answers). test/boot-cache.test.ts compares the two.
 */
export function nodeModulePaths(from: string): string[] | undefined {
  if (process.platform === 'win32' || !from.startsWith('/')) return undefined;
  if (from === '/') return ['/node_modules'];
  if (from.endsWith('/') || /\/\/|\/\.\.?(\/|$)/.test(from)) return undefined;
  const paths: string[] = [];
  for (let end = from.length; end > 0; end = from.lastIndexOf('/', end - 1)) {
    const start = from.lastIndexOf('/', end - 1) + 1;
    if (from.slice(start, end) !== 'node_modules') paths.push(`${from.slice(0, end)}/node_modules`);
  }
  paths.push('/node_modules');
  return paths;
}

/** The cache's entries when every identity still matches; else why not. */
function validate({ header, body, sources }: ReadCache): Map<string, Loaded> | string {
  if (header.tag !== tag()) return 'another node, V8 version, flags or entry';
  const now = identities([
    ...header.dirs.flatMap(([dir]) => [dir, packageJson(dir)]),
    ...header.files.map(([file]) => file),
  ]);
  let i = 0;
  for (const [dir, id, pkg] of header.dirs) {
    if (now[i++] !== id || now[i++] !== pkg) return `${dir} changed`;
  }
  const total = bodyLengths(header);
  if (total.code + total.source > body.length) return 'truncated';
  const files = new Map<string, Loaded>();
  let offset = 0;
  for (const [n, [file, id, format, length]] of header.files.entries()) {
    if (now[i++] !== id) return `${file} changed`;
    files.set(file, {
      format,
      id,
      data: length > 0 ? body.subarray(offset, offset + length) : undefined,
      source: sources?.[n],
    });
    offset += length;
  }
  return files;
}

type Resolve = (
  request: string,
  parent: Module | undefined,
  isMain: boolean,
  options?: unknown,
) => string;
type Extension = (module: Module, filename: string) => void;
type Compile = (content: string, filename: string, format?: string) => unknown;
// The CommonJS Module class, without `require('node:module')` (that loads the ESM loader too).
const Module = module.constructor as typeof ModuleClass;
type Module = ModuleClass;
type ModuleInternals = typeof ModuleClass & {
  _resolveFilename: Resolve;
  _nodeModulePaths: (from: string) => string[];
  _resolveLookupPaths: (request: string, parent: Module) => string[] | null;
  _extensions: Record<string, Extension>;
  _cache: Record<string, Module>;
};
const M = Module as ModuleInternals;
const proto = Module.prototype as unknown as { _compile: Compile };

const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];
type CompiledWrapper = ((...args: unknown[]) => unknown) & {
  cachedData?: Buffer;
  cachedDataProduced?: boolean;
  cachedDataRejected?: boolean;
};

/** The `require` node gives a module (internal/modules/helpers makeRequireFunction). */
function makeRequire(mod: Module): NodeJS.Require {
  const require = function require(id: string): unknown {
    return mod.require(id);
  } as NodeJS.Require;
  const resolve = function resolve(request: string, options?: { paths?: string[] }): string {
    return M._resolveFilename(request, mod, false, options);
  } as NodeJS.RequireResolve;
  resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  require.resolve = resolve;
  require.main = process.mainModule;
  require.extensions = M._extensions as unknown as NodeJS.RequireExtensions;
  require.cache = M._cache as unknown as NodeJS.Dict<NodeJS.Module>;
  return require;
}

class BootCache {
  readonly stats: BootCacheStats = {
    unused: '',
    hits: 0,
    misses: 0,
    resolved: 0,
    looked: 0,
    written: 0,
    notWritten: '',
    serving: false,
    mapped: 0,
  };
  private readonly files: Map<string, Loaded>;
  private readonly map: Map<string, string>;
  /** This boot: each compiled module's identity, format, code cache and source; each resolution. */
  private readonly compiled = new Map<
    string,
    { id: string; format: string | null; data: Buffer | undefined; source: string }
  >();
  private readonly resolutions = new Map<string, string>();
  /** Identity taken before a module was read, for the compile that follows. */
  private readonly before = new Map<string, string>();
  private readonly lookupPaths = new Map<string, string[]>();
  /** The cache used (its checksum), unless it holds serving code already, and its wrappers. */
  private sum: string | undefined;
  private readonly wrappers = new Map<string, CompiledWrapper>();
  private readonly originals = {
    resolve: M._resolveFilename,
    paths: M._nodeModulePaths,
    js: M._extensions['.js']!,
    compile: proto._compile,
  };

  /** readOnly: use the cache, record nothing, never write (a cold process). */
  constructor(
    private readonly pool: string,
    private readonly readOnly: boolean,
  ) {
    let files = new Map<string, Loaded>();
    let map = new Map<string, string>();
    try {
      const read = readCache(pool, true);
      const valid = typeof read === 'string' ? read : validate(read);
      if (typeof valid === 'string') this.stats.unused = valid;
      else if (typeof read !== 'string') {
        files = valid;
        map = new Map(read.header.map);
        if (read.header.serving === true) this.stats.serving = true;
        else this.sum = read.sum;
      }
    } catch (err) {
      this.stats.unused = `unreadable: ${(err as Error).message}`;
    }
    this.files = files;
    this.map = map;
    // Read-only without a usable cache there is nothing to gain: node loads as usual.
    if (!readOnly || this.stats.unused === '') this.install();
  }

  private install(): void {
    const o = this.originals;
    const resolve: Resolve = (request, parent, isMain, options) => {
      const dir = parent?.filename ? dirOf(parent, parent.filename) : undefined;
      if (isMain || options !== undefined || dir === undefined || Module.isBuiltin(request)) {
        return o.resolve.call(M, request, parent, isMain, options);
      }
      const key = `${dir}\0${request}`;
      let file = this.map.get(key);
      if (file !== undefined && this.files.has(file)) this.stats.resolved++;
      else {
        file = o.resolve.call(M, request, parent, isMain, options);
        this.stats.looked++;
      }
      if (!this.readOnly) this.resolutions.set(key, file);
      return file;
    };
    M._resolveFilename = resolve;
    // A pure function of its argument, made for every module: once per directory.
    M._nodeModulePaths = (from) => {
      let paths = this.lookupPaths.get(from);
      if (paths === undefined) {
        paths = nodeModulePaths(from) ?? o.paths.call(M, from);
        this.lookupPaths.set(from, paths);
      }
      return [...paths];
    };
    M._extensions['.js'] = (module, filename) => {
      const id = identity(filename);
      this.before.set(filename, id);
      const known = this.files.get(filename);
      if (
        known === undefined ||
        known.id !== id ||
        known.format === 'module' ||
        known.format === UNKNOWN
      ) {
        return o.js.call(M._extensions, module, filename);
      }
      // node's handler reads the package scope to learn the format: the cache knows it.
      // The source as it was read when the cache was made (the identity says the file is the
      // same), mapped from the cache; else from the file.
      if (known.source !== undefined) this.stats.mapped++;
      (module as unknown as { _compile: Compile })._compile(
        known.source ?? fs.readFileSync(filename, 'utf8'),
        filename,
        known.format ?? undefined,
      );
    };
    const compile = (mod: Module, content: string, filename: string, format?: string): unknown => {
      const id = this.before.get(filename);
      this.before.delete(filename);
      if (format === 'module' || id === undefined || !/^\d/.test(id)) {
        return o.compile.call(mod, content, filename, format);
      }
      return this.compile(mod, content, filename, format, id);
    };
    proto._compile = function (this: Module, content, filename, format) {
      return compile(this, content, filename, format);
    };
  }

  private compile(
    mod: Module,
    content: string,
    filename: string,
    format: string | undefined,
    before: string,
  ): unknown {
    // Unchanged while it was read, or neither cached nor used from the cache.
    const steady = identity(filename) === before;
    const known = this.files.get(filename);
    const cachedData = steady && known?.id === before ? known.data : undefined;
    // (same length: a hashbang is valid only at the start of a script)
    const source = content.startsWith('#!') ? `//${content.slice(2)}` : content;
    let fn: CompiledWrapper;
    const { compileFunction, constants } = vm();
    try {
      // What node's loader does (ScriptCompiler::CompileFunction), with a code cache.
      fn = compileFunction(source, PARAMS, {
        filename,
        cachedData,
        produceCachedData: !this.readOnly && steady && cachedData === undefined,
        importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      }) as CompiledWrapper;
    } catch {
      // A syntax error: node's own compile reports it as usual.
      return this.originals.compile.call(mod, content, filename, format);
    }
    const hit = cachedData !== undefined && fn.cachedDataRejected !== true;
    if (hit) this.stats.hits++;
    else this.stats.misses++;
    // A rejected cache is written as none: the next boot compiles it and makes a new one.
    const data = hit ? cachedData : fn.cachedData;
    delete fn.cachedData;
    delete fn.cachedDataProduced;
    delete fn.cachedDataRejected;
    if (steady && !this.readOnly) {
      this.compiled.set(filename, { id: before, format: format ?? null, data, source });
      if (hit && this.sum !== undefined) this.wrappers.set(filename, fn);
    }
    return Reflect.apply(fn, mod.exports, [
      mod.exports,
      makeRequire(mod),
      mod,
      filename,
      dirOf(mod, filename),
    ]);
  }

  /** Puts node's own functions back; writes a new cache when this boot needed one. */
  close(): BootCacheStats {
    const o = this.originals;
    M._resolveFilename = o.resolve;
    M._nodeModulePaths = o.paths;
    M._extensions['.js'] = o.js;
    proto._compile = o.compile;
    const s = this.stats;
    const covered = s.unused === '' && s.misses === 0 && s.looked === 0;
    // The modules' wrappers, for writeServingCache once this process served as a daemon: only
    // when this boot compiled every module from a cache without serving code.
    if (!this.readOnly && covered && this.sum !== undefined && this.wrappers.size > 0)
      serving = { pool: this.pool, sum: this.sum, wrappers: new Map(this.wrappers) };
    this.wrappers.clear();
    if (this.readOnly) s.notWritten = 'read-only';
    else if (covered) s.notWritten = 'the cache covered this boot';
    else {
      try {
        s.written = this.write();
      } catch (err) {
        s.notWritten = (err as Error).message;
      }
    }
    this.compiled.clear();
    this.before.clear();
    this.files.clear();
    this.map.clear();
    this.resolutions.clear();
    this.lookupPaths.clear();
    return s;
  }

  private write(): number {
    const header: Header = { tag: tag(), files: [], dirs: [], map: [] };
    const blobs: Buffer[] = [];
    const texts: Buffer[] = [];
    const listed = new Set<string>();
    for (const [file, { id, format, data, source }] of this.compiled) {
      // Its source is held when Latin-1 (one byte a character, as V8 keeps it).
      const text = LATIN1.test(source) ? Buffer.from(source, 'latin1') : undefined;
      header.files.push([file, id, format, data?.length ?? 0, text?.length ?? 0]);
      if (data !== undefined) blobs.push(data);
      if (text !== undefined) texts.push(text);
      listed.add(file);
    }
    blobs.push(...texts);
    for (const [key, file] of this.resolutions) {
      if (!listed.has(file)) {
        // .json and .node files, and modules that changed while read: their identity only.
        listed.add(file);
        header.files.push([file, identity(file), UNKNOWN, 0, 0]);
      }
      header.map.push([key, file]);
    }
    for (const dir of this.coveringDirs()) {
      header.dirs.push([dir, identity(dir), identity(packageJson(dir))]);
    }
    const file = encode(header, blobs);
    writeAtomically(this.pool, file);
    return file.length;
  }

  /**
   * Every directory whose change could change what this boot's requests resolve to, or a
   * module's format: a file added, removed or renamed in one (a module that would now win, a
   * symlink replaced, a package.json appearing) changes its mtime; the package.json in each is
   * recorded with it. Per resolution of `request` from directory P to file T (real paths):
   *  - P and T's directories up to their package scope (the nearest package.json: node reads
   *    it for a package's own name and for the module's format);
   *  - a relative request: the directories from where P and the request's path part down to
   *    the request's directory (and the request itself when it is a directory);
   *  - a package: every node_modules directory node looked in, closest first, up to the one
   *    it was found in, the directories above P up to that one, and the package's directories
   *    along the request.
   * Directories farther up are not recorded: nothing there can change these resolutions (an
   * unrelated /tmp churns all the time).
   */
  private coveringDirs(): Set<string> {
    const dirs = new Set<string>();
    const isDir = (d: string): boolean =>
      fs.statSync(d, { throwIfNoEntry: false })?.isDirectory() ?? false;
    /** `from` and the directories above it up to (with) the one holding a package.json. */
    const scope = (from: string): void => {
      for (let d = from; ; d = path.dirname(d)) {
        dirs.add(d);
        if (fs.existsSync(path.join(d, 'package.json')) || d === path.dirname(d)) return;
      }
    };
    /** `to` and the directories above it up to (with) `top`. */
    const upTo = (to: string, top: string): void => {
      for (let d = to; ; d = path.dirname(d)) {
        dirs.add(d);
        if (d === top || d === path.dirname(d)) return;
      }
    };
    const real = (p: string): string => {
      try {
        return fs.realpathSync(p);
      } catch {
        return p;
      }
    };
    for (const [key, file] of this.resolutions) {
      const [dir, request] = key.split('\0') as [string, string];
      scope(path.dirname(file));
      scope(dir);
      if (request.startsWith('.') || path.isAbsolute(request)) {
        const target = path.resolve(dir, request);
        let common = dir;
        while (!target.startsWith(`${common}/`) && common !== path.dirname(common)) {
          common = path.dirname(common);
        }
        upTo(isDir(target) ? target : path.dirname(target), common);
        continue;
      }
      const parts = request.split('/');
      const name = parts.slice(0, request.startsWith('@') ? 2 : 1).join('/');
      // A package naming itself (its package.json has that name and exports): node resolves it
      // before any node_modules lookup, from the scope recorded above.
      if (selfScope(dir, name, file)) continue;
      let found = false;
      for (const lookup of this.originals.paths(dir)) {
        if (!isDir(lookup)) continue; // its parent, above P, is recorded
        upTo(dir, path.dirname(lookup)); // P up to the directory holding this node_modules
        dirs.add(lookup);
        let d = lookup;
        for (const part of parts) {
          d = path.join(d, part);
          if (!isDir(d)) break;
          dirs.add(d);
        }
        const pkg = path.join(lookup, name);
        if (fs.existsSync(pkg) && file.startsWith(`${real(pkg)}/`)) {
          found = true;
          break;
        }
      }
      if (!found) upTo(dir, '/'); // found elsewhere (NODE_PATH, a global folder): all of them
    }
    return dirs;
  }
}

/** Whether `request`'s package `name` from `dir` is the package of `dir`'s scope, holding `file`. */
function selfScope(dir: string, name: string, file: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    let pkg: { name?: unknown; exports?: unknown } | undefined;
    try {
      pkg = JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')) as typeof pkg;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
    if (pkg !== undefined) {
      if (pkg === null || pkg.name !== name || pkg.exports === undefined) return false;
      let scope = d;
      try {
        scope = fs.realpathSync(d);
      } catch {
        // as given
      }
      return file.startsWith(`${scope}/`);
    }
    if (d === path.dirname(d)) return false;
  }
}

/** The cache file of `header` and the code caches it lists, in order. */
function encode(header: Header, blobs: Buffer[]): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const rest = Buffer.concat([length, json, ...blobs]);
  if (PREFIX_LENGTH - 4 + rest.length > MAX_BOOT_CACHE) throw new Error('too large');
  return Buffer.concat([
    Buffer.from(MAGIC, 'latin1'),
    Buffer.from(linux.bootCacheChecksum(rest), 'latin1'),
    rest,
  ]);
}

/** Writes `<pool>/boot-cache` through a temporary file (0600), synced, then renamed. */
function writeAtomically(pool: string, data: Buffer): void {
  const problem = poolProblem(pool);
  if (problem !== '') throw new Error(problem);
  const target = path.join(pool, BOOT_CACHE_FILE);
  const temp = `${target}.${process.pid}`;
  for (const name of fs.readdirSync(pool)) {
    // A writer that died between create and rename left its temporary file.
    const pid = name.startsWith(`${BOOT_CACHE_FILE}.`)
      ? Number(name.slice(BOOT_CACHE_FILE.length + 1))
      : NaN;
    if (Number.isInteger(pid) && pid > 0 && !alive(pid))
      fs.rmSync(path.join(pool, name), { force: true });
  }
  const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;
  fs.rmSync(temp, { force: true });
  const fd = fs.openSync(temp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
  try {
    let n = 0;
    while (n < data.length) n += fs.writeSync(fd, data, n, data.length - n);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(temp, target);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let current: BootCache | undefined;

/** A standby's module wrappers, kept from its boot for writeServingCache. */
let serving: { pool: string; sum: string; wrappers: Map<string, CompiledWrapper> } | undefined;

/**
 * Whether this process keeps its modules' wrappers for writeServingCache (a standby that booted
 * from its pool's cache, which has no serving code yet).
 */
export function servingCacheDue(): boolean {
  return serving !== undefined;
}

/**
 * Re-makes the code cache of the pool's boot cache from the modules' wrappers after this process
 * served as a daemon (V8's code cache of a function made after it ran holds the bytecode of the
 * inner functions compiled by then: the serving path, which a boot compiles lazily), so that the
 * next standbys' daemons do not compile it on their first call. Once per pool build: only when
 * this process booted from the cache (every module from it) and the cache on disk is still that
 * one (same checksum: ours, intact) and has no serving code yet; the header (identities,
 * resolutions, directories) is kept as validated at the boot, so a file changed since makes the
 * next boot refuse the whole cache as before. `setFlags` puts V8's flags back to what they were
 * at the boot for the call and restores them (the cache carries V8's flag hash): nothing is
 * written unless V8's version tag is then the boot's. Never throws; the size written, or why not.
 */
export function writeServingCache(setFlags?: (boot: boolean) => void): number | string {
  const s = serving;
  serving = undefined;
  if (s === undefined) return 'nothing to write';
  let flagsSet = false;
  try {
    const read = readCache(s.pool);
    if (typeof read === 'string') return read;
    if (read.sum !== s.sum) return 'the cache changed since the boot';
    if (setFlags !== undefined) {
      setFlags(true);
      flagsSet = true;
    }
    if (read.header.tag !== tag()) return 'another node, V8 version, flags or entry';
    const files: Header['files'] = [];
    const blobs: Buffer[] = [];
    let offset = 0;
    let remade = 0;
    for (const [file, id, format, length, text] of read.header.files) {
      let data = length > 0 ? read.body.subarray(offset, offset + length) : undefined;
      offset += length;
      const fn = s.wrappers.get(file);
      if (data !== undefined && fn !== undefined) {
        const made = linux.bootCacheFunctionCode(fn);
        if (made !== undefined) {
          data = made;
          remade++;
        }
      }
      files.push([file, id, format, data?.length ?? 0, text ?? 0]);
      if (data !== undefined) blobs.push(data);
    }
    if (remade === 0) return 'node makes no code cache of a function';
    blobs.push(read.body.subarray(offset, offset + bodyLengths(read.header).source)); // the sources
    const file = encode({ ...read.header, files, serving: true }, blobs);
    writeAtomically(s.pool, file);
    return file.length;
  } catch (err) {
    return (err as Error).message;
  } finally {
    if (flagsSet) setFlags?.(false);
    s.wrappers.clear();
  }
}

/**
 * Installs the boot cache of `pool` in this process (a standby about to load the shim). Never
 * throws: without a usable cache the modules load as usual and a new cache is made at close
 * (not with `readOnly`: a cold process only uses a valid cache).
 */
export function openBootCache(pool: string, readOnly = false): void {
  if (current !== undefined || process.env.CONTAINERD_SHIM_WARM_BOOT_CACHE === '0') return;
  try {
    current = new BootCache(pool, readOnly);
  } catch {
    current = undefined;
  }
}

/** Ends the boot: node's module loading as before, a new cache written if needed. */
export function closeBootCache(): BootCacheStats | undefined {
  const cache = current;
  current = undefined;
  return cache?.close();
}
