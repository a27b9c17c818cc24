// RuncError and the parsing of runc's log lines (JSON or logrus text) into its last error message.

export interface RuncErrorDetails {
  /** argv of the failed command, the binary first. */
  command: string[];
  /** runc's exit status, or null when it was killed or never ran. */
  exitStatus: number | null;
  /** The signal that killed runc, e.g. `SIGKILL`. */
  signal: string | null;
  /** The tail of runc's stderr, when it was captured ('' otherwise). */
  stderr: string;
  /** The last error-level message runc logged during the command. */
  runcMessage?: string;
  cause?: unknown;
}

// See TtrpcError: recognised across copies of this package.
const BRAND = Symbol.for('containerd-shim.RuncError');

/** A runc command failed: non-zero exit, killed, not startable, or unparsable output. */
export class RuncError extends Error {
  readonly code = 'ERR_RUNC' as const;
  readonly command: string[];
  readonly exitStatus: number | null;
  readonly signal: string | null;
  readonly stderr: string;
  /** runc's last "error" message from the --log file written during the command, else stderr. */
  readonly runcMessage?: string;

  constructor(message: string, details: RuncErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RuncError';
    this.command = details.command;
    this.exitStatus = details.exitStatus;
    this.signal = details.signal;
    this.stderr = details.stderr;
    if (details.runcMessage !== undefined) this.runcMessage = details.runcMessage;
  }

  private get text(): string {
    return this.runcMessage ?? this.stderr;
  }

  /** runc said the container does not exist. */
  get notFound(): boolean {
    return /container does not exist|container .* does not exist/.test(this.text);
  }

  /**
   * The container or process is not running (kill/pause/exec on a stopped container, or a
   * process that already finished) — containerd's `checkKillError` strings.
   */
  get notRunning(): boolean {
    return /not running|process already finished|no such process/.test(this.text);
  }
}

Object.defineProperty(RuncError.prototype, BRAND, { value: true });

/** Whether `err` is a RuncError (from any copy of this package loaded in the process). */
export function isRuncError(err: unknown): err is RuncError {
  return typeof err === 'object' && err !== null && (err as { [BRAND]?: unknown })[BRAND] === true;
}

export interface LogEntry {
  level: string;
  msg: string;
}

const ERROR_LEVELS = new Set(['error', 'fatal', 'panic']);

// logrus text: time="..." level=error msg="quoted \"text\"" [key=value...]
const TEXT_LEVEL = /(?:^|\s)level=("(?:[^"\\]|\\.)*"|\S+)/;
const TEXT_MSG = /(?:^|\s)msg=("(?:[^"\\]|\\.)*"|\S+)/;

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    return JSON.parse(value) as string;
  } catch {
    return value.slice(1, -1);
  }
}

/** One runc log line (JSON or logrus text format), or undefined for other text. */
export function parseLogLine(line: string): LogEntry | undefined {
  const trimmed = line.trim();
  if (trimmed.startsWith('{')) {
    try {
      const obj = JSON.parse(trimmed) as { level?: unknown; msg?: unknown };
      if (typeof obj.level === 'string' && typeof obj.msg === 'string') {
        return { level: obj.level, msg: obj.msg };
      }
    } catch {
      // not JSON after all
    }
    return undefined;
  }
  const level = TEXT_LEVEL.exec(trimmed);
  const msg = TEXT_MSG.exec(trimmed);
  if (level === null || msg === null) return undefined;
  return { level: unquote(level[1]), msg: unquote(msg[1]) };
}

/** The last error/fatal/panic message among runc log lines. */
export function lastLoggedError(text: string): string | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const entry = parseLogLine(lines[i]);
    if (entry !== undefined && ERROR_LEVELS.has(entry.level) && entry.msg !== '') return entry.msg;
  }
  return undefined;
}

/**
 * runc's error from its stderr: a logged error (runc logs to stderr when no --log is set) or
 * else the last line that is not a log line (runc's `fatal` prints the bare error there too).
 */
export function stderrError(stderr: string): string | undefined {
  const logged = lastLoggedError(stderr);
  if (logged !== undefined) return logged;
  const lines = stderr.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (line !== '' && parseLogLine(line) === undefined) return line;
  }
  return undefined;
}
