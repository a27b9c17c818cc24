// Starting the runc binary: through the addon's spawn when this process runs the exit monitor's
// reaper (a shim daemon does), else through child_process.
//
// child_process.spawn forks the whole Node process (tens of MiB of page tables to copy) and
// waits on the main thread until the child has exec'd: about 1 ms per command in a shim daemon,
// three or more commands per container, all on containerd's clock. The addon's spawn is a
// clone(CLONE_VM | CLONE_VFORK) that copies nothing (native/posix/spawn.cc); its children are not
// libuv's, so their exits must come from the reaper (lib/shim/monitor.ts), which is why it is
// used only where the reaper already runs. Pipes are real pipes either way, read and written
// asynchronously by libuv (net.Socket on the fd).
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import type { Readable, Writable } from 'node:stream';

import { posix } from '../native';
import { monitor, spawnProcess } from '../shim/monitor';

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

/** Whether `launch` uses the addon: a Linux process whose reaper feeds the exit monitor. */
export function nativeLaunch(): boolean {
  return monitor.started;
}

/** Starts `argv` with `stdio` (fds 0-2) and `extraFiles` (fds 3, 4, ...). */
export function launch(argv: string[], stdio: StdioSpec[], extraFiles: number[]): Launched {
  return nativeLaunch()
    ? launchNative(argv, stdio, extraFiles)
    : launchChildProcess(argv, stdio, extraFiles);
}

export function launchChildProcess(
  argv: string[],
  stdio: StdioSpec[],
  extraFiles: number[],
): Launched {
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

export function launchNative(argv: string[], stdio: StdioSpec[], extraFiles: number[]): Launched {
  const ours: (number | undefined)[] = []; // our end of each stdio pipe
  const theirs: number[] = []; // the child's ends: closed here once it has them
  const layout: number[] = [];
  let pid: number;
  let exited: Promise<{ status: number; signal: number }>;
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
    ({ pid, exited } = spawnProcess(argv[0], argv.slice(1), { stdio: layout }));
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
  const exit = exited.then(({ status, signal }): LaunchExit => {
    running = false;
    // As child_process does: input runc never read is dropped with it.
    stdin?.destroy();
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
