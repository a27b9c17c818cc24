// The shim's log: pino writing logrus-style text lines (log-sink.ts) to where the platform puts a
// serving shim's log — synchronously to the bundle's `log` FIFO on Linux, macOS and the BSDs, so
// nothing is lost when the shim exits or is killed; a named pipe the shim serves on Windows.
import type { Logger as PinoLogger } from 'pino';
import type PinoModule from 'pino';

import { toLogfmt } from './log-sink';
import type { LogSink, ShimLogOptions } from './log-sink';
import { platform } from './platform';

export type { ShimLogOptions } from './log-sink';
export type ShimLogger = PinoLogger;

// pino loads only when a shim serves: `start` and `delete` log nothing and must start fast.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadPino = (): typeof PinoModule => require('pino') as typeof PinoModule;

const sinks = new WeakMap<ShimLogger, LogSink>();

/**
 * A pino logger on the platform's shim log: the bundle's `log` FIFO opened write-only
 * (containerd holds the read side, so this does not block), or on Windows the log pipe. Falls
 * back to stderr if the log cannot be opened.
 */
export function openShimLog(options: ShimLogOptions = {}): ShimLogger {
  const level = options.debug ? 'debug' : (options.level ?? 'info');
  const sink = platform.openLog(options);
  const pino = loadPino();
  const logger = pino(
    {
      level,
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.epochTime,
    },
    { write: (line: string) => sink.write(toLogfmt(line)) },
  );
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
