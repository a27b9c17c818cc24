// The shim's log: pino writing logrus-style text lines (what containerd copies from every shim)
// synchronously to the bundle's `log` FIFO, so nothing is lost when the shim exits or is killed.
// On Windows the shim serves the log on a named pipe instead (logger-win.ts).
import * as fs from 'node:fs';

import type { Logger as PinoLogger } from 'pino';
import type PinoModule from 'pino';

import { native } from '../native';
import { openPipeLog } from './logger-win';
import type { PipeLog, PipeLogOptions } from './logger-win';
import { isPipeAddress, logPipeAddress } from './socket-win';

export type ShimLogger = PinoLogger;

// pino loads only when a shim serves: `start` and `delete` log nothing and must start fast.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadPino = (): typeof PinoModule => require('pino') as typeof PinoModule;

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

/** A synchronous pino destination on an fd; write errors (reader gone: EPIPE) are dropped. */
function fdDestination(fd: number): { write(line: string): void } {
  return {
    write(line: string): void {
      const data = Buffer.from(toLogfmt(line));
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
 * block) and returns a pino logger on it; on Windows serves the log pipe instead. Falls back to
 * stderr if the log cannot be opened.
 */
export function openShimLog(options: ShimLogOptions = {}): ShimLogger {
  const level = options.debug ? 'debug' : (options.level ?? 'info');
  const pipe = process.platform === 'win32' ? openLogPipe(options) : undefined;
  const destination = pipe
    ? { write: (line: string) => pipe.write(toLogfmt(line)) }
    : fdDestination(
        process.platform === 'win32'
          ? 2
          : openLogFd(options.path ?? 'log', options.redirectStderr === true),
      );
  const pino = loadPino();
  const logger = pino(
    {
      level,
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.epochTime,
    },
    destination,
  );
  if (pipe) pipeLogs.set(logger, pipe);
  return logger;
}

/**
 * Before the shim exits: on Windows, waits (bounded) until connected log readers have been sent
 * every line, then closes the log pipe. Writes on Linux are synchronous: nothing to do.
 */
export async function closeShimLog(log: ShimLogger = current, timeoutMs = 1000): Promise<void> {
  const target = log === logger ? current : log;
  const pipe = pipeLogs.get(target);
  if (!pipe) return;
  pipeLogs.delete(target);
  await pipe.flush(timeoutMs);
  pipe.close();
}

const noop = (): void => undefined;

// A logger that discards everything, without loading pino: the one in use during `start` and
// `delete`, which must print nothing.
const SILENT = {
  level: 'silent',
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  silent: noop,
  isLevelEnabled: () => false,
  child(): ShimLogger {
    return SILENT;
  },
} as unknown as ShimLogger;

let current: ShimLogger = SILENT;

/**
 * A logger that forwards every call to whatever `resolve()` returns at the time of the call;
 * its children are forwarding too (re-derived when the logger in use changes).
 */
function forwarding(resolve: () => ShimLogger): ShimLogger {
  return new Proxy({} as ShimLogger, {
    get(_, prop) {
      if (prop === 'child') {
        return (...args: Parameters<ShimLogger['child']>): ShimLogger => {
          let parent: ShimLogger | undefined;
          let child: ShimLogger = SILENT;
          return forwarding(() => {
            const now = resolve();
            if (now !== parent) {
              parent = now;
              child = now.child(...args) as unknown as ShimLogger;
            }
            return child;
          });
        };
      }
      const target = resolve();
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set: (_, prop, value) => Reflect.set(resolve(), prop, value),
    has: (_, prop) => Reflect.has(resolve(), prop),
  });
}

/**
 * The shim's logger: one object for the life of the process whose calls go to the logger in use
 * when they are made — silent during `start` and `delete`, the bundle's `log` FIFO (or the
 * Windows log pipe) once `run()` serves, or the one given to setShimLogger. Safe to import by
 * name from ESM and CommonJS alike and to keep in a variable or a child (`logger.child()`).
 */
export const logger: ShimLogger = forwarding(() => current);

/**
 * Makes `logger` write to `log` (run() does this when it starts serving; a shim that sets
 * `noSetupLogger` may pass its own pino logger).
 */
export function setShimLogger(log: ShimLogger): void {
  current = log === logger ? current : log;
}
