// The shim's log: logrus-style text lines (logfmt.ts) written to where the platform puts a serving
// shim's log (log-sink.ts) — synchronously to the bundle's `log` FIFO on Linux, macOS and the BSDs,
// so nothing is lost when the shim exits or is killed; a named pipe the shim serves on Windows.
import { LogfmtLogger } from './logfmt';
import type { LogFn } from './logfmt';
import type { LogSink, ShimLogOptions } from './log-sink';
import { platform } from './platform';

export type { ShimLogOptions } from './log-sink';

/**
 * What the shim logs through: pino's calling convention (`logger.warn({ err, id }, 'message')`).
 * openShimLog() returns the built-in logfmt logger (logfmt.ts); a pino logger fits too
 * (setShimLogger, with `noSetupLogger`).
 */
export interface ShimLogger {
  level: string;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  silent: LogFn;
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>): ShimLogger;
}

const sinks = new WeakMap<ShimLogger, LogSink>();

/**
 * A logger on the platform's shim log: the bundle's `log` FIFO opened write-only (containerd
 * holds the read side, so this does not block), or on Windows the log pipe. Falls back to stderr
 * if the log cannot be opened.
 */
export function openShimLog(options: ShimLogOptions = {}): ShimLogger {
  const level = options.debug ? 'debug' : (options.level ?? 'info');
  const sink = platform.openLog(options);
  const logger = new LogfmtLogger((line) => sink.write(line), level, {
    pid: process.pid,
    ...options.base,
  });
  sinks.set(logger, sink);
  return logger;
}

/**
 * Before the shim exits: on Windows, waits (bounded) until connected log readers have been sent
 * every line, then closes the log pipe. Writes to the FIFO are synchronous: nothing to wait for.
 */
export async function closeShimLog(log: ShimLogger = current, timeoutMs = 1000): Promise<void> {
  const target = log === logger ? current : log;
  const sink = sinks.get(target);
  if (!sink) return;
  sinks.delete(target);
  await sink.close(timeoutMs);
}

// Discards everything: the logger in use during `start` and `delete`, which must print nothing.
const SILENT: ShimLogger = new LogfmtLogger(() => undefined, 'silent');

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
              child = now.child(...args);
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
 * `noSetupLogger` may pass its own logger, pino's for instance).
 */
export function setShimLogger(log: ShimLogger): void {
  current = log === logger ? current : log;
}
