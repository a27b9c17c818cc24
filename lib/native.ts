// Loads the C++ addon through node-gyp-build: a local build/Release or build/Debug (a build from
// source) if there is one, else the prebuilt binary for this platform, arch and libc from
// prebuilds/<platform>-<arch>/ (see prebuilds/README.md). No binary, or one that does not load,
// is one error with code ERR_NATIVE_ADDON_MISSING that says what is missing and how to build it.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeFrameChannel } from './ttrpc/transport';

/** A batch of frames (native/frame.h BatchBuilder; frame.ts frameAt reads it). */
export type FramesCallback = (
  data: Buffer,
  meta: Float64Array,
  count: number,
  bodies?: Buffer[],
) => void;

/** A queued-frame transport over one connected socket (see native/posix/channel.h). */
export interface NativeChannel extends NativeFrameChannel {
  readonly fd: number;
  /** Queues a frame whose body (`length` bytes) was written at the start of staging(). */
  sendStaged(streamId: number, type: number, flags: number, length: number): number;
  setBusyPoll(microseconds: number): void;
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

export interface NativeFdWatcher {
  start(events: number): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeFrameParser {
  /** The frames this chunk completed, as a channel's onFrames gets them (see frame.ts). */
  push(chunk: Uint8Array): [Buffer, Float64Array, number, Buffer[]?];
  readonly buffered: number;
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

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export interface NativeBinding {
  platform: 'linux' | 'win32' | 'posix';
  maxMessageLength: number;
  writeHighWaterMark: number;
  FrameParser: new () => NativeFrameParser;
  encodeHeader(length: number, streamId: number, type: number, flags: number): Buffer;
  Channel: new (
    fd: number,
    onFrames: FramesCallback,
    onEvent: (kind: number, error?: NodeJS.ErrnoException) => void,
  ) => NativeChannel;
  FdWatcher: new (
    fd: number,
    callback: (events: number, error?: NodeJS.ErrnoException) => void,
  ) => NativeFdWatcher;
  spinStats(): SpinStats;
  /** This thread's staging buffer for NativeChannel.sendStaged (64 KiB). */
  staging(): Buffer;
  /** Tests: spin on every wait for the whole bound, however busy the CPU. */
  spinAlways(on: boolean): void;
  unixListen(path: string, abstract: boolean, backlog?: number): number;
  unixConnect(path: string, abstract: boolean): number;
  accept(fd: number): number[];
  peerCredentials(fd: number): PeerCredentials;
  recvFd(fd: number): { fd: number; data: Buffer } | null;
  sendFd(socket: number, fd: number, data?: string): void;
  socketPair(): [number, number];
  isListeningSocket(fd: number): boolean;
  localAddress(fd: number): string;
  setNonBlocking(fd: number, on: boolean): void;
  setCloexec(fd: number, on: boolean): void;
  closeFd(fd: number): void;
  setSubreaper(on?: boolean): void;
  isSubreaper(): boolean;
  spawn(
    file: string,
    args: string[],
    env: string[] | null,
    cwd: string | null,
    fds: number[],
    setsid: boolean,
    setpgid: boolean,
  ): number;
  dup2(from: number, to: number): void;
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void;
  umount2(target: string, flags?: number): void;
  eventfd(): number;
  setWindowSize(fd: number, columns: number, rows: number): void;
  isTerminal(fd: number): boolean;
  mountFlags: Record<string, number>;
  startReaper(callback: (batch: number[]) => void): void;
  reapNow(): void;
  // Windows only (native/win).
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
  /** Connects to a pipe; retries ERROR_PIPE_BUSY until `timeoutMs`. `pid` -1 where unknown. */
  pipeConnect(path: string, timeoutMs?: number): Promise<{ handle: number; pid: number }>;
  closeHandle(handle: number): void;
  setStdHandleInheritance(inherit: boolean): void;
}

/** "linux x64 glibc 2.36", "linux arm64 musl", "win32 x64". */
function describeHost(): string {
  const parts: string[] = [process.platform, process.arch];
  if (process.platform === 'linux') {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })
      ?.header;
    parts.push(header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'musl');
  }
  return parts.join(' ');
}

/** The binaries in prebuilds/: "linux-x64 (glibc), win32-x64". */
function shippedPrebuilds(root: string): string {
  const dir = path.join(root, 'prebuilds');
  const found: string[] = [];
  try {
    for (const tuple of fs.readdirSync(dir).sort()) {
      for (const file of fs.readdirSync(path.join(dir, tuple))) {
        if (!file.endsWith('.node')) continue;
        const tags = file.split('.').slice(1, -1);
        found.push(tags.length > 0 ? `${tuple} (${tags.join(', ')})` : tuple);
      }
    }
  } catch {
    // no prebuilds/ (a source checkout)
  }
  return found.length > 0 ? found.join(', ') : 'none';
}

function addonError(message: string, cause: unknown): NodeJS.ErrnoException {
  const error = new Error(
    `containerd-shim: ${message}. Build the addon from source with ` +
      '`npm explore containerd-shim -- npm run build:native` (needs python3, make and a C++17 ' +
      'compiler), or set CONTAINERD_SHIM_PREBUILD to a directory holding a matching prebuilds/.',
    { cause },
  ) as NodeJS.ErrnoException;
  error.code = 'ERR_NATIVE_ADDON_MISSING';
  return error;
}

function load(): NativeBinding {
  const root = path.resolve(__dirname, '..', '..');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  let file: string;
  try {
    file = nodeGypBuild.path(root);
  } catch (cause) {
    throw addonError(
      `no native addon for ${describeHost()} (Node ${process.version}): no build/ from source ` +
        `and no prebuilt binary for it (prebuilds/ has: ${shippedPrebuilds(root)})`,
      cause,
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeBinding;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw addonError(
      `the native addon ${path.relative(root, file)} does not load on ${describeHost()} ` +
        `(Node ${process.version}): ${reason}`,
      cause,
    );
  }
}

/** The addon, loaded on first import of this module. */
export const native: NativeBinding = load();
