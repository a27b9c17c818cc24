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
// asynchronously by libuv (net.Socket on the fd).
import type * as ChildProcess from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import type { Readable, Writable } from 'node:stream';

import { addonPlatform, linux, posix } from '../native';
import type { NativeFdWatcher } from '../native';
import { monitor, resolveFile, spawnProcess } from '../shim/monitor';

/** A stdio fd of the child: an fd of ours, /dev/null, or a pipe to us. */
export type StdioSpec = number | 'ignore' | 'pipe';

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
  const child = spawn(argv[0], argv.slice(1), { stdio: [...stdio, ...extraFiles] });
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
  return {
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exit,
    get running() {
      return running();
    },
    kill(signal) {
      if (running()) child.kill(signal);
    },
  };
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
      if (s === 'pipe') {
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
      exit: Promise.resolve({ exitStatus: null, signal: null, spawnError: err as Error }),
      running: false,
      kill() {},
    };
  } finally {
    closeFds(theirs);
  }
  const stream = (i: number): net.Socket | null => {
    const fd = ours[i];
    if (fd === undefined) return null;
    return new net.Socket({ fd, readable: i !== 0, writable: i === 0 });
  };
  const stdin = stream(0);
  const stdout = stream(1);
  const stderr = stream(2);
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
