// The launcher's private environment variables (native/warm/protocol.h), taken out of
// process.env as soon as this module loads: the daemon's environment must be what containerd
// passed (and the shim added), nothing of the warm-start machinery's.
//
//   __CONTAINERD_SHIM_POOL=<dir>          set by the launcher: the pool a `start` may hand its
//                                         daemon to
//   __CONTAINERD_SHIM_STANDBY=<dir>       set by the launcher on a standby it boots
//   __CONTAINERD_SHIM_STANDBY_NICE=<n>    that standby's nice value once booted
//   __CONTAINERD_SHIM_STANDBY_DEMAND=<ms> when the invocation that caused its boot happened
//   __CONTAINERD_SHIM_BOOT_CACHE=<dir>    set by a `start` on the daemon it spawns cold: the pool
//                                         whose boot cache it may read (boot-hook.ts; the daemon
//                                         also takes it out of /proc/<pid>/environ)
const POOL = '__CONTAINERD_SHIM_POOL';
const STANDBY = '__CONTAINERD_SHIM_STANDBY';
const STANDBY_NICE = '__CONTAINERD_SHIM_STANDBY_NICE';
const STANDBY_DEMAND = '__CONTAINERD_SHIM_STANDBY_DEMAND';
export const BOOT_CACHE_ENV = '__CONTAINERD_SHIM_BOOT_CACHE';

export interface WarmEnv {
  /** The pool this process may hand the serving role to. */
  pool?: string;
  /** Set when this process is a standby: its pool. */
  standby?: string;
  standbyNice?: number;
  /** Unix ms of the demand that booted this standby (chained refills stop a while after it). */
  standbyDemand?: number;
  /** Set in a daemon spawned cold: the pool whose boot cache it may read. */
  bootCache?: string;
}

export const warmEnv: WarmEnv = {};

/** Moves the private variables from process.env into warmEnv (again after a handover). */
export function takeWarmEnv(): void {
  const env = process.env;
  if (env[POOL] !== undefined) warmEnv.pool = env[POOL] || undefined;
  if (env[STANDBY] !== undefined) warmEnv.standby = env[STANDBY] || undefined;
  if (env[STANDBY_NICE] !== undefined) {
    const nice = Number(env[STANDBY_NICE]);
    warmEnv.standbyNice = Number.isInteger(nice) ? nice : undefined;
  }
  if (env[STANDBY_DEMAND] !== undefined) {
    const ms = Number(env[STANDBY_DEMAND]);
    warmEnv.standbyDemand = Number.isFinite(ms) ? ms : undefined;
  }
  if (env[BOOT_CACHE_ENV] !== undefined) warmEnv.bootCache = env[BOOT_CACHE_ENV] || undefined;
  delete env[POOL];
  delete env[BOOT_CACHE_ENV];
  delete env[STANDBY];
  delete env[STANDBY_NICE];
  delete env[STANDBY_DEMAND];
}

takeWarmEnv();
