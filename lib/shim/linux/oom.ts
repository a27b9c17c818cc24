// OOM notifications for a process's memory cgroup, the way the runc shims get them (Go:
// pkg/oom/v1 and v2; Rust: cgroup v1 only). Linux only.
//
// cgroup v1: an eventfd registered in <memory cgroup>/cgroup.event_control against
// memory.oom_control; the kernel signals it each time the cgroup goes under OOM, and once more
// when the cgroup is removed (rmdir). A readable eventfd whose cgroup directory still exists is
// an OOM; one whose directory is gone ends the watch (as containerd checks cgroup.State()).
// poll() also reads memory.oom_control's `oom_kill` counter when nothing was reported yet, so an
// OOM before the registration is not lost.
//
// cgroup v2: inotify (fs.watch) on memory.events and cgroup.events; onOom runs when the
// `oom_kill` counter has grown (counted from 0, like containerd, so an OOM between the cgroup's
// creation and the watch is still reported). The watch ends when the cgroup is removed, or once
// it is empty (cgroup.events `populated 0`) after a last look at memory.events, as containerd's
// EventChan does.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError } from '../../error-codes';
import { linux, posix } from '../../native';
import type { NativeFdWatcher } from '../../native';
import { cgroupMode, cgroupV1Paths, cgroupV2Path } from './cgroup';

export interface OomWatcher {
  /** Stops watching and releases the fds. Idempotent. */
  close(): void;
  /**
   * Reports an OOM that happened but whose notification has not been handled yet, right now.
   * Call it before publishing a task's exit so the OOM event comes first (containerd#12714).
   */
  poll(): void;
  /** True once closed (by close(), or because the cgroup went away). */
  readonly closed: boolean;
  /** Lets the process exit while watching (the watch keeps the event loop alive by default). */
  unref(): void;
  ref(): void;
}

export interface OomWatchOptions {
  /**
   * Called once when the watch ends by itself: the cgroup was removed (or emptied, v2), or the
   * fds failed (`error`). Not called for close().
   */
  onClose?: (error?: Error) => void;
}

/**
 * Calls `onOom` each time `pid`'s memory cgroup runs out of memory (v1: each OOM notification;
 * v2: each time `oom_kill` grows). The cgroup is looked up once, now; the watch outlives the
 * process and ends when the cgroup is removed. Throws ERR_CGROUP_NO_MEMORY when the process has
 * no memory cgroup (v1 without the memory controller), ENOENT when it is gone.
 */
export function watchOom(
  pid: number,
  onOom: () => void,
  options: OomWatchOptions = {},
): OomWatcher {
  if (cgroupMode() === 'v2') return watchOomV2(cgroupV2Path(pid), onOom, options);
  const memory = cgroupV1Paths(pid).memory;
  if (memory === undefined) {
    throw codedError('ERR_CGROUP_NO_MEMORY', `process ${pid} has no v1 memory cgroup`);
  }
  return watchOomV1(memory, onOom, options);
}

/** The v1 watch on a memory cgroup directory (e.g. /sys/fs/cgroup/memory/<path>). */
export function watchOomV1(
  memoryCgroup: string,
  onOom: () => void,
  options: OomWatchOptions = {},
): OomWatcher {
  const efd = linux.eventfd();
  let watcher: NativeFdWatcher | undefined;
  try {
    const control = fs.openSync(path.join(memoryCgroup, 'memory.oom_control'), 'r');
    try {
      // The kernel resolves both numbers in the writer's fd table, i.e. this process's; it keeps
      // its own references, so memory.oom_control can be closed right after.
      fs.writeFileSync(path.join(memoryCgroup, 'cgroup.event_control'), `${efd} ${control}`);
    } finally {
      fs.closeSync(control);
    }
    watcher = new posix.FdWatcher(efd, (_events, error) => onReadable(error));
    watcher.start(1);
  } catch (err) {
    watcher?.close();
    posix.closeFd(efd);
    throw err;
  }

  let closed = false;
  let reported = 0;
  const counter = Buffer.alloc(8);
  const finish = (error?: Error): void => {
    if (closed) return;
    closed = true;
    (watcher as NativeFdWatcher).close();
    posix.closeFd(efd);
    options.onClose?.(error);
  };

  function onReadable(error?: Error): void {
    if (closed) return;
    if (error !== undefined) {
      finish(error);
      return;
    }
    try {
      fs.readSync(efd, counter, 0, 8, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return; // spurious wakeup
      finish(err as Error);
      return;
    }
    // Removal signals the eventfd too; by then the directory is gone.
    if (!fs.existsSync(memoryCgroup)) {
      finish();
      return;
    }
    reported++;
    onOom();
  }

  // The eventfd only hears of OOMs after its registration. A container can be OOM-killed before
  // that (a busy machine delays the shim between `runc start` and the watch): at the last look,
  // with nothing reported, the cgroup's own `oom_kill` counter (kernel 4.13+, counted from the
  // new cgroup's creation, as v2's) tells.
  function pollCounter(): void {
    if (closed || reported > 0) return;
    let oomKill: bigint | undefined;
    try {
      oomKill = readCounters(path.join(memoryCgroup, 'memory.oom_control')).get('oom_kill');
    } catch {
      return; // gone: the eventfd's removal signal ends the watch
    }
    if (oomKill !== undefined && oomKill > 0n) {
      reported++;
      onOom();
    }
  }

  return {
    close: () => {
      if (closed) return;
      closed = true;
      (watcher as NativeFdWatcher).close();
      posix.closeFd(efd);
    },
    poll: () => {
      onReadable();
      pollCounter();
    },
    get closed() {
      return closed;
    },
    unref: () => watcher?.unref(),
    ref: () => watcher?.ref(),
  };
}

function readCounters(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\S+)\s+(\d+)$/.exec(line.trim());
    if (m !== null) out.set(m[1], BigInt(m[2]));
  }
  return out;
}

/** The v2 watch on a cgroup2 directory. */
export function watchOomV2(
  cgroup: string,
  onOom: () => void,
  options: OomWatchOptions = {},
): OomWatcher {
  const eventsFile = path.join(cgroup, 'memory.events');
  const stateFile = path.join(cgroup, 'cgroup.events');
  if (!fs.existsSync(eventsFile)) {
    throw codedError(
      'ERR_CGROUP_NO_MEMORY',
      `${eventsFile} does not exist (is the memory controller enabled for ${cgroup}?)`,
    );
  }
  let closed = false;
  let lastOomKill = 0n;
  const watchers: fs.FSWatcher[] = [];

  const stop = (): void => {
    closed = true;
    for (const w of watchers) w.close();
  };
  const finish = (error?: Error): void => {
    if (closed) return;
    stop();
    options.onClose?.(error);
  };

  // `initial`: the look right after setting up, which does not end the watch on an empty cgroup
  // (one that gets its processes later).
  const check = (initial = false): void => {
    if (closed) return;
    // Emptiness first, then the counters: the oom_kill of the last process is still seen.
    let empty = false;
    try {
      empty = readCounters(stateFile).get('populated') === 0n;
    } catch {
      // no cgroup.events (removed, or not a real cgroup): decided by memory.events below
    }
    let events: Map<string, bigint>;
    try {
      events = readCounters(eventsFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Removed: ENOENT from open, or ENODEV from read once the cgroup is gone.
      finish(code === 'ENOENT' || code === 'ENODEV' ? undefined : (err as Error));
      return;
    }
    const oomKill = events.get('oom_kill') ?? 0n;
    if (oomKill > lastOomKill) {
      lastOomKill = oomKill;
      onOom();
    }
    if (empty && !initial) finish();
  };

  try {
    watchers.push(fs.watch(eventsFile, { persistent: true }, () => check()));
    if (fs.existsSync(stateFile)) {
      watchers.push(fs.watch(stateFile, { persistent: true }, () => check()));
    }
  } catch (err) {
    stop();
    throw err;
  }
  for (const w of watchers) w.on('error', (err) => finish(err));
  // An OOM before the watch started is reported too (counted from 0), but not synchronously.
  setImmediate(() => check(true));

  return {
    close: () => {
      if (!closed) stop();
    },
    poll: () => check(true),
    get closed() {
      return closed;
    },
    unref: () => watchers.forEach((w) => w.unref()),
    ref: () => watchers.forEach((w) => w.ref()),
  };
}
