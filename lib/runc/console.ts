// A container's terminal, as a runc shim handles it: runc creates the pty inside the container and
// sends its master over a console socket (`--console-socket`, SCM_RIGHTS), the shim resizes it
// (ResizePty) and copies between it and containerd's FIFOs (FdPump). The counterparts of go-runc's
// NewTempConsoleSocket/ReceiveMaster and containerd/console's Resize. POSIX only.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isatty } from 'node:tty';

import { codedError } from '../error-codes';
import { posix } from '../native';
import type { NativeFdWatcher } from '../native';

export interface ConsoleSocketOptions {
  /**
   * Where to create the socket's private directory (mode 0700); default `$XDG_RUNTIME_DIR`, else
   * the system temp directory. The socket path must fit in `sun_path` (about 100 bytes).
   */
  dir?: string;
}

export interface ReceiveOptions {
  /** How long to wait for runc; default 10 s. Fails with ERR_CONSOLE_TIMEOUT. */
  timeoutMs?: number;
}

/**
 * A one-shot unix socket runc connects to (`runc create|exec --console-socket <path>`) to send
 * the pty master of a process with a terminal. Create it before running runc, `receive()` the
 * master, and `close()` it (also when runc failed: a pending `receive` then fails with
 * ERR_CONSOLE_CLOSED). The received fd is the caller's, to close when done.
 */
export class ConsoleSocket {
  private listener: number;
  private pending: (() => void) | undefined;

  private constructor(
    /** The socket's path, for `--console-socket`. */
    readonly path: string,
    private readonly dir: string,
    listener: number,
  ) {
    this.listener = listener;
  }

  static create(options: ConsoleSocketOptions = {}): ConsoleSocket {
    const base = options.dir ?? (process.env.XDG_RUNTIME_DIR || os.tmpdir());
    const dir = fs.mkdtempSync(path.join(base, 'pty'));
    const file = path.join(dir, 'pty.sock');
    try {
      return new ConsoleSocket(file, dir, posix.unixListen(file, false, 1));
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The pty master runc sends: a terminal fd (checked), close-on-exec. Fails with
   * ERR_CONSOLE_TIMEOUT, ERR_CONSOLE_CLOSED, or ERR_CONSOLE_INVALID when runc sent no
   * descriptor or one that is not a terminal.
   */
  receive(options: ReceiveOptions = {}): Promise<number> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      if (this.listener < 0) {
        reject(codedError('ERR_CONSOLE_CLOSED', 'console socket is closed'));
        return;
      }
      if (this.pending) {
        reject(codedError('ERR_CONSOLE_INVALID', 'console socket: receive() is already waiting'));
        return;
      }
      let conn = -1;
      let connWatch: NativeFdWatcher | undefined;
      const listenWatch = new posix.FdWatcher(this.listener, () => {
        let accepted: number[];
        try {
          accepted = posix.accept(this.listener);
        } catch (err) {
          finish(err as Error);
          return;
        }
        if (accepted.length === 0) return;
        conn = accepted[0]!;
        for (let i = 4; i < accepted.length; i += 4) posix.closeFd(accepted[i]!); // one sender
        listenWatch.close();
        connWatch = new posix.FdWatcher(conn, () => tryReceive());
        connWatch.start(1);
        tryReceive();
      });
      const timer = setTimeout(
        () =>
          finish(codedError('ERR_CONSOLE_TIMEOUT', `no console from runc within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const finish = (err: Error | undefined, master?: number): void => {
        clearTimeout(timer);
        this.pending = undefined;
        listenWatch.close();
        connWatch?.close();
        if (conn >= 0) posix.closeFd(conn);
        conn = -1;
        if (err) reject(err);
        else resolve(master!);
      };
      const tryReceive = (): void => {
        let got: { fd: number; data: Buffer } | null;
        try {
          got = posix.recvFd(conn);
        } catch (err) {
          finish(err as Error); // ECONNRESET: runc went away without sending
          return;
        }
        if (!got) return;
        if (got.fd < 0) {
          finish(codedError('ERR_CONSOLE_INVALID', 'runc sent no file descriptor'));
        } else if (!isatty(got.fd)) {
          posix.closeFd(got.fd);
          finish(
            codedError('ERR_CONSOLE_INVALID', 'runc sent a descriptor that is not a terminal'),
          );
        } else {
          finish(undefined, got.fd);
        }
      };
      this.pending = () => finish(codedError('ERR_CONSOLE_CLOSED', 'console socket is closed'));
      listenWatch.start(1);
    });
  }

  /** Closes the socket and removes its directory; a pending receive() fails. Idempotent. */
  close(): void {
    if (this.listener < 0) return;
    this.pending?.();
    posix.closeFd(this.listener);
    this.listener = -1;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A terminal's size in character cells (Task ResizePty's width and height). */
export interface WindowSize {
  width: number;
  height: number;
}

/** Sets a terminal's window size (TIOCSWINSZ on the pty master): ResizePty. */
export function setWindowSize(fd: number, size: WindowSize): void {
  for (const key of ['width', 'height'] as const) {
    const value = size[key];
    if (!Number.isInteger(value) || value < 0 || value > 0xffff)
      throw codedError(
        'ERR_INVALID_ARG_VALUE',
        `window ${key} must be an integer from 0 to 65535, got ${String(value)}`,
        { type: RangeError },
      );
  }
  posix.setWindowSize(fd, size.width, size.height);
}
