// Copies bytes between two non-blocking fds (pty master ↔ FIFOs) on the event loop, waiting for
// readiness on either side instead of blocking; ends on EOF or EIO (the pty's slave side closed).
import * as fs from 'node:fs';

import { native } from '../../lib/native';

const CHUNK = 32 * 1024;

export class Pump {
  private readonly buffer = Buffer.allocUnsafe(CHUNK);
  private pending: Buffer | undefined;
  private readonly reader;
  private readonly writer;
  private ended = false;
  private finishedResolve!: () => void;
  /** Resolves when the source reached EOF (or failed) and everything read was written. */
  readonly finished = new Promise<void>((resolve) => (this.finishedResolve = resolve));

  constructor(
    private readonly from: number,
    private readonly to: number,
  ) {
    native.setNonBlocking(from, true);
    native.setNonBlocking(to, true);
    this.reader = new native.FdWatcher(from, () => this.onReadable());
    this.writer = new native.FdWatcher(to, () => this.onWritable());
    this.reader.start(1);
  }

  private onReadable(): void {
    for (;;) {
      if (this.pending) return; // wait for the writer to drain first
      let n: number;
      try {
        n = fs.readSync(this.from, this.buffer, 0, CHUNK, null);
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
        this.end(); // the reader of the destination went away
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
    this.reader.close();
    this.writer.close();
    this.finishedResolve();
  }

  /** Stops copying (the fds stay open: their owners close them). */
  stop(): void {
    this.end();
  }
}
