// Starting the runc binary: through the addon's spawn where this process can collect the exit of
// that one child without child_process, else through child_process.
//
// child_process.spawn forks the whole Node process (tens of MiB of page tables to copy) and
// waits on the main thread until the child has exec'd: about 1 ms per command in a shim, three
// or more commands per container, all on containerd's clock. The addon's spawn is a
// clone(CLONE_VM | CLONE_VFORK) that copies nothing (native/posix/spawn.cc); its children are not
// libuv's, so their exits come from elsewhere: from the exit monitor's reaper where it runs (a
// shim daemon), else from a pidfd of the child (Linux 5.3+: the `delete` action, a library user),
// which libuv polls and which collects that child alone (a waitpid(-1) would take child_process's
// exits too). Without either, child_process. Pipes are real pipes either way, read and written
// asynchronously by libuv: a net.Socket on the fd, or, for output that is only collected (runc's
// stderr, its JSON on stdout), the fd polled and read here (PipeReader), without a stream: a
// socket's first use costs a daemon ~2 ms of CPU (stream code compiled and run for runc start on
// containerd's clock), and ~0.3 ms each later command, against ~0.6 and ~0.1.
import type * as ChildProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import type { Readable, Writable } from 'node:stream';

import { addonPlatform, linux, posix } from '../native';
import type { NativeFdWatcher } from '../native';
import { monitor, resolveFile, spawnProcess } from '../shim/monitor';

/**
 * A stdio fd of the child: an fd of ours, /dev/null, a pipe to us (a stream in Launched), or, for
 * fds 1 and 2, a pipe whose output is handed to `collect` chunk by chunk (no stream; see
 * Launched.collected).
 */
export type StdioSpec = number | 'ignore' | 'pipe' | Collect;

/** Output read to its end by the launcher: each chunk (a copy of its own) goes to `collect`. */
export interface Collect {
  collect(chunk: Buffer): void;
}

/** How a launched program ended. */
export interface LaunchExit {
  exitStatus: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the program could not be started (e.g. ENOENT); the rest is then null. */
  spawnError?: Error;
}

/** A started program: its pipes (null where the fd was not a pipe), its exit, a way to signal it. */
export interface Launched {
  /** Undefined when the program could not be started. */
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /**
   * Settles once every Collect pipe reached its end (every writer closed it) or was released;
   * at once when there is none. Never rejects.
   */
  readonly collected: Promise<void>;
  /** Stops reading the Collect pipes and closes them (a stray descendant still holds them). */
  releaseCollected(): void;
  /** Settles with the exit (or the spawn error); never rejects. */
  readonly exit: Promise<LaunchExit>;
  /** True until the exit has been collected. */
  readonly running: boolean;
  /** Signals the program while it runs; afterwards (its pid may be another's) does nothing. */
  kill(signal: NodeJS.Signals): void;
}

/** How `launch` starts programs in this process, and who collects their exits. */
export type LaunchMode = 'reaper' | 'pidfd' | 'child_process';

let pidfds: boolean | undefined;

/** Whether this kernel has pidfd_open (Linux 5.3+), probed once on ourselves. */
function havePidfd(): boolean {
  if (pidfds === undefined) {
    pidfds = false;
    if (addonPlatform === 'linux') {
      try {
        posix.closeFd(linux.pidfdOpen(process.pid));
        pidfds = true;
      } catch {
        // ENOSYS (before 5.3), or seccomp: child_process it is
      }
    }
  }
  return pidfds;
}

/** The addon's spawn with the reaper's exits, with a pidfd per child, or child_process. */
export function launchMode(): LaunchMode {
  if (monitor.started) return 'reaper';
  return havePidfd() ? 'pidfd' : 'child_process';
}

/** Whether `launch` uses the addon's spawn. */
export function nativeLaunch(): boolean {
  return launchMode() !== 'child_process';
}

/** Starts `argv` with `stdio` (fds 0-2) and `extraFiles` (fds 3, 4, ...). */
export function launch(argv: string[], stdio: StdioSpec[], extraFiles: number[]): Launched {
  const mode = launchMode();
  return mode === 'child_process'
    ? launchChildProcess(argv, stdio, extraFiles)
    : launchNative(argv, stdio, extraFiles, mode);
}

export function launchChildProcess(
  argv: string[],
  stdio: StdioSpec[],
  extraFiles: number[],
): Launched {
  // Loaded here: a daemon that spawns through the addon never needs it (child_process, dgram and
  // their internals: ~0.1 MiB private).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof ChildProcess;
  const plain = stdio.map((s) => (isCollect(s) ? 'pipe' : s));
  const child = spawn(argv[0], argv.slice(1), { stdio: [...plain, ...extraFiles] });
  const pipes = [child.stdin, child.stdout, child.stderr];
  const collecting: Readable[] = [];
  stdio.forEach((s, i) => {
    const pipe = pipes[i];
    if (!isCollect(s) || i === 0 || pipe === null || pipe === undefined) return;
    const stream = pipe as Readable;
    stream.on('data', (chunk: Buffer) => s.collect(chunk));
    stream.on('error', () => {
      // a read error ends the stream ('close' follows); the exit status tells what happened
    });
    collecting.push(stream);
  });
  const collected = Promise.all(
    collecting.map((s) => new Promise<void>((resolve) => s.once('close', resolve))),
  ).then(() => undefined);
  const exit = new Promise<LaunchExit>((resolve) => {
    child.on('error', (err) => {
      // Only a failed spawn settles here; 'exit' follows for a process that ran.
      if (child.pid === undefined) {
        for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
        resolve({ exitStatus: null, signal: null, spawnError: err });
      }
    });
    child.once('exit', (exitStatus, signal) => resolve({ exitStatus, signal }));
  });
  const running = (): boolean =>
    child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  // (A Collect at fd 0 is a plain pipe, as in launchNative: only output is collected.)
  const own = (i: number, pipe: Readable | Writable | null): Readable | Writable | null =>
    i !== 0 && isCollect(stdio[i]) ? null : pipe;
  return {
    pid: child.pid,
    stdin: own(0, child.stdin) as Writable | null,
    stdout: own(1, child.stdout) as Readable | null,
    stderr: own(2, child.stderr) as Readable | null,
    collected,
    releaseCollected() {
      for (const s of collecting) s.destroy();
    },
    exit,
    get running() {
      return running();
    },
    kill(signal) {
      if (running()) child.kill(signal);
    },
  };
}

function isCollect(s: StdioSpec | undefined): s is Collect {
  return typeof s === 'object' && s !== null;
}

/** Where collected pipes are read into, made on first use (shared: reads are synchronous). */
let readBuffer: Buffer | undefined;

/**
 * Reads our end of a pipe until every writer closed it: polled by libuv (FdWatcher), read
 * without blocking, each chunk copied to `sink`. The fd is ours: closed at the end or close().
 */
class PipeReader {
  private closed = false;
  private readonly watcher: NativeFdWatcher;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    private readonly fd: number,
    private readonly sink: Collect,
  ) {
    posix.setNonBlocking(fd, true);
    this.watcher = new posix.FdWatcher(fd, (_events, error) => this.onReadable(error));
    this.watcher.start(1);
  }

  private onReadable(error: Error | undefined): void {
    if (error !== undefined) {
      this.close(); // as a socket's read error: the output ends; the exit status tells the rest
      return;
    }
    readBuffer ??= Buffer.allocUnsafe(16 * 1024);
    while (!this.closed) {
      let n: number;
      try {
        n = fs.readSync(this.fd, readBuffer, 0, readBuffer.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
        n = 0;
      }
      if (n === 0) {
        this.close();
        return;
      }
      this.sink.collect(Buffer.from(readBuffer.subarray(0, n)));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.close();
    closeFds([this.fd]);
    this.resolveDone();
  }
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

function closeFds(fds: number[]): void {
  for (const fd of fds) {
    try {
      posix.closeFd(fd);
    } catch {
      // nothing else holds it; a failed close still released the number
    }
  }
}

/** An exit as the reaper reports it: exit code, or 128 + signal and the signal. */
interface RawExit {
  status: number;
  signal: number;
}

/**
 * The exit of our child `pid` through a pidfd polled by libuv (the loop stays alive meanwhile).
 * Should no pidfd be had (EMFILE), a 10 ms poll of waitid on the pid; should the reaper have
 * started since and taken the exit (ECHILD), the monitor has it.
 */
function pidfdExit(pid: number): Promise<RawExit | null> {
  let pidfd = -1;
  try {
    pidfd = linux.pidfdOpen(pid);
  } catch {
    // out of fds: poll below
  }
  return new Promise<RawExit | null>((resolve) => {
    let watcher: NativeFdWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (exit: RawExit | Promise<RawExit> | null): void => {
      watcher?.close();
      clearInterval(timer);
      if (pidfd >= 0) posix.closeFd(pidfd);
      resolve(exit);
    };
    const check = (): void => {
      let raw: [number, number] | null;
      try {
        raw = linux.pidfdReap(pidfd, pid);
      } catch {
        // ECHILD: the reaper, started meanwhile, collected it (nothing else here reaps by pid);
        // without it the exit is lost to us and reported as unknown.
        finish(monitor.started ? monitor.waitFor(pid) : null);
        return;
      }
      if (raw !== null) finish({ status: raw[0], signal: raw[1] });
    };
    if (pidfd >= 0) {
      watcher = new posix.FdWatcher(pidfd, check);
      watcher.start(1);
    } else {
      timer = setInterval(check, 10);
    }
  });
}

export function launchNative(
  argv: string[],
  stdio: StdioSpec[],
  extraFiles: number[],
  mode: 'reaper' | 'pidfd' = 'reaper',
): Launched {
  const ours: (number | undefined)[] = []; // our end of each stdio pipe
  const theirs: number[] = []; // the child's ends: closed here once it has them
  const layout: number[] = [];
  let pid: number;
  let exited: Promise<RawExit | null>;
  try {
    for (let i = 0; i < stdio.length; i++) {
      const s = stdio[i];
      if (s === 'pipe' || isCollect(s)) {
        const [r, w] = posix.pipe();
        ours.push(i === 0 ? w : r);
        theirs.push(i === 0 ? r : w);
        layout.push(i === 0 ? r : w);
      } else {
        ours.push(undefined);
        layout.push(s === 'ignore' ? -1 : s);
      }
    }
    layout.push(...extraFiles);
    if (mode === 'reaper') {
      ({ pid, exited } = spawnProcess(argv[0], argv.slice(1), { stdio: layout }));
    } else {
      pid = posix.spawn(resolveFile(argv[0], null), argv, null, null, layout, false, false);
      exited = pidfdExit(pid);
    }
  } catch (err) {
    closeFds(ours.filter((fd): fd is number => fd !== undefined));
    return {
      pid: undefined,
      stdin: null,
      stdout: null,
      stderr: null,
      collected: Promise.resolve(),
      releaseCollected() {},
      exit: Promise.resolve({ exitStatus: null, signal: null, spawnError: err as Error }),
      running: false,
      kill() {},
    };
  } finally {
    closeFds(theirs);
  }
  const readers: PipeReader[] = [];
  const stream = (i: number): net.Socket | null => {
    const fd = ours[i];
    if (fd === undefined) return null;
    const s = stdio[i];
    if (i !== 0 && isCollect(s)) {
      readers.push(new PipeReader(fd, s));
      return null;
    }
    return new net.Socket({ fd, readable: i !== 0, writable: i === 0 });
  };
  const stdin = stream(0);
  const stdout = stream(1);
  const stderr = stream(2);
  const collected = Promise.all(readers.map((r) => r.done)).then(() => undefined);
  let running = true;
  const exit = exited.then((raw): LaunchExit => {
    running = false;
    // As child_process does: input runc never read is dropped with it.
    stdin?.destroy();
    if (raw === null) return { exitStatus: null, signal: null };
    const { status, signal } = raw;
    return signal === 0
      ? { exitStatus: status, signal: null }
      : { exitStatus: null, signal: signalNames.get(signal) ?? null };
  });
  return {
    pid,
    stdin,
    stdout,
    stderr,
    collected,
    releaseCollected() {
      for (const r of readers) r.close();
    },
    exit,
    get running() {
      return running;
    },
    kill(signal) {
      if (!running) return;
      try {
        process.kill(pid, signal);
      } catch {
        // already exited, its exit not yet delivered
      }
    },
  };
}
