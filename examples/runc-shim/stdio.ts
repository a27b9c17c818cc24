// A process's stdio as containerd hands it over: FIFO paths (or file:// URIs) created by the
// client. Without a terminal the container gets the FIFOs directly (no copying in the shim); with
// a terminal runc sends the pty master over a console socket and the shim copies between it and
// the FIFOs.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Code, TtrpcError, logger } from 'containerd-shim';
import {
  FdPump,
  hasReader,
  queuedBytes,
  setNonBlocking,
  setWindowSize,
} from 'containerd-shim/runc';

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

/**
 * How long an exit waits for the process's output to be read: the terminal's copy, then the
 * FIFOs' buffers (runc-v2 also gives its copies 2 s).
 */
export const DRAIN_TIMEOUT_MS = 2000;
/** How often the drain looks whether the FIFOs were read (only while an exit waits for it). */
const DRAIN_POLL_MS = 5;

/**
 * One output: `fd` is the process's writer (or the terminal copy's); `hold`, on a FIFO, the
 * shim's own read-write fd. Holding it keeps the pipe's buffer alive when the process exited
 * before containerd's client opened its reader (a FIFO nobody has open loses its bytes), spares
 * the process EPIPE while the client is away (runc-v2 holds a reader too), and tells the exit
 * path how much is still unread (FIONREAD).
 */
interface Output {
  fd: number;
  hold: number;
}

const none = (): Output => ({ fd: -1, hold: -1 });

/** Opens an output without blocking (a FIFO's reader is containerd's client, maybe not there yet). */
function openOutput(uri: string): Output {
  const t = target(uri);
  if (t.kind === 'file') {
    fs.mkdirSync(path.dirname(t.path), { recursive: true });
    return { fd: fs.openSync(t.path, O_WRONLY | O_APPEND | O_CREAT, 0o600), hold: -1 };
  }
  // A read-write open never blocks; with it held the write-only one finds a reader (no ENXIO).
  const hold = fs.openSync(t.path, O_RDWR | O_NONBLOCK);
  try {
    const fd = fs.openSync(t.path, O_WRONLY | O_NONBLOCK);
    setNonBlocking(fd, false);
    return { fd, hold };
  } catch (err) {
    fs.closeSync(hold);
    throw err;
  }
}

/** FIONREAD on a held FIFO; 0 if it cannot tell (an exit must be reported whatever happens). */
function unreadBytes(fd: number): number {
  try {
    return queuedBytes(fd);
  } catch (err) {
    logger.warn({ err }, 'cannot tell what an output FIFO holds');
    return 0;
  }
}

function closeFd(fd: number): void {
  if (fd >= 0) fs.closeSync(fd);
}

/** The fds of one process's stdio, and the copies a terminal needs. */
export class ProcessIo {
  private stdinRead = -1;
  /** Our own writer on the stdin FIFO: keeps EOF away until CloseIO (the client may open late). */
  private stdinKeep = -1;
  private stdout = none();
  private stderr = none();
  private master = -1;
  private pumps: FdPump[] = [];
  /** The copy pty master → stdout (a terminal with stdout). */
  private outputPump: FdPump | undefined;
  private closed = false;
  /** Cuts a drain's wait short (close() came first). */
  private wake: (() => void) | undefined;

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
    const fd = (n: number): number | undefined => (n >= 0 ? n : undefined);
    return { stdin: fd(this.stdinRead), stdout: fd(this.stdout.fd), stderr: fd(this.stderr.fd) };
  }

  /**
   * After runc started the process: the container holds its fds, the shim drops its copies but
   * keeps holding the output FIFOs (see Output) until the exit drained them.
   */
  handedOver(): void {
    if (this.paths.terminal) return;
    closeFd(this.stdinRead);
    this.stdinRead = -1;
    for (const out of [this.stdout, this.stderr]) {
      closeFd(out.fd);
      out.fd = -1;
    }
  }

  /** With a terminal: copy stdin → pty master and pty master → stdout. */
  attachConsole(master: number): void {
    this.master = master;
    if (this.stdinRead >= 0) this.pumps.push(new FdPump(this.stdinRead, master));
    if (this.stdout.fd >= 0) {
      this.outputPump = new FdPump(master, this.stdout.fd);
      this.pumps.push(this.outputPump);
    }
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
    closeFd(this.stdinKeep);
    this.stdinKeep = -1;
  }

  /**
   * After the process exited, before its exit is reported (clients stop reading once they have
   * it): waits, together at most DRAIN_TIMEOUT_MS, for the terminal output to be copied out,
   * then for each output FIFO to be read empty, closing each as it is (its reader then sees EOF).
   * A FIFO still holding bytes at the bound is let go if a reader has it open (that reader gets
   * the rest); with no reader its bytes are kept for a late one until Delete (close()).
   * Everything else but the console is closed (see resize; close() releases it at Delete).
   */
  async drain(): Promise<void> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    if (this.outputPump) await this.until(this.outputPump.finished, deadline);
    for (const p of this.pumps) p.stop();
    this.pumps = [];
    this.outputPump = undefined;
    for (const fd of [this.stdinRead, this.stdinKeep, this.stdout.fd, this.stderr.fd]) closeFd(fd);
    this.stdinRead = this.stdinKeep = this.stdout.fd = this.stderr.fd = -1;
    for (;;) {
      let unread = false;
      for (const out of [this.stdout, this.stderr]) {
        if (out.hold < 0) continue;
        if (unreadBytes(out.hold) > 0) unread = true;
        else {
          closeFd(out.hold);
          out.hold = -1;
        }
      }
      if (!unread || this.closed || Date.now() >= deadline) break;
      await this.until(undefined, Math.min(deadline, Date.now() + DRAIN_POLL_MS));
    }
    for (const out of [this.stdout, this.stderr]) if (out.hold >= 0) this.keepForLateReader(out);
  }

  /** Waits for `event` (if any) until `deadline`, or until close(). */
  private async until(event: Promise<void> | undefined, deadline: number): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      ...(event ? [event] : []),
      new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    this.wake = undefined;
  }

  /**
   * The bound passed with bytes unread. A write-only fd in place of the read-write hold keeps
   * the bytes and tells whether a reader is there: then it gets them and EOF at once; else the
   * fd is kept for a reader that opens later, and closed at Delete.
   */
  private keepForLateReader(out: Output): void {
    let writer: number;
    try {
      writer = fs.openSync(`/proc/self/fd/${out.hold}`, O_WRONLY | O_NONBLOCK);
    } catch (err) {
      // Out of fds, say: keep the read-write hold (the bytes stay; EOF comes at Delete).
      logger.warn({ err }, 'cannot reopen an output FIFO write-only: held until Delete');
      return;
    }
    closeFd(out.hold);
    out.hold = -1;
    if (hasReader(writer)) closeFd(writer);
    else out.hold = writer;
  }

  /** Delete (or a failed start): releases every fd, the console and held FIFOs included. */
  close(): void {
    this.closed = true;
    this.wake?.();
    for (const p of this.pumps) p.stop();
    this.pumps = [];
    this.outputPump = undefined;
    for (const fd of [this.stdinRead, this.stdinKeep, this.master]) closeFd(fd);
    this.stdinRead = this.stdinKeep = this.master = -1;
    for (const out of [this.stdout, this.stderr]) {
      closeFd(out.fd);
      closeFd(out.hold);
    }
    this.stdout = none();
    this.stderr = none();
  }
}
