// The shim's log on Windows: the shim is the *server* of `\\.\pipe\containerd-shim-<ns>-<id>-log`
// and containerd dials it (and dials again after a restart). Lines written while no reader is
// connected wait in a bounded buffer (oldest dropped beyond it, with a notice of how many) and go
// to the next reader that connects; every connected reader gets every line after that, and a
// reader that disconnects can connect again. The pipe has the same security descriptor and
// remote-client refusal as the TTRPC pipe, and never keeps the process alive.
import { win } from '../native';
import type { NativePipeChannel, NativePipeListener } from '../native';

export interface PipeLogOptions {
  /** Bytes kept while no reader is connected; default 1 MiB. */
  bufferBytes?: number;
  /** Bytes queued for one slow reader before its lines are dropped; default 4 MiB. */
  readerLimitBytes?: number;
}

export interface PipeLog {
  readonly path: string;
  write(line: string | Uint8Array): void;
  /** Readers connected now. */
  readonly readers: number;
  /** Resolves when every connected reader has been sent everything (or after `timeoutMs`). */
  flush(timeoutMs?: number): Promise<void>;
  close(): void;
}

const DRAIN = 1;

interface Reader {
  channel: NativePipeChannel;
  dropped: number;
}

function notice(count: number, why: string): Buffer {
  return Buffer.from(
    `time=${JSON.stringify(new Date().toISOString())} level=warning ` +
      `msg=${JSON.stringify(`log pipe: ${count} lines dropped ${why}`)}\n`,
  );
}

/** Creates the log pipe server at `path` (fails with EADDRINUSE if another server has it). */
export function openPipeLog(path: string, options: PipeLogOptions = {}): PipeLog {
  const bufferBytes = options.bufferBytes ?? 1 << 20;
  const readerLimit = options.readerLimitBytes ?? 4 << 20;
  const readers = new Set<Reader>();
  const drainWaiters = new Set<() => void>();
  let backlog: Buffer[] = [];
  let backlogBytes = 0;
  let backlogDropped = 0;
  let closed = false;

  const wakeFlushers = (): void => {
    for (const wake of drainWaiters) wake();
  };

  const send = (reader: Reader, data: Buffer): void => {
    if (reader.channel.buffered + data.length > readerLimit) {
      reader.dropped++;
      return;
    }
    if (reader.dropped > 0) {
      const count = reader.dropped;
      reader.dropped = 0;
      send(reader, notice(count, 'for a slow reader'));
    }
    try {
      reader.channel.write(data);
    } catch {
      // closing: its close event removes it
    }
  };

  const accept = (handle: number): void => {
    const reader: Reader = { channel: undefined as unknown as NativePipeChannel, dropped: 0 };
    reader.channel = new win.PipeChannel(
      handle,
      () => undefined, // readers have nothing to say
      (kind) => {
        if (kind === DRAIN) {
          wakeFlushers();
          return;
        }
        readers.delete(reader);
        wakeFlushers();
      },
      true,
    );
    reader.channel.unref();
    readers.add(reader);
    if (backlogDropped > 0) send(reader, notice(backlogDropped, 'while no reader was connected'));
    for (const chunk of backlog) send(reader, chunk);
    backlog = [];
    backlogBytes = 0;
    backlogDropped = 0;
  };

  const listener: NativePipeListener = new win.PipeListener(path, (batch) => {
    // Accept errors are not worth a line: the next client is accepted all the same.
    for (let i = 0; batch && i < batch.length; i += 2) {
      if (closed) win.closeHandle(batch[i]!);
      else accept(batch[i]!);
    }
  });
  listener.unref();

  return {
    path,
    get readers() {
      return readers.size;
    },
    write(line: string | Uint8Array): void {
      if (closed) return;
      const data = typeof line === 'string' ? Buffer.from(line) : Buffer.from(line);
      if (readers.size > 0) {
        for (const reader of readers) send(reader, data);
        return;
      }
      backlog.push(data);
      backlogBytes += data.length;
      while (backlogBytes > bufferBytes && backlog.length > 0) {
        backlogBytes -= backlog.shift()!.length;
        backlogDropped++;
      }
    },
    async flush(timeoutMs = 1000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      const pending = (): boolean => [...readers].some((r) => r.channel.buffered > 0);
      while (pending() && Date.now() < deadline) {
        // Drain events fire only past the high-water mark: poll briefly as well.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(20, Math.max(1, deadline - Date.now())));
          function done(): void {
            clearTimeout(timer);
            drainWaiters.delete(done);
            resolve();
          }
          drainWaiters.add(done);
        });
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      listener.close();
      for (const reader of readers) reader.channel.close(true);
    },
  };
}
