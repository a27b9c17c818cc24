// The shim's log: logrus-style text lines (logfmt.ts, what containerd copies from every shim)
// written synchronously to the bundle's `log` FIFO, so nothing is lost when the shim exits or is
// killed. On Windows the shim serves the log on a named pipe instead (logger-win.ts, loaded only
// there).
import * as fs from 'node:fs';

import { native } from '../native';
import { LogfmtLogger } from './logfmt';
import type { PipeLog, PipeLogOptions } from './logger-win';

/** The shim's logger (pino's calling convention; see logfmt.ts). */
export type ShimLogger = LogfmtLogger;

/** Synchronous writes of whole lines to an fd; write errors (reader gone: EPIPE) are dropped. */
function fdSink(fd: number): (line: string) => void {
  return (line) => {
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
  };
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

function openLogFd(file: string, redirectStderr: boolean): number {
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT,
      0o600,
    );
  } catch {
    return 2;
  }
  if (redirectStderr && process.platform === 'linux') {
    try {
      native.dup2(fd, 2);
    } catch {
      // stderr stays where it was; the logger still writes to the log
    }
  }
  return fd;
}

const pipeLogs = new WeakMap<ShimLogger, PipeLog>();

/** Windows: the log pipe server (see logger-win.ts), or undefined if it cannot be created. */
function openLogPipe(options: ShimLogOptions): PipeLog | undefined {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { openPipeLog } = require('./logger-win') as typeof import('./logger-win');
  const { isPipeAddress, logPipeAddress } =
    require('./socket-win') as typeof import('./socket-win');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const base = options.base ?? {};
  const pipe =
    options.path !== undefined && isPipeAddress(options.path)
      ? options.path
      : logPipeAddress(String(base.namespace ?? ''), String(base.id ?? ''));
  try {
    return openPipeLog(pipe, options.pipe);
  } catch {
    return undefined; // e.g. EADDRINUSE: another shim serves it; log to stderr instead
  }
}

/**
 * Opens the bundle's `log` FIFO write-only (containerd holds the read side, so this does not
 * block) and returns a logger writing to it; on Windows serves the log pipe instead. Falls back to
 * stderr if the log cannot be opened.
 */
export function openShimLog(options: ShimLogOptions = {}): ShimLogger {
  const level = options.debug ? 'debug' : (options.level ?? 'info');
  const pipe = process.platform === 'win32' ? openLogPipe(options) : undefined;
  const sink = pipe
    ? (line: string) => pipe.write(line)
    : fdSink(
        process.platform === 'win32'
          ? 2
          : openLogFd(options.path ?? 'log', options.redirectStderr === true),
      );
  const logger = new LogfmtLogger(sink, level, { pid: process.pid, ...options.base });
  if (pipe) pipeLogs.set(logger, pipe);
  return logger;
}

/**
 * Before the shim exits: on Windows, waits (bounded) until connected log readers have been sent
 * every line, then closes the log pipe. Writes on Linux are synchronous: nothing to do.
 */
export async function closeShimLog(logger: ShimLogger, timeoutMs = 1000): Promise<void> {
  const pipe = pipeLogs.get(logger);
  if (!pipe) return;
  pipeLogs.delete(logger);
  await pipe.flush(timeoutMs);
  pipe.close();
}

const SILENT: ShimLogger = new LogfmtLogger(() => undefined, 'silent');

/** A logger that discards everything (the `start` and `delete` actions must print nothing). */
export function silentShimLog(): ShimLogger {
  return SILENT;
}
