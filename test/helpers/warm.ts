// Warm-start helpers for tests: the standby processes of a pool root (found by the marker the
// launcher puts in their environment), the ready sockets, the launcher's trace, and waiting
// and cleaning up by pid.
import * as fs from 'node:fs';
import * as path from 'node:path';

const MARKER = '__CONTAINERD_SHIM_STANDBY=';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function environOf(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Standby processes (not yet handed work) of pools under `root`, by pid. */
export function standbyPids(root: string): number[] {
  const prefix = `${MARKER}${root}/`;
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const env = environOf(Number(name));
    if (env?.some((e) => e.startsWith(prefix)) && alive(Number(name))) pids.push(Number(name));
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

/** Ready standbys' socket names (s-<time>-<pid>) in `pool`, oldest first. */
export function readySockets(pool: string): string[] {
  try {
    return fs
      .readdirSync(pool)
      .filter((n) => n.startsWith('s-'))
      .sort();
  } catch {
    return [];
  }
}

/** The pid a ready socket name announces. */
export function socketPid(name: string): number {
  return Number(name.slice(name.lastIndexOf('-') + 1));
}

/**
 * Waits until `pool` (or, when undefined, the only pool under `root`) has at least `n` ready
 * standbys. Liveness only: standbys boot at nice 19 and the machine may be busy.
 */
export async function waitReady(root: string, n: number, timeoutMs = 120_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = pools(root).find((p) => readySockets(p).length >= n);
    if (found) return found;
    if (Date.now() > until)
      throw new Error(`no pool under ${root} got ${n} ready standbys in ${timeoutMs} ms`);
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

/** SIGKILLs every standby of `root` (by pid) and waits until they are gone. */
export async function killStandbys(root: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const pids = standbyPids(root);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
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
