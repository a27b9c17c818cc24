// Where a serving shim's log lines go, on any platform: logrus-style text (what containerd copies
// from every shim) from pino's JSON, written to a sink the platform opens (platform-unix.ts: the
// bundle's `log` FIFO; platform-win.ts: the log pipe).
import * as fs from 'node:fs';

import type { PipeLogOptions } from './logger-win';

/** A destination for formatted log lines. */
export interface LogSink {
  write(line: string): void;
  /** Before the shim exits: lines still queued are sent (bounded), then the sink closes. */
  close(timeoutMs: number): Promise<void>;
}

export interface ShimLogOptions {
  /**
   * Log file or FIFO; default `log` in the current directory (the bundle). On Windows the named
   * pipe to serve the log on; default `\\.\pipe\containerd-shim-<base.namespace>-<base.id>-log`.
   */
  path?: string;
  /** Windows: the log pipe's buffer for lines written while no reader is connected. */
  pipe?: PipeLogOptions;
  level?: string;
  debug?: boolean;
  /** Fields on every line (runtime, namespace, id). */
  base?: Record<string, unknown>;
  /** Also point stderr at the log, so crash output reaches containerd (Go shims do the same). */
  redirectStderr?: boolean;
}

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
};

function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[A-Za-z0-9_.:/@+-]+$/.test(text) ? text : JSON.stringify(text);
}

/** pino's JSON line as `time="…" level=info msg="…" key=value …` (logrus text format). */
export function toLogfmt(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, ...fields } = record;
  const parts = [
    `time=${JSON.stringify(new Date(typeof time === 'number' ? time : Date.now()).toISOString())}`,
    `level=${LEVELS[level as number] ?? String(level)}`,
    `msg=${JSON.stringify(typeof msg === 'string' ? msg : '')}`,
  ];
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined)
      parts.push(
        `${k}=${quote(k === 'err' && v && typeof v === 'object' ? (v as { message?: unknown }).message : v)}`,
      );
  }
  return parts.join(' ') + '\n';
}

/** Log lines written synchronously to an fd; write errors (reader gone: EPIPE) are dropped. */
export function fdSink(fd: number): LogSink {
  return {
    write(line: string): void {
      const data = Buffer.from(line);
      let offset = 0;
      while (offset < data.length) {
        try {
          offset += fs.writeSync(fd, data, offset);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
          return;
        }
      }
    },
    close: async () => undefined,
  };
}
