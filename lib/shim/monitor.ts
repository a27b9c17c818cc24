// The exit monitor (Rust's `monitor_subscribe`/`monitor_notify_by_pid`, Go's `reaper.Default`):
// the native reaper (native/linux/reaper.cc) collects the exits of this process's children that
// libuv does not own (processes spawned with spawnProcess, orphans reparented to the subreaper)
// and the monitor hands each one to whoever subscribed to its pid and to every 'all' subscriber.
// Nothing is ever dropped: subscriptions queue without bound (unlike Go's 1 s per-exit timeout,
// containerd#12678), and the exits nobody waits for by pid are kept in a bounded table of recent
// exits, so a process that exits before its owner learns its pid (runc's container init exiting
// before Start returns) is still found by waitFor(pid).
//
// child_process keeps working alongside: its children are libuv's and are never reaped here.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError } from '../error-codes';
import { addonPlatform, linux, posix } from '../native';

/** One process exit. */
export interface ExitEvent {
  pid: number;
  /** The exit code, or 128 + the signal number when a signal killed the process. */
  status: number;
  /** The signal that killed the process, 0 when it exited. */
  signal: number;
  /** When the reaper collected the exit. */
  timestamp: Date;
}

export type ExitListener = (event: ExitEvent) => void;

/**
 * A subscription to the exits of one pid or of all processes.
 *
 * Without a listener, events queue (without bound) until read with next() or `for await`. With a
 * listener, each event is passed to it synchronously instead and nothing queues. A pid
 * subscription ends by itself after delivering that pid's exit (a pid exits once; a later process
 * that reuses the number is not this one); an 'all' subscription lasts until unsubscribe().
 */
export interface Subscription extends AsyncIterable<ExitEvent> {
  readonly target: number | 'all';
  /** True once unsubscribed, or once a pid subscription has received its exit. */
  readonly closed: boolean;
  /**
   * The next exit. Queued events stay readable after the subscription closes; past them, next()
   * rejects with ERR_SUBSCRIPTION_CLOSED (also for calls pending when it closes).
   */
  next(): Promise<ExitEvent>;
  /** Stops delivery and removes the subscription from the monitor. Idempotent. */
  unsubscribe(): void;
}

export interface ExitMonitorOptions {
  /** How many exits of unsubscribed pids to keep for waitFor (default 4096). */
  recentExits?: number;
}

export interface WaitForOptions {
  /**
   * Ignore a recorded exit collected before this time: it belonged to an earlier process with
   * the same pid. Take the time before creating the process (e.g. before `runc create`).
   */
  since?: Date;
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

function checkPid(pid: unknown): asserts pid is number {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) {
    throw codedError('ERR_INVALID_ARG_TYPE', `pid must be a positive integer, got ${String(pid)}`, {
      type: TypeError,
    });
  }
}

/** Rethrows a listener's error outside the delivery loop, so the other subscribers still get it. */
function reportListenerError(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

type Taker = (event: ExitEvent | undefined) => void;

class ExitSubscription implements Subscription {
  readonly target: number | 'all';
  #closed = false;
  #queue: ExitEvent[] = [];
  #head = 0;
  #takers: Taker[] = [];
  #listener: ExitListener | undefined;
  #detach: (sub: ExitSubscription) => void;

  constructor(
    target: number | 'all',
    listener: ExitListener | undefined,
    detach: (sub: ExitSubscription) => void,
  ) {
    this.target = target;
    this.#listener = listener;
    this.#detach = detach;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Called by the monitor with each matching exit. */
  deliver(event: ExitEvent): void {
    if (this.#closed) return;
    if (this.target !== 'all') this.#close();
    if (this.#listener !== undefined) {
      try {
        this.#listener(event);
      } catch (err) {
        reportListenerError(err);
      }
    } else {
      const taker = this.#takers.shift();
      if (taker !== undefined) taker(event);
      else this.#queue.push(event);
    }
    if (this.#closed) this.#endTakers();
  }

  #take(): Promise<ExitEvent | undefined> {
    if (this.#head < this.#queue.length) {
      const event = this.#queue[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve(event);
    }
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  next(): Promise<ExitEvent> {
    return this.#take().then((event) => {
      if (event === undefined) {
        throw codedError(
          'ERR_SUBSCRIPTION_CLOSED',
          `the exit subscription (${this.target}) is closed`,
        );
      }
      return event;
    });
  }

  unsubscribe(): void {
    if (this.#closed) return;
    this.#close();
    this.#endTakers();
  }

  #close(): void {
    this.#closed = true;
    this.#detach(this);
  }

  #endTakers(): void {
    const takers = this.#takers;
    this.#takers = [];
    for (const taker of takers) taker(undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<ExitEvent> {
    return {
      next: () =>
        this.#take().then((event): IteratorResult<ExitEvent> =>
          event === undefined ? { value: undefined, done: true } : { value: event, done: false },
        ),
      // Leaving a `for await` loop early unsubscribes.
      return: () => {
        this.unsubscribe();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Whether an ExitMonitor is fed by the native reaper (there is one reaper per process). */
let reaperTaken = false;

/** Routes process exits to subscribers; see the top of this file. */
export class ExitMonitor {
  #byPid = new Map<number, Set<ExitSubscription>>();
  #all = new Set<ExitSubscription>();
  #recent = new Map<number, ExitEvent>();
  #recentLimit: number;
  #started = false;

  constructor(options: ExitMonitorOptions = {}) {
    const limit = options.recentExits ?? 4096;
    if (!Number.isInteger(limit) || limit < 0) {
      throw codedError(
        'ERR_INVALID_ARG_VALUE',
        `recentExits must be a non-negative integer, got ${limit}`,
        { type: RangeError },
      );
    }
    this.#recentLimit = limit;
  }

  /** True once start() has connected this monitor to the native reaper. */
  get started(): boolean {
    return this.#started;
  }

  /**
   * Starts the native reaper (Linux only) feeding this monitor; idempotent. Only one monitor per
   * process can be fed, and only from the main thread: the reaper collects every child of the
   * process that the main thread's libuv loop does not own, so child processes created with
   * child_process in a worker thread would have their exits taken. Making the process a
   * subreaper is separate (`linux.setSubreaper()`).
   */
  start(): this {
    if (this.#started) return this;
    // Linux only: the OS, and an addon built with its Linux layer.
    if (process.platform !== 'linux' || addonPlatform !== 'linux') {
      throw codedError(
        'ERR_UNSUPPORTED_PLATFORM',
        `the exit monitor's reaper is Linux-only (platform ${process.platform})`,
      );
    }
    // From a worker thread, startReaper fails with ERR_REAPER_WORKER (it compares the thread's
    // loop with the main one: no need to load node:worker_threads into every daemon).
    if (reaperTaken) {
      throw codedError('ERR_REAPER_RUNNING', 'the reaper already feeds another ExitMonitor');
    }
    // The first pass runs inside startReaper, so exits may be delivered before it returns.
    linux.startReaper((batch) => this.#onBatch(batch));
    reaperTaken = true;
    this.#started = true;
    return this;
  }

  #onBatch(batch: number[]): void {
    const timestamp = new Date();
    for (let i = 0; i + 2 < batch.length; i += 3) {
      this.notify({ pid: batch[i], status: batch[i + 1], signal: batch[i + 2], timestamp });
    }
  }

  /**
   * Subscribes to the exits of `target` (a pid, or 'all'). Only exits notified after this call
   * are delivered; for an exit that may already have happened, use waitFor().
   */
  subscribe(target: number | 'all', listener?: ExitListener): Subscription {
    if (target !== 'all') checkPid(target);
    if (listener !== undefined && typeof listener !== 'function') {
      throw codedError('ERR_INVALID_ARG_TYPE', 'listener must be a function', { type: TypeError });
    }
    const sub = new ExitSubscription(target, listener, (s) => this.#detach(s));
    if (target === 'all') {
      this.#all.add(sub);
    } else {
      let set = this.#byPid.get(target);
      if (set === undefined) this.#byPid.set(target, (set = new Set()));
      set.add(sub);
    }
    return sub;
  }

  #detach(sub: ExitSubscription): void {
    if (sub.target === 'all') {
      this.#all.delete(sub);
      return;
    }
    const set = this.#byPid.get(sub.target);
    if (set === undefined) return;
    set.delete(sub);
    if (set.size === 0) this.#byPid.delete(sub.target);
  }

  /**
   * Delivers an exit to the pid's subscribers and to the 'all' subscribers, each exactly once
   * (the ones subscribed when notify is called). Without pid subscribers the exit is recorded for
   * waitFor. A listener that throws does not stop delivery: its error is rethrown on the next
   * tick (an uncaughtException).
   */
  notify(event: ExitEvent): void {
    checkPid(event.pid);
    const pidSubs = this.#byPid.get(event.pid);
    if (pidSubs !== undefined && pidSubs.size > 0) {
      for (const sub of [...pidSubs]) sub.deliver(event);
    } else if (this.#recentLimit > 0) {
      this.#recent.delete(event.pid); // re-insert as the newest
      this.#recent.set(event.pid, event);
      if (this.#recent.size > this.#recentLimit) {
        const oldest = this.#recent.keys().next().value as number;
        this.#recent.delete(oldest);
      }
    }
    for (const sub of [...this.#all]) sub.deliver(event);
  }

  /**
   * The exit of `pid`: a recorded one (which this call claims: it is removed from the table), or
   * the next one notified. Use `since` to skip a recorded exit of an earlier process that had the
   * same pid.
   */
  waitFor(pid: number, options: WaitForOptions = {}): Promise<ExitEvent> {
    checkPid(pid);
    const { since, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const recorded = this.#recent.get(pid);
    if (recorded !== undefined) {
      this.#recent.delete(pid);
      if (since === undefined || recorded.timestamp.getTime() >= since.getTime()) {
        return Promise.resolve(recorded);
      }
    }
    const sub = this.subscribe(pid);
    if (signal === undefined) return sub.next();
    return new Promise<ExitEvent>((resolve, reject) => {
      const onAbort = (): void => {
        reject(signal.reason);
        sub.unsubscribe();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      sub.next().then(
        (event) => {
          signal.removeEventListener('abort', onAbort);
          resolve(event);
        },
        () => {
          /* closed by the abort: already rejected */
        },
      );
    });
  }

  /**
   * Discards a recorded exit of `pid`: call it when `pid` is known to name a new process, so a
   * later waitFor(pid) cannot return the old one. Returns whether one was recorded.
   */
  forget(pid: number): boolean {
    return this.#recent.delete(pid);
  }

  /** How many exits are recorded for waitFor. */
  get recordedExits(): number {
    return this.#recent.size;
  }
}

/** The process-wide monitor (Rust's MONITOR, Go's reaper.Default). */
export const monitor = new ExitMonitor();

export interface SpawnProcessOptions {
  /** The environment (an object, or "KEY=value" strings); default: this process's. */
  env?: NodeJS.ProcessEnv | string[];
  cwd?: string;
  /** The parent fds that become the child's fds 0, 1, 2, ...; -1 is /dev/null. Default: all /dev/null. */
  stdio?: number[];
  /** Run the child in a new session (setsid). */
  setsid?: boolean;
  /** Run the child in a new process group (ignored with setsid). */
  setpgid?: boolean;
  /** The monitor that reports the exit (default: `monitor`); it is started if it isn't. */
  monitor?: ExitMonitor;
}

export interface SpawnedProcess {
  pid: number;
  /** Resolves with the exit; never rejects. */
  exited: Promise<ExitEvent>;
  /**
   * Lets the event loop exit while the child runs (the reaper's own handles are unref'd, so it
   * is this process that keeps Node alive until the exit, as a child_process child does).
   */
  unref(): void;
  /** Undoes unref(). */
  ref(): void;
}

// One ref'd timer keeps the event loop alive while any spawnProcess child that is ref'd runs;
// SIGCHLD wakes the loop through libuv's signal pipe, so the timer never needs to fire.
let loopHolds = 0;
let loopHold: NodeJS.Timeout | undefined;

function holdLoop(): void {
  if (loopHolds++ === 0) loopHold = setInterval(() => {}, 0x3fffffff);
}

function releaseLoop(): void {
  if (--loopHolds === 0) {
    clearInterval(loopHold);
    loopHold = undefined;
  }
}

function envStrings(env: NodeJS.ProcessEnv | string[] | undefined): string[] | null {
  if (env === undefined) return null;
  if (Array.isArray(env)) return env;
  const out: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) out.push(`${key}=${value}`);
  }
  return out;
}

/** Resolves a command name without a slash through PATH (the native spawn does no search). */
export function resolveFile(file: string, env: string[] | null): string {
  if (file.includes('/')) return file;
  const pathVar =
    env === null ? process.env.PATH : env.find((e) => e.startsWith('PATH='))?.slice('PATH='.length);
  for (const dir of (pathVar ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, file);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  // Shaped like child_process's own error for a missing command.
  throw Object.assign(new Error(`spawn ${file} ENOENT`), {
    code: 'ENOENT',
    errno: -2,
    syscall: `spawn ${file}`,
    path: file,
  });
}

/**
 * Spawns `file` with `args` through the addon (exact fd layout, no libuv handle) and returns its
 * pid and a promise of its exit, reported by the exit monitor (started if needed).
 */
export function spawnProcess(
  file: string,
  args: readonly string[] = [],
  options: SpawnProcessOptions = {},
): SpawnedProcess {
  const m = options.monitor ?? monitor;
  // Start the reaper first: its first pass runs inside start(), and must not run between the
  // spawn and the subscription below.
  m.start();
  const env = envStrings(options.env);
  const pid = posix.spawn(
    resolveFile(file, env),
    [file, ...args],
    env,
    options.cwd ?? null,
    options.stdio ?? [-1, -1, -1],
    options.setsid === true,
    options.setpgid === true,
  );
  // Race-free: the child's exit can only be collected by the reaper, and the reaper only runs in
  // its own libuv callbacks (SIGCHLD signal handle, check-phase retry) or inside an explicit
  // reapNow()/startReaper() call, never between two synchronous statements of this function. So
  // even if the child has already exited, it is still an unreaped zombie here, and the pid
  // subscription below exists before its exit can be notified. A recorded exit under the same pid
  // belongs to an earlier process (the kernel just handed the number out again): drop it.
  m.forget(pid);
  let held = true;
  let running = true;
  holdLoop();
  const exited = m.subscribe(pid).next();
  void exited.then(() => {
    running = false;
    if (held) releaseLoop();
  });
  return {
    pid,
    exited,
    unref() {
      if (held && running) releaseLoop();
      held = false;
    },
    ref() {
      if (!held && running) holdLoop();
      held = true;
    },
  };
}
