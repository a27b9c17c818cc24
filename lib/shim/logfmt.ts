// The shim's logger: logrus text lines (`time="…" level=info msg="…" key=value …`, what containerd
// copies from every shim) written synchronously to one destination. pino's calling convention
// (`logger.warn({ err, id }, 'message')`, `child(bindings)`, `level`) in a few hundred bytes of
// heap: a shim daemon runs next to thousands of others and a logging library was its biggest
// dependency in memory.
import { format } from 'node:util';

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LevelName = (typeof LEVELS)[number];
export type LevelOrSilent = LevelName | 'silent';

const RANK: Record<LevelOrSilent, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

/** logrus spells warn "warning". */
const LOGRUS: Record<LevelName, string> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
  fatal: 'fatal',
};

export interface LogFn {
  (obj: object, msg?: string, ...args: unknown[]): void;
  (msg: string, ...args: unknown[]): void;
}

/** Where finished lines go (each ends with a newline). */
export type LogSink = (line: string) => void;

/** Nested objects in a field are cut below this depth. */
const MAX_DEPTH = 8;

// A JSON-safe copy: bigint as its decimal text, errors as {type, message, code, ...}, cycles and
// depth cut as strings, so JSON.stringify never throws on what a caller logs.
function plain(value: unknown, ancestors: object[]): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (ancestors.includes(value)) return '[Circular]';
  if (ancestors.length >= MAX_DEPTH) return '[Object]';
  ancestors.push(value);
  try {
    if (value instanceof Error) {
      const out: Record<string, unknown> = { type: value.name, message: value.message };
      for (const [k, v] of Object.entries(value)) out[k] = plain(v, ancestors);
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => plain(v, ancestors));
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v, ancestors);
    return out;
  } finally {
    ancestors.pop();
  }
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  try {
    return JSON.stringify(plain(value, [])) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A field value as logrus prints it: bare when it is a simple word, else quoted. */
function quote(value: unknown): string {
  const t = text(value);
  return /^[A-Za-z0-9_.:/@+-]+$/.test(t) ? t : JSON.stringify(t);
}

function field(key: string, value: unknown): string {
  // logrus's WithError prints the error's message; so does this logger for `err`.
  if (key === 'err' && value instanceof Error) return `${key}=${quote(value.message)}`;
  if (key === 'err' && typeof value === 'object' && value !== null && 'message' in value)
    return `${key}=${quote((value as { message: unknown }).message)}`;
  return `${key}=${quote(value)}`;
}

function fields(record: Record<string, unknown>): string {
  let out = '';
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out += ' ' + field(k, v);
  return out;
}

function isLevel(level: string): level is LevelOrSilent {
  return Object.prototype.hasOwnProperty.call(RANK, level);
}

/**
 * A logger writing logrus text lines to `sink`. Levels trace…fatal and silent; `child()` adds
 * fields to every line (and starts at its parent's level).
 */
export class LogfmtLogger {
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;
  /** Logs nothing (pino's `silent` method). */
  readonly silent: LogFn = () => undefined;
  private rank: number;
  private readonly bound: string;

  constructor(
    private readonly sink: LogSink,
    level: string = 'info',
    bindings: Record<string, unknown> | string = {},
  ) {
    this.rank = LogfmtLogger.rankOf(level);
    this.bound = typeof bindings === 'string' ? bindings : fields(bindings);
    const at = (name: LevelName): LogFn =>
      ((objOrMsg: unknown, ...rest: unknown[]) => {
        if (RANK[name] >= this.rank) this.write(name, objOrMsg, rest);
      }) as LogFn;
    this.trace = at('trace');
    this.debug = at('debug');
    this.info = at('info');
    this.warn = at('warn');
    this.error = at('error');
    this.fatal = at('fatal');
  }

  private static rankOf(name: string): number {
    const level = name === 'warning' ? 'warn' : name; // logrus's spelling
    if (!isLevel(level)) {
      throw Object.assign(new Error(`unknown log level "${name}"`), {
        code: 'ERR_INVALID_LOG_LEVEL',
      });
    }
    return RANK[level];
  }

  get level(): LevelOrSilent {
    return (Object.keys(RANK) as LevelOrSilent[]).find((l) => RANK[l] === this.rank) ?? 'silent';
  }

  /** Unknown names throw ERR_INVALID_LOG_LEVEL. */
  set level(level: string) {
    this.rank = LogfmtLogger.rankOf(level);
  }

  isLevelEnabled(level: string): boolean {
    return isLevel(level) && level !== 'silent' && RANK[level] >= this.rank;
  }

  /** A logger adding `bindings` to every line, writing to the same place. */
  child(bindings: Record<string, unknown>): LogfmtLogger {
    return new LogfmtLogger(this.sink, this.level, this.bound + fields(bindings));
  }

  private write(level: LevelName, objOrMsg: unknown, rest: unknown[]): void {
    let msg: unknown;
    let extra = '';
    let args = rest;
    if (typeof objOrMsg === 'object' && objOrMsg !== null) {
      // pino: an Error alone is logged as `err` (and its message is the default msg).
      const record: Record<string, unknown> =
        objOrMsg instanceof Error ? { err: objOrMsg } : (objOrMsg as Record<string, unknown>);
      extra = fields(record);
      msg = rest[0];
      args = rest.slice(1);
      if (msg === undefined && objOrMsg instanceof Error) msg = objOrMsg.message;
    } else {
      msg = objOrMsg;
    }
    let message = msg === undefined ? '' : String(msg);
    if (args.length > 0) message = format(message, ...args);
    this.sink(
      `time=${JSON.stringify(new Date().toISOString())} level=${LOGRUS[level]} ` +
        `msg=${JSON.stringify(message)}${this.bound}${extra}\n`,
    );
  }
}
