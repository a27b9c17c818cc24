// Imported first by the SDK's main module (lib/index.ts): the boot cache (boot-cache.ts) goes in
// before the SDK's and the shim's modules load. A standby (the launcher's marker in its
// environment) reads and writes it; a Node process the launcher runs cold (`start`, `delete`:
// the pool in their environment) and the daemon a `start` spawns cold (BOOT_CACHE_ENV) only read
// it, under the same checks: they run on containerd's clock, standbys keep it current. A cold
// process ends its use with endColdBoot(). Any other process loads nothing more.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { BOOT_CACHE_ENV, warmEnv } from './env';
import { trace } from './trace';

type BootCacheModule = typeof import('./boot-cache');
type BootCacheStats = import('./boot-cache').BootCacheStats;

/** boot-cache.ts's BOOT_CACHE_FILE (not loaded to know it: a pool without one costs nothing). */
const FILE = 'boot-cache';
let cold = false;
/** This process booted as a standby (through the cache, read-write). */
let standbyBoot = false;

function bootCache(): BootCacheModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./boot-cache') as BootCacheModule;
}

/**
 * A cold daemon shows in /proc/<pid>/environ exactly what an adopted one shows (the environment
 * serveCommand() built): the variable that named the pool goes (PR_SET_MM_MAP, no capability
 * needed). Where the kernel refuses, standbys cannot take the daemon role either (they set their
 * image the same way), so every daemon there shows it alike.
 */
function hideFromImage(): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { linux } = require('../../native') as typeof import('../../native');
    const list = (name: string): string[] =>
      fs.readFileSync(`/proc/self/${name}`, 'utf8').split('\0').slice(0, -1);
    const env = list('environ').filter((e) => !e.startsWith(`${BOOT_CACHE_ENV}=`));
    linux.warmSetImage(list('cmdline'), env);
  } catch {
    // process.env no longer has it; /proc keeps showing it
  }
}

/** One trace line per boot that had a cache to consider (CONTAINERD_SHIM_WARM_LOG). */
export function traceBootCache(who: string, s: BootCacheStats | undefined): void {
  if (s === undefined || !process.env.CONTAINERD_SHIM_WARM_LOG) return;
  const used = s.unused === '' ? 'used' : `not used (${s.unused})`;
  const wrote = s.written > 0 ? `wrote ${s.written} bytes` : `not written (${s.notWritten})`;
  trace(
    `${who} boot cache ${used}: ${s.hits} modules from it (${s.mapped} sources mapped), ` +
      `${s.misses} compiled, ` +
      `${s.resolved} resolutions from it, ${s.looked} made; ${wrote}` +
      (s.serving ? '; serving code' : ''),
  );
}

type Loader = { prototype: { load(this: unknown, filename: string): void } };
let unwatchLoads: (() => void) | undefined;

/**
 * A standby records each module file for its staleness check (moduleWatchAdd: an inotify watch,
 * then its identity) right before node reads it, not once the boot is over: a module upgraded
 * between its read and a later record would be recorded as it is on disk now, and the old code
 * the standby holds would pass every check. Module.prototype.load is where every file module
 * is read (JavaScript, JSON, addon), cache or not. Modules read before this (the shim's own,
 * loaded before `containerd-shim`) are recorded when the boot ends (standby.ts), as before.
 */
function watchModuleLoads(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { linux } = require('../../native') as typeof import('../../native');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const proto = (require('node:module') as Loader).prototype;
  const load = proto.load;
  proto.load = function (this: unknown, filename: string) {
    linux.moduleWatchAdd([filename]);
    return load.call(this, filename);
  };
  unwatchLoads = () => {
    proto.load = load;
    unwatchLoads = undefined;
  };
}

/** A standby taking the daemon role: module loads go back to node's own (standby.ts). */
export function stopWatchingModuleLoads(): void {
  unwatchLoads?.();
}

if (process.platform === 'linux') {
  if (warmEnv.standby !== undefined) {
    bootCache().openBootCache(warmEnv.standby);
    standbyBoot = true;
    watchModuleLoads();
  } else {
    if (warmEnv.bootCache !== undefined) hideFromImage();
    const pool = warmEnv.bootCache ?? warmEnv.pool;
    if (
      pool !== undefined &&
      process.env.CONTAINERD_SHIM_WARM_BOOT_CACHE !== '0' &&
      fs.existsSync(path.join(pool, FILE))
    ) {
      bootCache().openBootCache(pool, true);
      cold = true;
    }
  }
}

/**
 * A cold process's boot is over (its action ran; a daemon answered its first request): node's
 * module loading as before, the cache's memory free. No-op elsewhere.
 */
export function endColdBoot(): void {
  if (!cold) return;
  cold = false;
  traceBootCache('cold', bootCache().closeBootCache());
}

/**
 * A daemon adopted from a standby that booted from its pool's cache, which had no serving code
 * yet: the cache re-made with the code of the serving path that ran (boot-cache.ts,
 * writeServingCache; `setFlags` as there), once. No-op elsewhere.
 */
export function writeServingCode(setFlags: (boot: boolean) => void): void {
  if (!standbyBoot) return;
  const cache = bootCache(); // loaded: this process booted as a standby
  if (!cache.servingCacheDue()) return;
  const result = cache.writeServingCache(setFlags);
  trace(
    typeof result === 'number'
      ? `serving code cache: wrote ${result} bytes`
      : `serving code cache not written (${result})`,
  );
}

/** The pool a cold daemon spawned by this process may read the boot cache of (spawn-unix.ts). */
export function coldDaemonBootCache(): string | undefined {
  const pool = warmEnv.pool;
  if (pool === undefined || process.platform !== 'linux') return undefined;
  if (process.env.CONTAINERD_SHIM_WARM_BOOT_CACHE === '0') return undefined;
  return fs.existsSync(path.join(pool, FILE)) ? pool : undefined;
}
