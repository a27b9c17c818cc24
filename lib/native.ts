// Loads the C++ addon: a prebuilt binary from prebuilds/<platform>-<arch>/ (node-gyp-build), or a
// local build/ when the package was compiled from source.
import * as path from 'node:path';

/** A queued-frame transport over one connected socket (see native/posix/channel.h). */
export interface NativeChannel {
  send(streamId: number, type: number, flags: number, payload?: Uint8Array): number;
  close(graceful?: boolean): void;
  pauseReading(): void;
  resumeReading(): void;
  ref(): void;
  unref(): void;
  readonly buffered: number;
  readonly fd: number;
}

export interface NativeFdWatcher {
  start(events: number): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeFrameParser {
  push(chunk: Uint8Array): (number | Uint8Array)[];
  readonly buffered: number;
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
    onFrames: (batch: (number | Uint8Array)[]) => void,
    onEvent: (kind: number, error?: NodeJS.ErrnoException) => void,
  ) => NativeChannel;
  FdWatcher: new (
    fd: number,
    callback: (events: number, error?: NodeJS.ErrnoException) => void,
  ) => NativeFdWatcher;
  unixListen(path: string, abstract: boolean, backlog?: number): number;
  unixConnect(path: string, abstract: boolean): number;
  accept(fd: number): number[];
  peerCredentials(fd: number): PeerCredentials;
  recvFd(fd: number): { fd: number; data: Buffer } | null;
  sendFd(socket: number, fd: number, data?: string): void;
  socketPair(): [number, number];
  isListeningSocket(fd: number): boolean;
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
  startReaper(callback: (batch: number[]) => void): void;
  reapNow(): void;
}

function libc(): string {
  if (process.platform !== 'linux') return '';
  const report = process.report?.getReport() as
    { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime
    ? `glibc ${report.header.glibcVersionRuntime}`
    : 'musl';
}

function load(): NativeBinding {
  const root = path.resolve(__dirname, '..', '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
    return nodeGypBuild(root);
  } catch (cause) {
    const where = [process.platform, process.arch, libc()].filter(Boolean).join(' ');
    const error = new Error(
      `containerd-shim: no native addon for ${where} (node ${process.version}): no matching prebuilds/ ` +
        `binary and no build/ from source; build it with \`npm run build:native\` (needs python3, make, g++)`,
      { cause },
    ) as NodeJS.ErrnoException;
    error.code = 'ERR_NATIVE_ADDON_MISSING';
    throw error;
  }
}

/** The addon, loaded on first import of this module. */
export const native: NativeBinding = load();
