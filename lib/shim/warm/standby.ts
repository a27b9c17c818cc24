// A standby: a Node process of a shim, booted by the launcher ahead of demand with the shim's
// modules loaded, waiting on its own socket in the pool directory for work. Handed the daemon
// role, it becomes the serving daemon (never reused). Handed an action (`start`, `delete`, `-v`,
// `-info`), it runs it and, when the action left the process clean, goes back to waiting as an
// "action server": JIT-warm for the next action, published under another name (a-... instead
// of s-..., native/warm/claim.h) so that actions prefer it and the daemon role never takes it.
//
// Until it is handed work it runs nothing of the shim: no timers but its idle timer, no handles
// but its listening socket, no signal handlers. When handed work it first becomes the process a
// cold start would have created (the requester's cgroups, OOM score, scheduling, rlimits and
// umask; the argv, environment and cwd it was sent; /proc's cmdline and environ; fds 0-2 or 3),
// drops its own handles, and returns to run(), which then dispatches exactly as in a cold
// process.
//
// After an action (reuse()): fds 0-2 become /dev/null, cwd, umask and the /proc image go back
// to their boot state, the process publishes itself again, and only then sends the status (the
// caller's next action finds it waiting); its environment and argv go back after that. It exits instead (after the
// status) when the action left anything behind: a handle, request or timer, an fd, a process
// listener (an 'exit' or signal handler), or called process.exit(); after MAX_USES actions; when
// its RSS grew more than RSS_GROWTH past its post-boot figure; when as many action servers as
// the pool's demand asks for are waiting already (serverLimit).
//
// Exits by itself: after CONTAINERD_SHIM_WARM_IDLE_MS (default 60 s) without work; when a
// module it loaded changed on disk (an upgrade: it answers "stale" and exits); when the client
// goes away. Once ready it boots what the pool lacks (refill), but only within the idle timeout
// of the invocation that started the boots, so a quiet machine ends with no standby at all.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { linux, posix } from '../../native';
import type { WarmRequest } from '../../native';
import { stopWatchingModuleLoads } from './boot-hook';
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
/** Actions one process serves before it exits (a fresh one takes over). */
export const MAX_USES = 200;
/**
 * Action servers kept waiting at once without demand; one more exits after its action instead
 * of waiting. A burst keeps more (serverLimit).
 */
export const MIN_SERVERS = 2;
/** Claims counted as demand: those of the last 2 s (native/warm/pool.h kDemandWindowMs). */
const DEMAND_WINDOW_NS = 2_000_000_000n;
/**
 * RSS an action server may gain over its post-boot figure (~54 MiB for the runc shim; its first
 * action adds ~1 MiB of code and heap, 16 more add ~2 MiB, mostly young generation).
 */
export const RSS_GROWTH = 16 << 20;
/** Event loop turns an action's closed handles get to go away before it counts as unclean. */
const SETTLE_TURNS = 3;

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

/**
 * Records the identity of every loaded module file not recorded yet, to notice an upgrade
 * before taking work (linux.moduleWatchChanged: inotify says whether anything may have changed
 * since the last check, so a takeover stats the ~165 files only after an event).
 */
function snapshotModules(): void {
  linux.moduleWatchAdd(Object.keys(require.cache));
}

type Exiting = { reallyExit(code?: number): never };

/**
 * The action's exit status for the client when the action ends the process (process.exit()
 * in the shim's code, an uncaught exception). process.exit() ends in process.reallyExit() once
 * every 'exit' listener ran: the status sent from there is final (all output written), and the
 * client relays at once instead of waiting out node's teardown. Exits that bypass it (an
 * uncaught exception) send it from an 'exit' listener, not final: the client then waits for the
 * connection to close, so what later listeners write still counts. Returns the undo (an action
 * that returned normally).
 */
function reportExit(conn: number, f: Fault | undefined): () => void {
  const onExit = (code: number): void => {
    die(f, 'result', 'action');
    linux.warmReply(conn, code, false);
  };
  process.once('exit', onExit);
  const exiting = process as unknown as Exiting;
  const reallyExit = exiting.reallyExit;
  exiting.reallyExit = (code?: number): never => {
    linux.warmReply(conn, code ?? 0, true);
    return reallyExit.call(process, code);
  };
  return () => {
    process.removeListener('exit', onExit);
    exiting.reallyExit = reallyExit;
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
  onDevNull([3]); // closes the marker: its lock goes with it
  return true;
}

/** Puts /dev/null on `fds` (whatever they held is closed). */
function onDevNull(fds: readonly number[]): void {
  const nul = fs.openSync('/dev/null', 'r+');
  for (const fd of fds) posix.dup2(nul, fd);
  fs.closeSync(nul);
}

function replaceEnv(entries: readonly string[]): void {
  for (const key of Object.keys(process.env)) delete process.env[key];
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq > 0) process.env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
}

function envEntries(): string[] {
  return Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
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

/** CONTAINERD_SHIM_WARM_MAX as the pool reads it (native/warm/pool.cc MaxTarget). */
function maxTarget(): number {
  const v = process.env.CONTAINERD_SHIM_WARM_MAX;
  if (v === undefined || v === '') return 16;
  return /^\d+$/.test(v) ? Math.min(Number(v), 64) : 16;
}

/**
 * How many action servers may wait in a pool whose directory holds `names`, its `lock` file
 * reading `lock`, at CLOCK_MONOTONIC time `now` (ns): as many as the claims of the last 2 s
 * (the d-/m- markers, native/warm/pool.h), or the target that demand grew (held for an idle
 * timeout after a burst that missed), at least MIN_SERVERS, at most `max`
 * (CONTAINERD_SHIM_WARM_MAX). A burst of N containers runs N `start`s and, later, N `delete`s
 * at once: with N action servers kept, those take no fresh standby (each one taken boots a
 * replacement, ~80 ms of CPU). The extra ones idle out like any standby.
 */
export function serverLimit(
  names: readonly string[],
  lock: string,
  now: bigint,
  max: number,
): number {
  let demand = 0;
  for (const name of names) {
    const m = /^[dm]-([0-9a-f]{16})-\d+$/.exec(name);
    if (m === null) continue;
    const t = BigInt(`0x${m[1]}`);
    if (t <= now && now - t <= DEMAND_WINDOW_NS) demand++;
  }
  // "<target> <16 hex: monotonic ns until it holds>\n" (pool.cc HeldTarget).
  const held = /^\s*(\d+) ([0-9a-f]{16})\n?$/.exec(lock);
  const grown = held !== null && now <= BigInt(`0x${held[2]}`) ? Number(held[1]) : 0;
  return Math.max(MIN_SERVERS, Math.min(Math.max(demand, grown), max));
}

/**
 * What an action could leave behind: active handles/requests/timers and process listeners (how
 * many of each), and open fds (linux.warmFdIds: number and file identity, /dev/null aside).
 */
interface Census {
  counts: Map<string, number>;
  fds: Set<string>;
}

function counts(): Map<string, number> {
  const c = new Map<string, number>();
  const add = (key: string, n = 1): void => void c.set(key, (c.get(key) ?? 0) + n);
  for (const r of process.getActiveResourcesInfo()) add(`resource ${r}`);
  for (const name of process.eventNames()) {
    add(`process '${String(name)}' listener`, process.listenerCount(name));
  }
  return c;
}

/** linux.warmFdIds() but the fds numbered `skip`. */
function fdIds(skip: readonly number[]): Set<string> {
  const ids = linux.warmFdIds().filter((id) => !skip.includes(parseInt(id, 10)));
  return new Set(ids);
}

/** What an fd id of warmFdIds names, for the trace (only when something was left). */
function describeFd(id: string): string {
  const fd = parseInt(id, 10);
  try {
    return `fd ${fd} ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
  } catch {
    return `fd ${fd}`;
  }
}

/** What `after` holds beyond `before` (undefined when nothing). */
function leftOver(before: Census, after: Census): string | undefined {
  const extra: string[] = [];
  for (const [key, n] of after.counts) if (n > (before.counts.get(key) ?? 0)) extra.push(key);
  // A new fd, or one whose number now names another file (closed, then reused).
  for (const id of after.fds) if (!before.fds.has(id)) extra.push(describeFd(id));
  return extra.length > 0 ? `left ${extra.join(', ')}` : undefined;
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

/** A standby's side of run(): wait for work, and after an action, maybe wait again. */
export interface Standby {
  /**
   * Waits until handed work and turns this process into the one a cold start would be; then
   * run() dispatches. Never resolves when there is no work: the process exits.
   */
  work(): Promise<'action' | 'daemon'>;
  /**
   * After an action that returned (`status`: 0, or 1 with its message written): sends the
   * status and waits again (true), unless the process is not clean enough or `allowed` is
   * false (false: the caller exits with the status, which reaches the client as before).
   */
  reuse(status: number, allowed: boolean): Promise<boolean>;
}

/**
 * Makes this process a standby of `pool`: `preload` loads the modules the shim needs (before
 * the standby announces itself). Exits the process when that fails.
 */
export function openStandby(pool: string, preload: () => void): Standby {
  try {
    return new StandbyProcess(pool, preload);
  } catch (err) {
    // A shim whose preload throws, a pool it cannot listen in: say why, and leave the work to
    // the cold path (the boot marker's lock goes with this process).
    trace(`standby could not start: ${(err as Error).message}`);
    process.exit(1);
  }
}

class StandbyProcess implements Standby {
  private readonly f = fault();
  private readonly idle = idleMs();
  private readonly bootCmdline: string[];
  private readonly bootEnviron: string[];
  private readonly bootEnv: string[];
  private readonly bootArgv: string[];
  private readonly bootUmask: number;
  private readonly fd3Free: boolean;
  /** Its socket in the pool, while published. */
  private ready = '';
  private listener = -1;
  private uses = 0;
  /** CONTAINERD_SHIM_WARM_MAX of its boot environment (an action's may differ). */
  private readonly maxServers = maxTarget();
  /** RSS once booted (modules loaded). */
  private readonly rss: number;
  /**
   * During an action: its connection, the undo of reportExit, the census before it (its fds
   * taken while idle, off containerd's clock: the listener aside, which the action never sees).
   */
  private conn = -1;
  private unhook: (() => void) | undefined;
  private before: Census | undefined;

  constructor(
    private readonly pool: string,
    preload: () => void,
  ) {
    preload();
    snapshotModules();
    this.bootCmdline = readList('cmdline');
    this.bootEnviron = readList('environ');
    this.bootEnv = envEntries();
    this.bootArgv = [...process.argv];
    this.bootUmask = process.umask();
    if (warmEnv.standbyNice !== undefined) {
      try {
        linux.warmRenice(warmEnv.standbyNice); // booted at nice 19, off the critical path
      } catch {
        // stays low; the handover sets the requester's value
      }
    }
    this.publish('s');
    // Only now: until its socket is published the boot marker keeps this standby counted.
    this.fd3Free = releaseBootMarker(pool);
    this.rss = process.memoryUsage.rss();
    refill(pool, this.bootCmdline, this.bootEnviron, this.idle);
  }

  /** Listens on a new socket and publishes it as `<kind>-<time>-<pid>` (claim.h). */
  private publish(kind: 's' | 'a'): void {
    const temp = path.join(this.pool, `t-${process.pid}`);
    fs.rmSync(temp, { force: true });
    this.listener = posix.unixListen(temp, false, 8);
    fs.chmodSync(temp, 0o600);
    this.ready = path.join(
      this.pool,
      `${kind}-${process.hrtime.bigint().toString(16).padStart(16, '0')}-${process.pid}`,
    );
    fs.renameSync(temp, this.ready); // published only once it listens
  }

  work(): Promise<'action' | 'daemon'> {
    const { pool, f, listener } = this;
    const ready = this.ready;
    const idleFds = fdIds([listener]);
    return new Promise((resolve) => {
      let timer = setTimeout(onIdle, this.idle);
      let watcherClosed = false;
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

      const takeOver = (conn: number, peer: number): void => {
        clearTimeout(timer);
        watcher.close();
        watcherClosed = true;
        die(f, 'hello');
        const stale = linux.moduleWatchChanged();
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
          this.become(request, peer);
        } catch (err) {
          trace(`standby declined ${request.kind}: ${(err as Error).message}`);
          linux.warmReply(conn, DECLINED, true);
          process.exit(0);
        }
        if (request.kind === 'daemon') {
          linux.warmReply(conn, 0, true);
          posix.closeFd(conn);
        } else {
          this.conn = conn;
          this.unhook = reportExit(conn, f);
          this.before = { counts: counts(), fds: idleFds };
        }
        resolve(request.kind);
      };
    });
  }

  private become(request: WarmRequest, peer: number): void {
    const node = process.execArgv.length;
    if (request.kind === 'daemon') {
      const argv = request.args;
      if (this.uses > 0) throw new Error('an action server never becomes a daemon');
      if (!this.fd3Free) throw new Error('fd 3 is not free in this standby');
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
    const cmdline =
      request.kind === 'daemon' ? request.args : [...this.bootCmdline, ...request.args];
    try {
      linux.warmSetImage(cmdline, request.env);
    } catch (err) {
      if (request.kind === 'daemon') throw err; // ps and tools must see the daemon as it is
    }
    process.chdir(request.cwd);
    if (request.kind === 'daemon') {
      stopWatchingModuleLoads();
      linux.moduleWatchClose(); // a cold daemon has no inotify instance
      posix.dup2(request.fds[0]!, 3);
      posix.closeFd(request.fds[0]!);
    } else {
      request.fds.forEach((fd, target) => posix.dup2(fd, target));
      for (const fd of request.fds) posix.closeFd(fd);
    }
    replaceEnv(request.env);
    warmEnv.standby = undefined;
    warmEnv.pool = undefined;
    takeWarmEnv();
    const args = request.kind === 'daemon' ? request.args.slice(node + 2) : request.args;
    process.argv = [process.execPath, this.bootArgv[1]!, ...args];
  }

  async reuse(status: number, allowed: boolean): Promise<boolean> {
    this.uses++;
    let why = this.dirty(allowed);
    // Handles the action closed are released in the loop's close phase (a child process's,
    // for one): give them a few turns.
    for (let turn = 0; turn < SETTLE_TURNS && why?.startsWith('left '); turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      why = this.dirty(allowed);
    }
    if (why !== undefined) {
      trace(`standby exits after its action: ${why}`);
      return false;
    }
    // containerd must not wait on our copies of its pipes (the launcher relays from memfds, but
    // an action that does not read stdin gets the launcher's own fd 0).
    onDevNull([0, 1, 2]);
    die(this.f, 'result', 'action');
    this.unhook?.();
    this.unhook = undefined;
    // Published again before the status goes out, so that the client's caller, running its
    // next action at once, finds it (a new client waits in the backlog until we listen).
    let exit: string | undefined;
    try {
      this.restoreImage();
      const [servers, limit] = this.servers();
      if (servers >= limit) exit = `${servers} action servers wait already (${limit} kept)`;
    } catch (err) {
      exit = `cannot restore it: ${(err as Error).message}`;
    }
    if (exit === undefined) this.publish('a');
    linux.warmReply(this.conn, status, true);
    // Off containerd's clock from here: nothing runs in this process before we return to the
    // event loop, and nothing outside sees its JS state.
    this.restoreState();
    if (exit === undefined) snapshotModules(); // what the action loaded counts for staleness too
    posix.closeFd(this.conn);
    this.conn = -1;
    if (exit !== undefined) {
      trace(`standby exits after its action: ${exit}`);
      process.exit(0);
    }
    trace(`standby waits again: action server after ${this.uses} action(s)`);
    return true;
  }

  /** Why this process must not serve again (undefined: it may). */
  private dirty(allowed: boolean): string | undefined {
    if (!allowed) return 'the shim turned reuse off';
    if (this.uses >= MAX_USES) return `served ${MAX_USES} actions`;
    // fds 0-2 (the action's stdio, /dev/null once it is done) and the connection are not the
    // action's to close.
    const after = { counts: counts(), fds: fdIds([0, 1, 2, this.conn]) };
    const left = leftOver(this.before!, after);
    if (left !== undefined) return left;
    const rss = process.memoryUsage.rss();
    if (rss > this.rss + RSS_GROWTH) return `RSS grew to ${rss >> 20} MiB`;
    return undefined;
  }

  /**
   * Back to the boot state as seen from outside (what a fresh standby of this pool looks like),
   * before it is published again.
   */
  private restoreImage(): void {
    process.umask(this.bootUmask); // before its socket is created
    process.chdir('/'); // a bundle directory is not kept busy
    // The claim checks /proc/<pid>/environ for the pool's marker.
    linux.warmSetImage(this.bootCmdline, this.bootEnviron);
  }

  /** Back to the boot state inside (environment, argv, exit code): after the status is sent. */
  private restoreState(): void {
    replaceEnv(this.bootEnv);
    warmEnv.pool = undefined;
    warmEnv.standby = this.pool;
    process.argv = [...this.bootArgv];
    process.exitCode = undefined;
  }

  /** Action servers of this pool waiting now, and how many it keeps (serverLimit). */
  private servers(): [number, number] {
    try {
      const names = fs.readdirSync(this.pool);
      let lock = '';
      try {
        lock = fs.readFileSync(path.join(this.pool, 'lock'), 'latin1');
      } catch {
        // no grown target yet
      }
      const limit = serverLimit(names, lock, process.hrtime.bigint(), this.maxServers);
      return [names.filter((n) => n.startsWith('a-')).length, limit];
    } catch {
      return [MIN_SERVERS, MIN_SERVERS];
    }
  }
}
