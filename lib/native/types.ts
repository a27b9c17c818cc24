// The native addon's exports, by the part of native/ that provides them. Which parts a build has
// depends on its platform: Linux has core + posix + linux, another POSIX system (macOS, the BSDs)
// core + posix, Windows core + win (see index.ts).
import type { NativeFrameChannel } from '../ttrpc/transport';

/**
 * A batch of frames, as the channels hand them to JavaScript (native/frame.h BatchBuilder): `count`
 * frames described in `meta` as (head, offset, length), payloads in `data` or, for large ones read
 * into buffers of their own, in `bodies` (see lib/ttrpc/client.ts onFrames).
 */
export type FramesCallback = (
  data: Buffer,
  meta: Float64Array,
  count: number,
  bodies?: Buffer[],
) => void;

/** A queued-frame transport over one connected socket (native/posix/channel.h). */
export interface NativeChannel extends NativeFrameChannel {
  readonly fd: number;
  /** Adaptive busy polling's bound (native/posix/spin.h); 0 turns it off. */
  setBusyPoll(microseconds: number): void;
  /** Queues a frame whose body (`length` bytes) was written at the start of staging(). */
  sendStaged(streamId: number, type: number, flags: number, length: number): number;
}

/** What adaptive busy polling did in this thread so far (native/posix/channel.cc). */
export interface SpinStats {
  /** Spins started; each ends with I/O (hits), its budget spent (timeouts) or a busy CPU. */
  spins: number;
  hits: number;
  timeouts: number;
  contended: number;
  /** Spins not started on a busy machine (more threads runnable than CPUs, or CPU pressure). */
  busy: number;
  spinNanos: number;
}

/** A queued-frame (or, raw, byte) transport over one connected named pipe (native/win/pipe.h). */
export interface NativePipeChannel extends NativeFrameChannel {
  /** Raw bytes (raw-mode channels). */
  write(data: Uint8Array): number;
  /** The pipe's DACL as SDDL. */
  securityDescriptor(): string;
  readonly handle: number;
}

/** A named-pipe server: pipe instances waiting for clients (native/win/pipe.h). */
export interface NativePipeListener {
  close(): void;
  ref(): void;
  unref(): void;
  /** The security descriptor the pipe was created with. */
  readonly sddl: string;
  readonly path: string;
}

/** Readiness of an fd the caller owns (native/posix/watcher.cc). */
export interface NativeFdWatcher {
  /** events: 1 readable, 2 writable. */
  start(events: number): void;
  stop(): void;
  /** Stops watching for good; the fd stays open. */
  close(): void;
  ref(): void;
  unref(): void;
}

export interface PeerCredentials {
  /** -1 where the platform cannot tell (getpeereid has no pid). */
  pid: number;
  uid: number;
  gid: number;
}

/** The addon's build: "linux", "posix" (another POSIX system) or "win32". */
export type NativePlatform = 'linux' | 'win32' | 'posix';

/** Every build. */
export interface CoreBinding {
  platform: NativePlatform;
}

/** POSIX builds (Linux included): sockets, fds, terminals, process spawning. */
export interface PosixBinding {
  Channel: new (
    fd: number,
    onFrames: FramesCallback,
    onEvent: (kind: number, error?: NodeJS.ErrnoException) => void,
  ) => NativeChannel;
  /** Queued output past which a Channel's writers wait for a drain event. */
  writeHighWaterMark: number;
  /** This thread's staging buffer for NativeChannel.sendStaged (8 KiB). */
  staging(): Buffer;
  /** What adaptive busy polling did in this thread so far. */
  spinStats(): SpinStats;
  /** Tests: spin on every wait for the whole bound, however busy the CPU. */
  spinAlways(on: boolean): void;
  FdWatcher: new (
    fd: number,
    callback: (events: number, error?: NodeJS.ErrnoException) => void,
  ) => NativeFdWatcher;
  /** Abstract names (`abstract` true) exist on Linux only. */
  unixListen(path: string, abstract: boolean, backlog?: number): number;
  unixConnect(path: string, abstract: boolean): number;
  /** Up to 64 pending connections: [fd, pid, uid, gid, ...]. */
  accept(fd: number): number[];
  peerCredentials(fd: number): PeerCredentials;
  /** One message with (or, fd -1, without) a descriptor; null when nothing is pending. */
  recvFd(fd: number): { fd: number; data: Buffer } | null;
  socketPair(): [number, number];
  isListeningSocket(fd: number): boolean;
  localAddress(fd: number): string;
  setNonBlocking(fd: number, on: boolean): void;
  setCloexec(fd: number, on: boolean): void;
  closeFd(fd: number): void;
  dup2(from: number, to: number): void;
  /** A pipe: [read end, write end], both close-on-exec. */
  pipe(): [number, number];
  setWindowSize(fd: number, columns: number, rows: number): void;
  /** FIONREAD: bytes in a pipe, FIFO or socket not read yet. */
  queuedBytes(fd: number): number;
  /** poll(2) on one fd without waiting: its revents (0 when none of `events` nor an error). */
  pollNow(fd: number, events: number): number;
  /**
   * Starts a program with an exact fd layout; `fds[i]` becomes fd i (-1: /dev/null). Linux:
   * clone(CLONE_VM | CLONE_VFORK), no copy of this process; elsewhere fork/exec.
   */
  spawn(
    file: string,
    args: string[],
    env: string[] | null,
    cwd: string | null,
    fds: number[],
    setsid: boolean,
    setpgid: boolean,
  ): number;
}

/** A warm-start handover request as a standby receives it (native/warm/protocol.h). */
export interface WarmRequest {
  kind: 'action' | 'daemon';
  cwd: string;
  /** action: the arguments after the entry script; daemon: the full command line. */
  args: string[];
  env: string[];
  /** action: stdin, stdout, stderr; daemon: the listening socket. Close-on-exec, ours. */
  fds: number[];
}

/** Linux builds: the subreaper, the exit reaper, mounts, eventfd, malloc trimming, warm start
 * (lib/shim/warm). */
export interface LinuxBinding {
  setSubreaper(on?: boolean): void;
  isSubreaper(): boolean;
  startReaper(callback: (batch: number[]) => void): void;
  reapNow(): void;
  /** A pidfd of `pid` (close-on-exec; ENOSYS before Linux 5.3): readable once the process exits. */
  pidfdOpen(pid: number): number;
  /** Collects that one child's exit: [exitStatus, signal] (as the reaper reports), null while it runs. */
  pidfdReap(pidfd: number, pid: number): [number, number] | null;
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void;
  umount2(target: string, flags?: number): void;
  /**
   * Closes `fds` on a new detached thread (on this one if none can be made): what the kernel
   * does when their last references go (an unmounted filesystem's shutdown) runs there.
   */
  closeDetached(fds: number[]): void;
  eventfd(): number;
  /** MS_* from <sys/mount.h>, as compiled (lib/shim/linux/mount-flags.ts has the same values). */
  mountFlags: Record<string, number>;
  /** malloc_trim(0): free malloc pages back to the kernel; false if none (or not glibc). */
  mallocTrim(): boolean;
  /**
   * One memory-reducing full collection of this isolate, now (critical memory pressure:
   * `v8::Isolate::MemoryPressureNotification`, looked up in the node executable at run time).
   * False where node does not export it.
   */
  v8ReduceMemory(): boolean;
  /** Hands the serving daemon to a ready standby of `pool`; pid 0 (and why) when none took it. */
  warmHandDaemon(
    pool: string,
    node: string,
    cwd: string,
    args: string[],
    env: string[],
    fds: number[],
    timeoutMs: number,
  ): { pid: number; reason?: string; skipped?: string };
  warmHello(fd: number, pool: string, stale: boolean): void;
  warmReceive(fd: number, timeoutMs: number): WarmRequest;
  warmReply(fd: number, status: number, final?: boolean): void;
  /** Takes on the requester's cgroups, OOM score, scheduling, affinity, rlimits and umask. */
  warmAdopt(pid: number): void;
  warmRenice(nice: number): void;
  /** What /proc/self/cmdline and environ show. */
  warmSetImage(argv: string[], env: string[]): void;
  /** `"<fd> <major>:<minor>:<ino>"` (hex) of every open fd but those on /dev/null. */
  warmFdIds(): string[];
  /** Boots standbys until `pool` has `target` (at most `maxBoots` booting at once). */
  warmTopUp(
    pool: string,
    target: number,
    maxBoots: number,
    node: string,
    argv: string[],
    env: string[],
  ): void;
  /**
   * Records the identity (device, inode, size, mtime) of each file not recorded yet and
   * watches it and the directories above it (inotify), for moduleWatchChanged.
   */
  moduleWatchAdd(paths: string[]): void;
  /** Whether a recorded file changed, appeared or went (a stat of each only after an event). */
  moduleWatchChanged(): boolean;
  /** Forgets the recorded files and closes the inotify instance. */
  moduleWatchClose(): void;
  /** A 64-bit checksum (16 hex digits) of a standby's boot cache (not cryptographic). */
  bootCacheChecksum(data: Uint8Array): string;
  /** Each path's device:inode:size:mtimeNs:ctimeNs, '-' when absent, else the stat's errno. */
  bootCacheIdentities(paths: string[]): Array<string | number>;
  /**
   * V8's code cache of `fn` as it is now, with the bytecode of the inner functions that ran
   * (`v8::ScriptCompiler::CreateCodeCacheForFunction`, looked up in node at run time; undefined
   * where node does not export it). `fn` must be a function `vm.compileFunction` returned.
   */
  bootCacheFunctionCode(fn: (...args: never[]) => unknown): Buffer | undefined;
  /**
   * The Latin-1 sources the file `fd` holds from `offset`, `lengths` bytes each (0: none, left
   * undefined), as strings whose characters stay in the file, mapped (V8 external strings),
   * not in V8's heap; undefined where node cannot make such strings.
   */
  bootCacheSources(
    fd: number,
    offset: number,
    lengths: number[],
  ): Array<string | undefined> | undefined;
}

/** Windows builds: named pipes over an I/O completion port. */
export interface WinBinding {
  PipeChannel: new (
    handle: number,
    onFrames: FramesCallback,
    onEvent: (kind: number, error?: NodeJS.ErrnoException) => void,
    raw?: boolean,
  ) => NativePipeChannel;
  PipeListener: new (
    path: string,
    /** `batch` is [handle, clientPid, ...]; null with an error when an accept failed. */
    onConnection: (batch: number[] | null, error?: NodeJS.ErrnoException) => void,
    options?: { sddl?: string; instances?: number },
  ) => NativePipeListener;
  /** Queued output past which a PipeChannel's writers wait for a drain event. */
  writeHighWaterMark: number;
  /** Connects to a pipe; retries ERROR_PIPE_BUSY until `timeoutMs`. `pid` -1 where unknown. */
  pipeConnect(path: string, timeoutMs?: number): Promise<{ handle: number; pid: number }>;
  closeHandle(handle: number): void;
  setStdHandleInheritance(inherit: boolean): void;
}
