// Warm-start helpers for tests: the standby processes of a pool root (found by the marker the
// launcher puts in their environment), the ready sockets, the launcher's trace, and waiting
// and cleaning up by pid.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { procAlive as alive } from './testbed';

/** Whether `pid` runs (a zombie waiting for its reaper does not). */
export { alive };

const MARKER = '__CONTAINERD_SHIM_STANDBY=';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function environOf(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/**
 * Standby processes (fresh, or action servers between actions) of the pool `root` or of pools
 * under it, by pid.
 */
export function standbyPids(root: string): number[] {
  const exact = `${MARKER}${root}`;
  const prefix = `${exact}/`;
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const env = environOf(Number(name));
    if (env?.some((e) => e === exact || e.startsWith(prefix)) && alive(Number(name)))
      pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}

/** The pool directories under `root` (one per shim build). */
export function pools(root: string): string[] {
  try {
    return fs
      .readdirSync(root)
      .filter((n) => /^[0-9a-f]{32}$/.test(n))
      .map((n) => path.join(root, n));
  } catch {
    return [];
  }
}

/** Entries of `pool` whose names start with `prefix`, sorted (oldest first for sockets). */
function entries(pool: string, prefix: string): string[] {
  try {
    return fs
      .readdirSync(pool)
      .filter((n) => n.startsWith(prefix))
      .sort();
  } catch {
    return [];
  }
}

/** Ready fresh standbys' socket names (s-<time>-<pid>) in `pool`, oldest first. */
export function readySockets(pool: string): string[] {
  return entries(pool, 's-');
}

/** Waiting action servers' socket names (a-<time>-<pid>) in `pool`, oldest first. */
export function serverSockets(pool: string): string[] {
  return entries(pool, 'a-');
}

/** The pid a ready socket name announces. */
export function socketPid(name: string): number {
  return Number(name.slice(name.lastIndexOf('-') + 1));
}

/**
 * The nice value of `pid`'s autogroup (the scheduling group the kernel makes of its session,
 * /proc/<pid>/autogroup); undefined without CONFIG_SCHED_AUTOGROUP.
 */
export function autogroupOf(pid: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/autogroup`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(`/proc/${pid}`)) {
      return undefined;
    }
    throw err;
  }
  const m = / nice (-?\d+)/.exec(text);
  if (!m) throw new Error(`unexpected /proc/${pid}/autogroup: ${text}`);
  return Number(m[1]);
}

/** The cpu cgroup background boots wait in (native/warm/pool.h kBootGroup). */
export const BOOT_GROUP = 'containerd-shim-node-boots';

/**
 * The directory of `pid`'s cgroup in the cpu controller's hierarchy (a v1 hierarchy mounted
 * with the cpu option, else the v2 one), as native/warm/pool.cc finds it; undefined if none.
 */
export function cpuCgroupDir(pid: number | 'self'): string | undefined {
  let v1: string | undefined, v2: string | undefined;
  for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, dir, type, opts] = line.split(' ');
    if (type === 'cgroup2') v2 ??= dir;
    if (type === 'cgroup' && opts!.split(',').includes('cpu')) v1 ??= dir;
  }
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const dir = v1 && m[1]!.split(',').includes('cpu') ? v1 : !v1 && m[1] === '' ? v2 : undefined;
    if (dir !== undefined) return path.join(dir, m[2]!);
  }
  return undefined;
}

/** Whether `pid` is in the boots' idle cpu cgroup. */
export function inBootGroup(pid: number): boolean {
  return path.basename(cpuCgroupDir(pid) ?? '') === BOOT_GROUP;
}

/**
 * Whether a boot of this (root) process could wait in an idle cpu cgroup below its own: the
 * kernel has cpu.idle there (v1), or this v2 cgroup hands the cpu controller down.
 */
export function idleGroupsUsable(): boolean {
  const dir = cpuCgroupDir('self');
  if (dir === undefined || process.getuid!() !== 0) return false;
  if (fs.existsSync(path.join(dir, 'cgroup.subtree_control'))) {
    return fs
      .readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8')
      .split(/\s/)
      .includes('cpu');
  }
  return fs.existsSync(path.join(dir, 'cpu.idle'));
}

/**
 * A preload script (for NODE_OPTIONS=--require) that stops every standby as node starts it: a
 * boot that never gets the CPU; with `gate`, only while that file exists. Written to `file`,
 * whose path it returns.
 */
export function stoppingProbe(file: string, gate?: string): string {
  const when = gate === undefined ? '' : ` && require('fs').existsSync(${JSON.stringify(gate)})`;
  fs.writeFileSync(
    file,
    `if (process.env.__CONTAINERD_SHIM_STANDBY${when}) process.kill(process.pid, 'SIGSTOP');`,
  );
  return file;
}

/**
 * Boots `binary`'s pool (`--containerd-shim-prewarm`, with containerd's environment `env`) and
 * returns the pool directory it uses.
 */
export function prewarm(binary: string, env: Record<string, string>): string {
  const r = spawnSync(binary, ['--containerd-shim-prewarm'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0 || !r.stdout.startsWith('/'))
    throw new Error(`${binary} --containerd-shim-prewarm: ${r.status} ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Moves `pool`'s boots under way out of the idle cpu cgroup (BOOT_GROUP), as a top-up does when
 * claims miss: for tests that only need a warm pool. On a busy machine a background boot gets
 * no CPU at all (by design: the cold path serves meanwhile), so such a test would wait for idle
 * CPU instead of testing what it is about.
 */
function raiseBoots(pool: string): void {
  for (const name of fs.readdirSync(pool)) {
    if (!name.startsWith('b-')) continue;
    try {
      const pid = Number(fs.readFileSync(path.join(pool, name), 'utf8'));
      if (!(pid > 0) || !inBootGroup(pid)) continue;
      const group = cpuCgroupDir(pid)!;
      fs.writeFileSync(path.join(path.dirname(group), 'cgroup.procs'), String(pid));
      // As the last boot out does (pool.cc LeaveIdleGroup): no empty group left behind.
      fs.rmdirSync(group);
    } catch {
      // gone, or ready meanwhile (it left the group itself); the group still in use (EBUSY)
    }
  }
}

/**
 * Waits until `pool` has at least `n` ready standbys. Liveness only: boots run at SCHED_IDLE.
 * `raise`: boots waiting in the idle cpu cgroup are moved out of it (see raiseBoots).
 */
export async function waitReady(
  pool: string,
  n: number,
  timeoutMs = 120_000,
  raise = false,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (readySockets(pool).length < n) {
    if (Date.now() > until)
      throw new Error(`${pool} did not get ${n} ready standbys in ${timeoutMs} ms`);
    if (raise) raiseBoots(pool);
    await sleep(50);
  }
}

/**
 * The environment of a private pool at `root` (created 0700) for one-standby tests: pool size 1,
 * an idle minute, the launcher's trace in `log`.
 */
export function onePoolEnv(root: string, log: string): Record<string, string> {
  fs.mkdirSync(root, { mode: 0o700 });
  return {
    CONTAINERD_SHIM_WARM_DIR: root,
    CONTAINERD_SHIM_WARM_LOG: log,
    CONTAINERD_SHIM_WARM_POOL: '1',
    CONTAINERD_SHIM_WARM_IDLE_MS: '60000',
  };
}

/**
 * Waits until `pool` has a ready standby and no boot in flight (a boot that gets ready sweeps and
 * tops up the pool: tests that plant or change files wait for this first). Liveness only: boots
 * run at SCHED_IDLE. `raise`: boots waiting in the idle cpu cgroup are moved out of it
 * (raiseBoots).
 */
export async function waitSettled(pool: string, timeoutMs = 180_000, raise = false): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (readySockets(pool).length < 1 || fs.readdirSync(pool).some((n) => n.startsWith('b-'))) {
    if (Date.now() > until) throw new Error(`no settled pool: ${fs.readdirSync(pool).join(' ')}`);
    if (raise) raiseBoots(pool);
    await sleep(50);
  }
}

/** Waits until no standby of `root` is alive; returns those still alive after `timeoutMs`. */
export async function waitNoStandbys(root: string, timeoutMs: number): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  let left = standbyPids(root);
  while (left.length > 0 && Date.now() < until) {
    await sleep(100);
    left = standbyPids(root);
  }
  return left;
}

/**
 * Pids (not ours) with a file of a pool of `root` open: a launcher claiming, a top-up helper
 * waiting for or holding the pool lock, a boot holding its `b-` marker before it exec's node.
 */
function poolHolders(root: string): number[] {
  const dirs = new Set(pools(root));
  if (dirs.size === 0) return [];
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${name}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    const holds = fds.some((fd) => {
      try {
        return dirs.has(path.dirname(fs.readlinkSync(`/proc/${name}/fd/${fd}`)));
      } catch {
        return false;
      }
    });
    if (holds && alive(Number(name))) pids.push(Number(name));
  }
  return pids;
}

/**
 * SIGKILLs every standby of `root` (by pid) until none is left and no process has a pool file
 * open: a top-up helper that outlives its launcher can boot replacements after a first round of
 * kills (under load it waits a while for the pool lock). Bounded (liveness only); callers check.
 */
export async function killStandbys(root: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pids = standbyPids(root);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (pids.length === 0 && poolHolders(root).length === 0) return;
    if (Date.now() > until) return;
    await sleep(100);
  }
}

/** The lines of a CONTAINERD_SHIM_WARM_LOG trace, without the time and pid prefix. */
export function traceLines(file: string): string[] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^\S+ pid=\d+ /, ''));
  } catch {
    return [];
  }
}

/**
 * Writes `<dir>/entry.js`, a shim whose `delete` writes `written` (a JavaScript expression) to
 * $PROBE_OUT and which serves nothing, with `before` and `after` (statements) around its
 * `require` of the SDK, and packages it as `<dir>/containerd-shim-<name>-v1`. Returns the binary.
 */
export function packageProbeShim(
  dir: string,
  name: string,
  code: { before?: string; after?: string; written: string },
): string {
  const top = path.resolve(__dirname, '..', '..', '..');
  const entry = path.join(dir, 'entry.js');
  const binary = path.join(dir, `containerd-shim-${name}-v1`);
  fs.writeFileSync(
    entry,
    `'use strict';
const fs = require('node:fs');
${code.before ?? ''}
const { run } = require(${JSON.stringify(path.join(top, 'dist', 'lib', 'index.js'))});
${code.after ?? ''}
class Probe {
  startShim() { return 'unix:///nowhere'; }
  async deleteShim() { fs.writeFileSync(process.env.PROBE_OUT, ${code.written}); return {}; }
  wait() { return new Promise(() => undefined); }
  createTaskService() { throw new Error('not serving'); }
}
void run('io.containerd.${name}.v1', Probe);
`,
  );
  const r = spawnSync(
    process.execPath,
    [path.join(top, 'bin', 'containerd-shim'), 'package', entry, '-o', binary],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`containerd-shim package: ${r.status} ${r.stderr}`);
  return binary;
}
