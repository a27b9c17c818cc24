// Running runc: child_process.spawn (no shell), stdio wiring, output capture, and turning a failed
// run into a RuncError with runc's own message from the part of the --log file this command wrote.
//
// libuv reaps these children itself; the shim's reaper leaves libuv's children alone, so plain
// child_process is safe inside a shim.
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';

import { RuncError, lastLoggedError, stderrError } from './errors';

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
  /** Captured stdout (empty unless stdout was 'capture'). */
  stdout: Buffer;
  /** Tail of the captured stderr ('' unless stderr was 'capture'). */
  stderr: string;
  /** Size of the --log file before the command, when there is one. */
  logOffset?: number;
  /** Set when runc could not be started at all (e.g. ENOENT). */
  spawnError?: Error;
}

/** Kept stderr tail; runc's own messages are short and come last. */
const STDERR_LIMIT = 64 * 1024;
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

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch {
    return 0;
  }
}

/** What was appended to `file` since it had `offset` bytes (the last 1 MiB of it at most). */
export async function readLogSince(file: string, offset: number): Promise<string> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    let start = offset <= size ? offset : 0; // truncated meanwhile: take it all
    if (size - start > LOG_READ_LIMIT) start = size - LOG_READ_LIMIT;
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buf, 0, buf.length, start);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
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

function stdioEntry(target: StdioTarget | undefined): 'ignore' | 'pipe' | number {
  if (target === undefined || target === 'ignore') return 'ignore';
  return target === 'capture' || target === 'stream' ? 'pipe' : target;
}

export interface Spawned {
  child: ChildProcess;
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
  ) {}

  /** Starts a command; `logOffset` is the log file's size before it. */
  start(spec: CommandSpec, logOffset?: number): Spawned {
    const argv = [this.command, ...(spec.globals === false ? [] : this.globalArgs), ...spec.args];
    const stdin = spec.stdin;
    const stdio: StdioOptions = [
      stdin === undefined || stdin === 'ignore'
        ? 'ignore'
        : typeof stdin === 'number'
          ? stdin
          : 'pipe',
      stdioEntry(spec.stdout),
      stdioEntry(spec.stderr),
      ...(spec.extraFiles ?? []),
    ];
    const child = spawn(argv[0], argv.slice(1), { stdio });
    const stdout: Buffer[] = [];
    const stderr = new Tail(STDERR_LIMIT);
    if (spec.stdout === 'capture') child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    if (spec.stderr === 'capture') child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (child.stdin !== null) {
      child.stdin.on('error', () => {
        // runc may exit without reading its input (EPIPE); its exit status tells what happened
      });
      if (typeof stdin === 'object') child.stdin.end(stdin.input);
    }
    const done = new Promise<CommandResult>((resolve) => {
      const result = (exitStatus: number | null, signal: NodeJS.Signals | null): CommandResult => ({
        argv,
        exitStatus,
        signal,
        stdout: Buffer.concat(stdout),
        stderr: stderr.toString(),
        ...(logOffset === undefined ? {} : { logOffset }),
      });
      child.on('error', (err) => {
        // Only a failed spawn settles here; 'close' follows for a process that ran.
        if (child.pid === undefined) resolve({ ...result(null, null), spawnError: err });
      });
      let grace: NodeJS.Timeout | undefined;
      child.once('exit', (code, signal) => {
        // 'close' waits for the captured pipes too; should a stray descendant (a daemonizing
        // hook) hold them, do not wait for it forever.
        grace = setTimeout(() => {
          if (spec.stdout === 'capture') child.stdout?.destroy();
          if (spec.stderr === 'capture') child.stderr?.destroy();
          resolve(result(code, signal));
        }, CLOSE_GRACE_MS);
      });
      child.once('close', (code, signal) => {
        clearTimeout(grace);
        resolve(result(code, signal));
      });
    });
    return { child, argv, done };
  }

  /** Runs a command to its end; resolves whatever the exit status. */
  async run(spec: CommandSpec): Promise<CommandResult> {
    const logOffset =
      this.log !== undefined && spec.globals !== false ? await fileSize(this.log) : undefined;
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
