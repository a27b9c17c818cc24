// Copying between file descriptors Node has no stream for (a pty master, FIFOs opened for a
// container), on the event loop: wait for readiness on either side, never block. What a runc shim
// does between containerd's stdio FIFOs and a container's terminal. POSIX only.
import * as fs from 'node:fs';

import { codedError } from '../error-codes';
import { posix } from '../native';
import type { NativeFdWatcher } from '../native';

export interface FdPumpOptions {
  /** Bytes read at a time, and at most held while the destination is full; default 32 KiB. */
  chunkSize?: number;
}

/**
 * Copies bytes from `from` to `to` until `from` reaches EOF or fails (EIO once a pty's other side
 * has closed) or `to` fails (its reader went away), or until stop(). Both fds are switched to
 * non-blocking mode; they stay open (their owners close them). At most one chunk is held while
 * the destination is full, and reading waits until it is written.
 */
export class FdPump {
  private readonly buffer: Buffer;
  private pending: Buffer | undefined;
  private readonly reader: NativeFdWatcher;
  private readonly writer: NativeFdWatcher;
  private ended = false;
  private finishedResolve!: () => void;
  /** Resolves when copying ended and everything read was written (or could not be). */
  readonly finished = new Promise<void>((resolve) => (this.finishedResolve = resolve));

  constructor(
    private readonly from: number,
    private readonly to: number,
    options: FdPumpOptions = {},
  ) {
    const size = options.chunkSize ?? 32 * 1024;
    if (!Number.isInteger(size) || size < 1)
      throw codedError(
        'ERR_INVALID_ARG_VALUE',
        `chunkSize must be a positive integer, got ${size}`,
        {
          type: RangeError,
        },
      );
    this.buffer = Buffer.allocUnsafe(size);
    posix.setNonBlocking(from, true);
    posix.setNonBlocking(to, true);
    // Fds that cannot be polled (a regular file: EPERM) fail here, with nothing left running.
    this.reader = new posix.FdWatcher(from, () => this.onReadable());
    try {
      this.writer = new posix.FdWatcher(to, () => this.onWritable());
    } catch (err) {
      this.reader.close();
      throw err;
    }
    this.reader.start(1);
  }

  private onReadable(): void {
    for (;;) {
      if (this.pending || this.ended) return; // the writer drains first
      let n: number;
      try {
        n = fs.readSync(this.from, this.buffer, 0, this.buffer.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
        this.end(); // EIO: the pty's other side is gone
        return;
      }
      if (n === 0) {
        this.end();
        return;
      }
      this.write(this.buffer.subarray(0, n));
    }
  }

  private write(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += fs.writeSync(this.to, data, offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.pending = Buffer.from(data.subarray(offset));
          this.reader.stop();
          this.writer.start(2);
          return;
        }
        this.end(); // the destination's reader went away
        return;
      }
    }
  }

  private onWritable(): void {
    const data = this.pending;
    if (!data) return;
    this.pending = undefined;
    this.writer.stop();
    this.write(data);
    if (!this.pending && !this.ended) {
      this.reader.start(1);
      this.onReadable();
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = undefined;
    this.reader.close();
    this.writer.close();
    this.finishedResolve();
  }

  /** Stops copying now; `finished` resolves. */
  stop(): void {
    this.end();
  }
}

/**
 * Sets or clears O_NONBLOCK on an fd: a FIFO opened non-blocking (so the open does not wait for
 * the other side) is handed to a container in blocking mode, as processes expect.
 */
export function setNonBlocking(fd: number, nonBlocking: boolean): void {
  posix.setNonBlocking(fd, nonBlocking);
}
