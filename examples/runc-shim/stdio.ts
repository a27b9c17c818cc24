// A process's stdio as containerd hands it over: FIFO paths (or file:// URIs) created by the
// client. Without a terminal the container gets the FIFOs directly (no copying in the shim); with
// a terminal runc sends the pty master over a console socket and the shim copies between it and
// the FIFOs.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Code, TtrpcError } from 'containerd-shim';
import { FdPump, setNonBlocking, setWindowSize } from 'containerd-shim/runc';

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK, O_APPEND, O_CREAT } = fs.constants;

function target(uri: string): { kind: 'fifo' | 'file'; path: string } {
  if (uri.startsWith('file://')) return { kind: 'file', path: uri.slice('file://'.length) };
  if (uri.startsWith('fifo://')) return { kind: 'fifo', path: uri.slice('fifo://'.length) };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri);
  if (scheme)
    throw new TtrpcError(Code.UNIMPLEMENTED, `stdio scheme ${scheme[1]}:// is not supported`);
  return { kind: 'fifo', path: uri };
}

/** Opens an output FIFO for writing without blocking (its reader is containerd's client). */
function openOutput(uri: string): number {
  const t = target(uri);
  if (t.kind === 'file') {
    fs.mkdirSync(path.dirname(t.path), { recursive: true });
    return fs.openSync(t.path, O_WRONLY | O_APPEND | O_CREAT, 0o600);
  }
  let fd: number;
  try {
    fd = fs.openSync(t.path, O_WRONLY | O_NONBLOCK);
  } catch (err) {
    // ENXIO: no reader yet; a read-write open never blocks and lets the writer proceed.
    if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    fd = fs.openSync(t.path, O_RDWR | O_NONBLOCK);
  }
  setNonBlocking(fd, false);
  return fd;
}

/** The fds of one process's stdio, and the copies a terminal needs. */
export class ProcessIo {
  private stdinRead = -1;
  /** Our own writer on the stdin FIFO: keeps EOF away until CloseIO (the client may open late). */
  private stdinKeep = -1;
  private stdout = -1;
  private stderr = -1;
  private master = -1;
  private pumps: FdPump[] = [];

  constructor(readonly paths: StdioPaths) {}

  /** Opens the FIFOs; returns the fds runc should pass on (none for a terminal's output). */
  open(): { stdin?: number; stdout?: number; stderr?: number } {
    try {
      if (this.paths.stdin) {
        const p = target(this.paths.stdin).path;
        this.stdinRead = fs.openSync(p, O_RDONLY | O_NONBLOCK);
        this.stdinKeep = fs.openSync(p, O_WRONLY | O_NONBLOCK);
        if (!this.paths.terminal) setNonBlocking(this.stdinRead, false);
      }
      if (this.paths.stdout) this.stdout = openOutput(this.paths.stdout);
      if (this.paths.stderr && !this.paths.terminal) this.stderr = openOutput(this.paths.stderr);
    } catch (err) {
      this.close();
      throw err;
    }
    if (this.paths.terminal) return {};
    return {
      stdin: this.stdinRead >= 0 ? this.stdinRead : undefined,
      stdout: this.stdout >= 0 ? this.stdout : undefined,
      stderr: this.stderr >= 0 ? this.stderr : undefined,
    };
  }

  /** After runc started the process: the container holds its fds, the shim drops its copies. */
  handedOver(): void {
    if (this.paths.terminal) return;
    for (const fd of [this.stdinRead, this.stdout, this.stderr]) if (fd >= 0) fs.closeSync(fd);
    this.stdinRead = this.stdout = this.stderr = -1;
  }

  /** With a terminal: copy stdin → pty master and pty master → stdout. */
  attachConsole(master: number): void {
    this.master = master;
    if (this.stdinRead >= 0) this.pumps.push(new FdPump(this.stdinRead, master));
    if (this.stdout >= 0) this.pumps.push(new FdPump(master, this.stdout));
  }

  /**
   * ResizePty. Like runc-v2 it succeeds without a terminal, and after the process exited: the
   * console is kept until Delete, because clients resize right after Start, by which time a short
   * command may already be gone.
   */
  resize(width: number, height: number): void {
    if (this.master >= 0) setWindowSize(this.master, { width, height });
  }

  /** CloseIO: the client will write nothing more to stdin. */
  closeStdin(): void {
    if (this.stdinKeep >= 0) fs.closeSync(this.stdinKeep);
    this.stdinKeep = -1;
  }

  /**
   * After the process exited: waits for the terminal output to be copied out (bounded), then
   * closes everything but the console (see resize; close() releases it at Delete).
   */
  async drain(timeoutMs = 2000): Promise<void> {
    const output = this.pumps[this.pumps.length - 1];
    if (this.master >= 0 && output && this.stdout >= 0) {
      await Promise.race([output.finished, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    this.closeStreams();
  }

  private closeStreams(): void {
    for (const p of this.pumps) p.stop();
    this.pumps = [];
    for (const fd of [this.stdinRead, this.stdinKeep, this.stdout, this.stderr]) {
      if (fd >= 0) fs.closeSync(fd);
    }
    this.stdinRead = this.stdinKeep = this.stdout = this.stderr = -1;
  }

  close(): void {
    this.closeStreams();
    if (this.master >= 0) fs.closeSync(this.master);
    this.master = -1;
  }
}
