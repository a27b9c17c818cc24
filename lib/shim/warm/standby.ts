// A standby: a Node process of a shim, booted by the launcher ahead of demand with the shim's
// modules loaded, waiting on its own socket in the pool directory for exactly one piece of work.
// It serves one action (`start`, `delete`, ...) and exits, or becomes the serving daemon; it is
// never reused, so nothing an action did can leak into the next one.
//
// Until it is handed work it runs nothing of the shim: no timers but its idle timer, no handles
// but its listening socket, no signal handlers. When handed work it first becomes the process a
// cold start would have created (the requester's cgroups, OOM score, scheduling, rlimits and
// umask; the argv, environment and cwd it was sent; /proc's cmdline and environ; fds 0-2 or 3),
// drops its own handles, and returns to run(), which then dispatches exactly as in a cold
// process.
//
// Exits by itself: after CONTAINERD_SHIM_WARM_IDLE_MS (default 60 s) without work; when a
// module it loaded changed on disk (an upgrade: it answers "stale" and exits); when the client
// goes away. Once ready it boots what the pool lacks (refill), but only within the idle timeout
// of the invocation that started the boots, so a quiet machine ends with no standby at all.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { linux, posix } from '../../native';
import type { WarmRequest } from '../../native';
import { takeWarmEnv, warmEnv } from './env';
import { trace } from './trace';

/** RESULT status of a standby that did nothing (native/warm/protocol.h kDeclined). */
const DECLINED = -1;
/** How long an idle standby waits for work (CONTAINERD_SHIM_WARM_IDLE_MS overrides). */
export const DEFAULT_IDLE_MS = 60_000;
/** A standby whose socket was claimed waits this long for the claimer to connect. */
const CLAIM_WAIT_MS = 10_000;
/** Between HELLO and the request (liveness only: a client sends it at once). */
const REQUEST_TIMEOUT_MS = 10_000;

type Fault = { stage: string; kind?: string };

function idleMs(): number {
  const n = Number(process.env.CONTAINERD_SHIM_WARM_IDLE_MS);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_IDLE_MS;
}

/**
 * CONTAINERD_SHIM_WARM_FAULT=<stage>[:<kind>] (tests only): the standby SIGKILLs itself at that
 * point of a handover: `hello` (connection accepted), `request` (request received, nothing
 * done), `result` (action finished, status not yet sent); kind `action` or `daemon` limits it.
 */
function fault(): Fault | undefined {
  const v = process.env.CONTAINERD_SHIM_WARM_FAULT;
  if (!v) return undefined;
  const [stage, kind] = v.split(':');
  return { stage: stage!, kind };
}

function die(f: Fault | undefined, stage: string, kind?: string): void {
  if (f?.stage === stage && (f.kind === undefined || kind === undefined || f.kind === kind)) {
    process.kill(process.pid, 'SIGKILL');
  }
}

/** Identity of every loaded module file, to notice an upgrade before taking work. */
function snapshotModules(): Map<string, string> {
  const map = new Map<string, string>();
  for (const file of Object.keys(require.cache)) map.set(file, signature(file));
  return map;
}

function signature(file: string): string {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` : 'missing';
}

function modulesChanged(snapshot: Map<string, string>): boolean {
  for (const [file, sig] of snapshot) if (signature(file) !== sig) return true;
  return false;
}

type Exiting = { reallyExit(code?: number): never };

/**
 * The action's exit status for the client. process.exit() ends in process.reallyExit() once
 * every 'exit' listener ran: the status sent from there is final (all output written), and the
 * client relays at once instead of waiting out node's teardown. Exits that bypass it (an
 * uncaught exception) send it from an 'exit' listener, not final: the client then waits for the
 * connection to close, so what later listeners write still counts.
 */
function reportExit(conn: number, f: Fault | undefined): void {
  process.once('exit', (code) => {
    die(f, 'result', 'action');
    linux.warmReply(conn, code, false);
  });
  const exiting = process as unknown as Exiting;
  const reallyExit = exiting.reallyExit;
  exiting.reallyExit = (code?: number): never => {
    linux.warmReply(conn, code ?? 0, true);
    return reallyExit.call(process, code);
  };
}

/** The boot marker inherited on fd 3 (pool.h): unlinked, and fd 3 kept busy with /dev/null. */
function releaseBootMarker(pool: string): boolean {
  let target: string;
  try {
    target = fs.readlinkSync('/proc/self/fd/3');
  } catch {
    return false;
  }
  if (path.dirname(target) !== pool || !path.basename(target).startsWith('b-')) return false;
  fs.rmSync(target, { force: true });
  const nul = fs.openSync('/dev/null', 'r+');
  posix.dup2(nul, 3); // closes the marker: its lock goes with it
  fs.closeSync(nul);
  return true;
}

function replaceEnv(entries: readonly string[]): void {
  for (const key of Object.keys(process.env)) delete process.env[key];
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq > 0) process.env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** /proc/self/cmdline or environ as a list (what this process was executed with). */
function readList(file: 'cmdline' | 'environ'): string[] {
  const text = fs.readFileSync(`/proc/self/${file}`, 'utf8');
  return text.split('\0').slice(0, -1);
}

function envCount(name: string, fallback: number): number {
  const n = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isInteger(n) && n >= 0 ? n : fallback;
}

/**
 * Boots what the pool still lacks, with this standby's own boot command and environment: after
 * a burst the pool refills by itself while at most CONTAINERD_SHIM_WARM_BOOTS boot at a time.
 * Only within the idle timeout of the demand that started the chain (its time travels in the
 * boot environment), so standbys idling out never boot their own replacements.
 */
function refill(pool: string, cmdline: string[], environ: string[], idle: number): void {
  const demand = warmEnv.standbyDemand;
  if (demand === undefined || Date.now() - demand > idle) return;
  const target = Math.min(envCount('CONTAINERD_SHIM_WARM_POOL', 3), 64);
  const boots = Math.max(1, Math.min(envCount('CONTAINERD_SHIM_WARM_BOOTS', 2), 64));
  try {
    linux.warmTopUp(pool, target, boots, process.execPath, cmdline, environ);
  } catch {
    // the launcher tops up on the next start
  }
}

/**
 * Waits in `pool` until handed work, then turns this process into the one a cold start would
 * be and resolves (run() then dispatches). Never resolves when there is no work: the process
 * exits. `preload` loads the modules the shim needs (called before the standby announces
 * itself).
 */
export function becomeStandby(pool: string, preload: () => void): Promise<void> {
  try {
    return standby(pool, preload);
  } catch (err) {
    // A shim whose preload throws, a pool it cannot listen in: say why, and leave the work to
    // the cold path (the boot marker's lock goes with this process).
    trace(`standby could not start: ${(err as Error).message}`);
    process.exit(1);
  }
}

function standby(pool: string, preload: () => void): Promise<void> {
  const f = fault();
  const idle = idleMs();
  preload();
  const modules = snapshotModules();
  const bootCmdline = readList('cmdline');
  const bootEnviron = readList('environ');
  if (warmEnv.standbyNice !== undefined) {
    try {
      linux.warmRenice(warmEnv.standbyNice); // booted at nice 19, off the critical path
    } catch {
      // stays low; the handover sets the requester's value
    }
  }

  const temp = path.join(pool, `t-${process.pid}`);
  fs.rmSync(temp, { force: true });
  const listener = posix.unixListen(temp, false, 8);
  fs.chmodSync(temp, 0o600);
  const ready = path.join(
    pool,
    `s-${process.hrtime.bigint().toString(16).padStart(16, '0')}-${process.pid}`,
  );
  fs.renameSync(temp, ready); // published only once it listens
  // Only now: until its socket is published the boot marker keeps this standby counted.
  const fd3Free = releaseBootMarker(pool);
  refill(pool, bootCmdline, bootEnviron, idle);

  return new Promise<void>((resolve) => {
    let timer = setTimeout(onIdle, idle);
    const watcher = new posix.FdWatcher(listener, (_events, error) => {
      if (error) process.exit(1);
      let batch: number[];
      try {
        batch = posix.accept(listener);
      } catch {
        return;
      }
      for (let i = 0; i + 3 < batch.length; i += 4) {
        const [conn, pid, uid] = [batch[i]!, batch[i + 1]!, batch[i + 2]!];
        if (uid !== process.geteuid!() || watcherClosed) {
          posix.closeFd(conn); // not ours to serve
          continue;
        }
        takeOver(conn, pid);
      }
      // A peer of another uid connected (the directory is 0700: it should not have been able
      // to) and our name is gone: nobody can find us any more.
      if (!watcherClosed && !fs.existsSync(ready)) process.exit(0);
    });
    let watcherClosed = false;
    watcher.start(1);

    function onIdle(): void {
      try {
        fs.unlinkSync(ready);
      } catch {
        // Claimed (renamed) just now: the claimer is about to connect.
        timer = setTimeout(() => process.exit(0), CLAIM_WAIT_MS);
        return;
      }
      process.exit(0);
    }

    function takeOver(conn: number, peer: number): void {
      clearTimeout(timer);
      watcher.close();
      watcherClosed = true;
      die(f, 'hello');
      const stale = modulesChanged(modules);
      let request: WarmRequest;
      try {
        linux.warmHello(conn, pool, stale);
        if (stale) process.exit(0);
        request = linux.warmReceive(conn, REQUEST_TIMEOUT_MS);
      } catch {
        process.exit(0); // the client went away: nothing was done
      }
      die(f, 'request', request.kind);
      posix.closeFd(listener);
      fs.rmSync(ready, { force: true });
      try {
        become(request, peer);
      } catch (err) {
        trace(`standby declined ${request.kind}: ${(err as Error).message}`);
        linux.warmReply(conn, DECLINED, true);
        process.exit(0);
      }
      if (request.kind === 'daemon') {
        linux.warmReply(conn, 0, true);
        posix.closeFd(conn);
      } else {
        reportExit(conn, f);
      }
      resolve();
    }

    function become(request: WarmRequest, peer: number): void {
      const node = process.execArgv.length;
      if (request.kind === 'daemon') {
        const argv = request.args;
        if (!fd3Free) throw new Error('fd 3 is not free in this standby');
        if (request.fds.length !== 1) throw new Error('a daemon handover carries one listener');
        if (
          argv.length < node + 2 ||
          !sameList(argv.slice(1, node + 1), process.execArgv) ||
          argv[node + 1] !== process.argv[1]
        ) {
          throw new Error('the daemon command line is not this node and entry script');
        }
      } else if (request.fds.length !== 3) {
        throw new Error('an action handover carries stdin, stdout and stderr');
      }
      linux.warmAdopt(peer);
      const cmdline = request.kind === 'daemon' ? request.args : [...bootCmdline, ...request.args];
      try {
        linux.warmSetImage(cmdline, request.env);
      } catch (err) {
        if (request.kind === 'daemon') throw err; // ps and tools must see the daemon as it is
      }
      process.chdir(request.cwd);
      if (request.kind === 'daemon') {
        posix.dup2(request.fds[0]!, 3);
        posix.closeFd(request.fds[0]!);
      } else {
        request.fds.forEach((fd, target) => posix.dup2(fd, target));
        for (const fd of request.fds) posix.closeFd(fd);
      }
      replaceEnv(request.env);
      warmEnv.standby = undefined;
      takeWarmEnv();
      const args = request.kind === 'daemon' ? request.args.slice(node + 2) : request.args;
      process.argv = [process.execPath, process.argv[1]!, ...args];
    }
  });
}
