// Running runc (no shell): stdio wiring, output capture, and turning a failed run into a
// RuncError with runc's own message from the part of the --log file this command wrote. How runc
// is started (the addon's vfork-style spawn in a shim daemon, child_process elsewhere) is
// launch.ts's concern.
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';

import { RuncError, lastLoggedError, stderrError } from './errors';
import { readTail } from './files';
import { launch } from './launch';
import type { Collect, LaunchExit, Launched, StdioSpec } from './launch';

/**
 * Where a stdio stream of runc goes: an fd, /dev/null, a pipe collected into the result
 * ('capture'), or a pipe left to the caller ('stream', `child.stdout`).
 */
export type StdioTarget = number | 'ignore' | 'capture' | 'stream';

export interface CommandSpec {
  /** Subcommand name, for messages (`create`, `state`, ...). */
  name: string;
  /** Arguments after the global flags. */
  args: string[];
  /** Prepend the global flags (--root, --log, ...); default true. */
  globals?: boolean;
  /** An fd, /dev/null, or bytes written to a pipe (then closed). */
  stdin?: number | 'ignore' | { input: string | Buffer };
  stdout?: StdioTarget;
  stderr?: StdioTarget;
  /** fds passed as 3, 4, ... */
  extraFiles?: number[];
}

export interface CommandResult {
  argv: string[];
  exitStatus: number | null;
  signal: NodeJS.Signals | null;
  /** Captured stdout (empty unless stdout was 'capture'); at most the command's output limit. */
  stdout: Buffer;
  /** Set when captured stdout went past the limit: `stdout` holds its first bytes only. */
  stdoutTruncated?: true;
  /** Tail of the captured stderr ('' unless stderr was 'capture'). */
  stderr: string;
  /** Size of the --log file before the command, when there is one. */
  logOffset?: number;
  /** Set when runc could not be started at all (e.g. ENOENT). */
  spawnError?: Error;
}

/** Kept stderr tail; runc's own messages are short and come last. */
const STDERR_LIMIT = 64 * 1024;
/**
 * Kept stdout: runc's JSON (`ps` of a container with a million processes is ~8 MB) fits with
 * room; past it the rest is read and dropped, so a runaway runc cannot grow the shim.
 */
export const STDOUT_LIMIT = 64 * 1024 * 1024;
/** How long after runc's exit its captured pipes may stay open. */
const CLOSE_GRACE_MS = 2000;
/** At most this much of the log file is read for one failure. */
const LOG_READ_LIMIT = 1024 * 1024;

/** Size of `file`, 0 when it does not exist yet. */
export function fileSizeSync(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** What was appended to `file` since it had `offset` bytes (the last 1 MiB of it at most). */
export function readLogSince(file: string, offset: number): Promise<string> {
  return readTail(file, offset, LOG_READ_LIMIT);
}

/** Collects a stream's tail of at most `limit` bytes. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > 2 * this.limit) {
      const all = Buffer.concat(this.chunks);
      const kept = all.subarray(all.length - this.limit);
      this.chunks = [kept];
      this.size = kept.length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** The first `limit` bytes of a stream; what comes after is counted, not kept. */
class Head {
  readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    const room = this.limit - this.size;
    if (chunk.length > room) {
      this.truncated = true;
      if (room <= 0) return;
      chunk = chunk.subarray(0, room);
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }
}

function stdioEntry(target: StdioTarget | undefined, collect: Collect): StdioSpec {
  if (target === undefined || target === 'ignore') return 'ignore';
  if (target === 'capture') return collect; // read by the launcher, no stream
  return target === 'stream' ? 'pipe' : target;
}

/** Resolves once `stream` has closed. */
function closed(stream: Readable): Promise<void> {
  return new Promise<void>((resolve) => stream.once('close', resolve));
}

export interface Spawned {
  /** The running runc: its pipes, whether it still runs, kill(). */
  child: Launched;
  argv: string[];
  /**
   * Settles once runc exited and its pipes closed (captured ones at most 2 s after the exit);
   * never rejects.
   */
  done: Promise<CommandResult>;
}

/** Runs runc commands with a fixed binary, global flags and log file. */
export class RuncCommand {
  constructor(
    readonly command: string,
    readonly globalArgs: readonly string[],
    readonly log: string | undefined,
    /** Most captured stdout kept per command (see CommandResult.stdoutTruncated). */
    readonly outputLimit = STDOUT_LIMIT,
  ) {}

  /** Starts a command; `logOffset` is the log file's size before it. */
  start(spec: CommandSpec, logOffset?: number): Spawned {
    const argv = [this.command, ...(spec.globals === false ? [] : this.globalArgs), ...spec.args];
    const stdin = spec.stdin;
    const stdout = new Head(this.outputLimit);
    const stderr = new Tail(STDERR_LIMIT);
    const child = launch(
      argv,
      [
        stdin === undefined || stdin === 'ignore'
          ? 'ignore'
          : typeof stdin === 'number'
            ? stdin
            : 'pipe',
        stdioEntry(spec.stdout, { collect: (chunk) => stdout.push(chunk) }),
        stdioEntry(spec.stderr, { collect: (chunk) => stderr.push(chunk) }),
      ],
      spec.extraFiles ?? [],
    );
    for (const s of [child.stdout, child.stderr]) {
      s?.on('error', () => {
        // a read error ends the stream ('close' follows); the exit status tells what happened
      });
    }
    if (child.stdin !== null) {
      child.stdin.on('error', () => {
        // runc may exit without reading its input (EPIPE); its exit status tells what happened
      });
      if (typeof stdin === 'object') child.stdin.end(stdin.input);
    }
    const result = (exit: LaunchExit): CommandResult => ({
      argv,
      exitStatus: exit.exitStatus,
      signal: exit.signal,
      stdout: Buffer.concat(stdout.chunks),
      ...(stdout.truncated ? { stdoutTruncated: true as const } : {}),
      stderr: stderr.toString(),
      ...(logOffset === undefined ? {} : { logOffset }),
      ...(exit.spawnError === undefined ? {} : { spawnError: exit.spawnError }),
    });
    // Settles once runc exited and its output pipes closed; should a stray descendant (a
    // daemonizing hook) hold the captured ones, they are released 2 s after the exit.
    const pipes = [child.stdout, child.stderr].filter((s) => s !== null);
    const allClosed = Promise.all([child.collected, ...pipes.map((s) => closed(s))]);
    const done = child.exit.then(async (exit) => {
      if (exit.spawnError !== undefined) return result(exit);
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        allClosed,
        new Promise<void>((resolve) => {
          grace = setTimeout(() => {
            child.releaseCollected();
            resolve();
          }, CLOSE_GRACE_MS);
        }),
      ]);
      clearTimeout(grace);
      return result(exit);
    });
    return { child, argv, done };
  }

  /**
   * Runs a command to its end; resolves whatever the exit status. The log's size is taken with a
   * synchronous stat (microseconds): an asynchronous one waits for a libuv pool thread to be
   * scheduled, milliseconds on a busy machine, before every runc command of a container.
   */
  async run(spec: CommandSpec): Promise<CommandResult> {
    const logOffset =
      this.log !== undefined && spec.globals !== false ? fileSizeSync(this.log) : undefined;
    return this.start(spec, logOffset).done;
  }

  /** Runs a command and rejects with a RuncError unless it exited 0. */
  async check(spec: CommandSpec): Promise<CommandResult> {
    const result = await this.run(spec);
    if (result.exitStatus !== 0) throw await this.failure(spec.name, result);
    return result;
  }

  /**
   * runc's last error during the command: from the --log file, else from stderr. With
   * `loggedOnly`, bare stderr lines do not count (they may be the container's output).
   */
  async runcMessage(result: CommandResult, loggedOnly = false): Promise<string | undefined> {
    if (this.log !== undefined && result.logOffset !== undefined) {
      const logged = lastLoggedError(await readLogSince(this.log, result.logOffset));
      if (logged !== undefined) return logged;
    }
    if (result.stderr === '') return undefined;
    return loggedOnly ? lastLoggedError(result.stderr) : stderrError(result.stderr);
  }

  /**
   * The RuncError for a failed command. Its message has go-runc's form, which runc-v2 passes on
   * and users grep for: `runc did not terminate successfully: exit status 1: <runc's output>`
   * (the output as runc printed it, else runc's last logged error).
   */
  async failure(name: string, result: CommandResult, cause?: unknown): Promise<RuncError> {
    const spawnError = result.spawnError;
    const runcMessage = spawnError === undefined ? await this.runcMessage(result) : undefined;
    let message: string;
    if (spawnError !== undefined) {
      message = `runc ${name}: cannot run ${this.command}: ${spawnError.message}`;
    } else {
      const how =
        result.exitStatus !== null
          ? `exit status ${result.exitStatus}`
          : `killed by ${result.signal ?? 'a signal'}`;
      const output = result.stdout.toString('utf8') + result.stderr;
      const said = output.trim() !== '' ? output : (runcMessage ?? '');
      message = `${this.command} did not terminate successfully: ${how}${said === '' ? '' : `: ${said}`}`;
    }
    return new RuncError(message, {
      command: result.argv,
      exitStatus: result.exitStatus,
      signal: result.signal,
      stderr: result.stderr,
      ...(runcMessage === undefined ? {} : { runcMessage }),
      ...((cause ?? spawnError) === undefined ? {} : { cause: cause ?? spawnError }),
    });
  }
}
