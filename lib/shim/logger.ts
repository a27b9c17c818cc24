// The shim's log: pino, writing logrus-style text lines (log-sink.ts) synchronously to where the
// platform puts a serving shim's log — the bundle's `log` FIFO on Linux, macOS and the BSDs, so
// nothing is lost when the shim exits or is killed; a named pipe the shim serves on Windows.
// pino is never used with a transport (its worker thread would cost a daemon more than pino
// itself), and a serving shim loads it only when it writes its first line at an enabled level
// (openServingLog): at containerd's default level a container's life logs nothing, and pino's
// modules stay out of the daemon.
import type { Logger as PinoLogger } from 'pino';
import type PinoModule from 'pino';

import { codedError } from '../error-codes';
import { toLogfmt } from './log-sink';
import type { LogSink, ShimLogOptions } from './log-sink';
import { platform } from './platform';

export type { ShimLogOptions } from './log-sink';
export type { PinoLogger };

/** A log method: pino's calling convention (`logger.warn({ err, id }, 'message %s', arg)`). */
export interface LogFn {
  (obj: object, msg?: string, ...args: unknown[]): void;
  (msg: string, ...args: unknown[]): void;
}

/**
 * What the shim logs through: the part of pino's Logger the SDK uses. openShimLog() returns a
 * pino logger; any pino logger (or anything with these members) fits setShimLogger.
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

// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadPino = (): typeof PinoModule => require('pino') as typeof PinoModule;

/** logrus spells warn "warning"; containerd users write it that way too. */
const levelName = (level: string): string => (level === 'warning' ? 'warn' : level);

/** Runs `apply` (which sets a level); pino's uncoded "unknown level" becomes a coded error. */
function withLevel<T>(level: unknown, apply: (name: string) => T): T {
  const name = typeof level === 'string' ? levelName(level) : level;
  try {
    return apply(name as string);
  } catch (err) {
    throw codedError(
      'ERR_INVALID_LOG_LEVEL',
      `unknown log level ${JSON.stringify(level)} (trace, debug, info, warn, error, fatal, silent)`,
      { cause: err },
    );
  }
}

const sinks = new WeakMap<object, LogSink>();

/** A pino logger as the shim log makes it, handing each line as logrus text to `write`. */
export function logfmtPino(
  level: string,
  base: Record<string, unknown>,
  write: (line: string) => void,
): PinoLogger {
  const pino = loadPino();
  return pino(
    { level, base: { pid: process.pid, ...base }, timestamp: pino.stdTimeFunctions.epochTime },
    { write: (line: string) => write(toLogfmt(line)) },
  );
}

/**
 * A pino logger on the platform's shim log: the bundle's `log` FIFO opened write-only
 * (containerd holds the read side, so this does not block), or on Windows the log pipe; falls
 * back to stderr if the log cannot be opened. Lines are logrus text (`time="…" level=info
 * msg="…" key=value`), written synchronously: no transport, no worker thread, nothing buffered
 * to lose when the shim is killed. An unknown level throws ERR_INVALID_LOG_LEVEL.
 */
export function openShimLog(options: ShimLogOptions = {}): PinoLogger {
  const level = options.debug ? 'debug' : (options.level ?? 'info');
  const log = withLevel(level, (name) =>
    logfmtPino(name, options.base ?? {}, (line) => sink.write(line)),
  );
  // Opened once the level is known good: a bad level leaves no fd behind.
  const sink = platform.openLog(options);
  sinks.set(log, sink);
  return log;
}

/** Level numbers as pino counts them (the plain-JS level check of a logger not yet loaded). */
const LEVEL_VALUES: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

/** A level's number; an unknown level throws (withLevel makes that ERR_INVALID_LOG_LEVEL). */
function levelValue(name: string): number {
  const value = Object.hasOwn(LEVEL_VALUES, name) ? LEVEL_VALUES[name] : undefined;
  if (value === undefined) throw new RangeError(`unknown level ${name}`);
  return value;
}

type Method = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * A logger with pino's API whose level checks are plain JS: it builds its pino logger (and a
 * child its pino child, with the same bindings) on its first line at an enabled level. A child
 * follows its parent's level until its own is set, as pino's do. Lines are written
 * synchronously, so those before and after the load keep their order. A line that cannot be
 * made or written is dropped: logging never ends the shim.
 */
class LazyLogger implements ShimLogger {
  private pino: PinoLogger | undefined;
  private own: { name: string; value: number } | undefined;

  constructor(
    private readonly make: () => PinoLogger,
    private readonly parent?: LazyLogger,
    level?: string,
  ) {
    if (level !== undefined) this.level = level;
  }

  private get threshold(): number {
    return this.own?.value ?? this.parent!.threshold;
  }

  get level(): string {
    return this.own?.name ?? this.parent!.level;
  }

  set level(level: string) {
    const value = withLevel(level, levelValue);
    this.own = { name: levelName(level), value };
    if (this.pino) this.pino.level = this.own.name;
  }

  /** As pino answers: false for a level it does not know (`warning` included). */
  isLevelEnabled(level: string): boolean {
    const value = Object.hasOwn(LEVEL_VALUES, level) ? LEVEL_VALUES[level] : undefined;
    return value !== undefined && value >= this.threshold;
  }

  child(bindings: Record<string, unknown>): ShimLogger {
    return new LazyLogger(() => this.load().child(bindings), this);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  silent(): void {
    // discards, as pino's silent does
  }

  private load(): PinoLogger {
    if (!this.pino) {
      const pino = this.make();
      if (this.own) pino.level = this.own.name;
      this.pino = pino;
    }
    return this.pino;
  }

  private write(method: Method, args: unknown[]): void {
    if (LEVEL_VALUES[method]! < this.threshold) return;
    try {
      (this.load()[method] as (...a: unknown[]) => void)(...args);
    } catch {
      // dropped (pino could not load, or the line could not be serialized)
    }
  }
}

/**
 * The serving shim's log as openShimLog opens it (same destination, format and level), except
 * that pino loads on the first line at an enabled level, not before: run() serves with it.
 */
export function openServingLog(options: ShimLogOptions = {}): ShimLogger {
  const level = options.debug ? 'debug' : (options.level ?? 'info');
  let failed: unknown;
  const log: LazyLogger = new LazyLogger(
    (): PinoLogger => {
      if (failed !== undefined) throw failed;
      try {
        return logfmtPino(log.level, options.base ?? {}, (line) => sink.write(line));
      } catch (err) {
        failed = err;
        const note = { level: 50, time: Date.now(), msg: 'shim log: cannot load pino' };
        sink.write(toLogfmt(JSON.stringify({ ...note, err: { message: String(err) } })));
        throw err;
      }
    },
    undefined,
    level,
  );
  const sink = platform.openLog(options);
  sinks.set(log, sink);
  return log;
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

// Discards everything without loading pino: the logger in use during `start` and `delete`,
// which must print nothing and start fast.
const SILENT: ShimLogger = {
  level: 'silent',
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  silent: noop,
  isLevelEnabled: () => false,
  child: () => SILENT,
};

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
    set(_, prop, value) {
      const target = resolve();
      if (prop !== 'level' || target === SILENT) return Reflect.set(target, prop, value);
      return withLevel(value, (name) => Reflect.set(target, prop, name));
    },
    has: (_, prop) => Reflect.has(resolve(), prop),
  });
}

/**
 * The shim's logger: one object for the life of the process whose calls go to the logger in use
 * when they are made — silent during `start` and `delete`, pino on the bundle's `log` FIFO (or
 * the Windows log pipe) once `run()` serves, or the one given to setShimLogger. Safe to import by
 * name from ESM and CommonJS alike and to keep in a variable or a child (`logger.child()`).
 * Setting an unknown `level` on it throws ERR_INVALID_LOG_LEVEL.
 */
export const logger: ShimLogger = forwarding(() => current);

/**
 * Makes `logger` write to `log` (run() does this when it starts serving; a shim that sets
 * `noSetupLogger` may pass its own, a pino logger with its own options for instance).
 */
export function setShimLogger(log: ShimLogger): void {
  current = log === logger ? current : log;
}
