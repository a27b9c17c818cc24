// The runc client: one method per runc subcommand, the counterpart of go-runc and rust-extensions'
// `runc` crate.
import * as os from 'node:os';
import * as path from 'node:path';

import { codedError } from '../error-codes';
import { RuncCommand, fileSizeSync } from './command';
import type { CommandResult, CommandSpec, StdioTarget } from './command';
import { RuncError } from './errors';
import { readFile, rm, writeFile } from './files';
import type {
  CheckpointOptions,
  Container,
  CreateOptions,
  CriuOptions,
  DeleteOptions,
  ExecOptions,
  IoFds,
  KillOptions,
  RestoreOptions,
  RuncEvent,
  RuncEventStream,
  RuncOptions,
  RuncStats,
  RuncVersion,
} from './types';

// Unique names for exec's process-spec files (crypto is not worth loading for this).
let execSeq = 0;

/** The global flags for `options`, in go-runc's order. */
export function globalArgs(options: RuncOptions): string[] {
  const args: string[] = [];
  if (options.root !== undefined) args.push('--root', options.root);
  if (options.debug === true) args.push('--debug');
  if (options.log !== undefined) args.push('--log', options.log);
  const logFormat = options.logFormat ?? (options.log !== undefined ? 'json' : undefined);
  if (logFormat !== undefined) args.push('--log-format', logFormat);
  if (options.criu !== undefined) args.push('--criu', options.criu);
  if (options.systemdCgroup === true) args.push('--systemd-cgroup');
  if (options.rootless !== undefined) args.push(`--rootless=${String(options.rootless)}`);
  return args;
}

/**
 * The pid runc wrote with `--pid-file`; fails (ERR_INVALID_PID_FILE, or the read's ENOENT) when
 * there is none. `tryReadPidFile` of the main entry point is the lenient, synchronous one.
 */
export async function readPidFile(file: string): Promise<number> {
  const text = (await readFile(file, 'utf8')).trim();
  const pid = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(pid) || pid <= 0) {
    throw codedError('ERR_INVALID_PID_FILE', `${file}: not a pid: ${JSON.stringify(text)}`);
  }
  return pid;
}

/** Stdio of a command whose stdio the container inherits: the fds, else /dev/null. */
function inheritedStdio(io: IoFds | undefined): Pick<CommandSpec, 'stdin' | 'stdout' | 'stderr'> {
  return {
    stdin: io?.stdin ?? 'ignore',
    stdout: io?.stdout ?? 'ignore',
    stderr: io?.stderr ?? 'ignore',
  };
}

/**
 * Stdio of a command that runc does not hand to the container (`run`/`restore`/`exec` without
 * detach: runc copies through pipes of its own): runc's stderr is captured when not given.
 */
function proxiedStdio(io: IoFds | undefined): Pick<CommandSpec, 'stdin' | 'stdout' | 'stderr'> {
  return {
    stdin: io?.stdin ?? 'ignore',
    stdout: io?.stdout ?? 'ignore',
    stderr: io?.stderr ?? ('capture' as StdioTarget),
  };
}

function flag(args: string[], on: boolean | undefined, name: string): void {
  if (on === true) args.push(name);
}

function option(args: string[], value: string | number | undefined, name: string): void {
  if (value !== undefined) args.push(name, String(value));
}

function preserveFds(args: string[], extraFiles: number[] | undefined): void {
  if (extraFiles !== undefined && extraFiles.length > 0) {
    args.push('--preserve-fds', String(extraFiles.length));
  }
}

function criuArgs(args: string[], opts: CriuOptions): void {
  args.push('--image-path', opts.imagePath);
  option(args, opts.workDir, '--work-path');
  flag(args, opts.allowOpenTcp, '--tcp-established');
  flag(args, opts.allowExternalUnixSockets, '--ext-unix-sk');
  flag(args, opts.allowTerminal, '--shell-job');
  flag(args, opts.fileLocks, '--file-locks');
  option(args, opts.cgroupsMode, '--manage-cgroups-mode');
  for (const ns of opts.emptyNamespaces ?? []) args.push('--empty-ns', ns);
  flag(args, opts.lazyPages, '--lazy-pages');
  flag(args, opts.autoDedup, '--auto-dedup');
}

function parseEvent(line: string): RuncEvent {
  const raw = JSON.parse(line) as { type?: unknown; id?: unknown; data?: unknown };
  const event: RuncEvent = {
    type: typeof raw.type === 'string' ? raw.type : '',
    id: typeof raw.id === 'string' ? raw.id : '',
  };
  if (raw.data !== undefined && raw.data !== null) {
    event.data = raw.data;
    if (event.type === 'stats') event.stats = raw.data as RuncStats;
  }
  return event;
}

export class Runc {
  readonly options: Readonly<RuncOptions>;
  private readonly cmd: RuncCommand;

  constructor(options: RuncOptions = {}) {
    this.options = { ...options };
    this.cmd = new RuncCommand(options.command ?? 'runc', globalArgs(options), options.log);
  }

  /** The argv prefix of every command (binary and global flags). */
  get argv(): string[] {
    return [this.cmd.command, ...this.cmd.globalArgs];
  }

  /** Runs `args`, rejects on failure, returns stdout. */
  private async output(name: string, args: string[]): Promise<Buffer> {
    const result = await this.cmd.check({ name, args, stdout: 'capture', stderr: 'capture' });
    if (result.stdoutTruncated === true) {
      throw new RuncError(`runc ${name}: output over ${this.cmd.outputLimit} bytes`, {
        command: result.argv,
        exitStatus: result.exitStatus,
        signal: null,
        stderr: result.stderr,
      });
    }
    return result.stdout;
  }

  /** Runs `args` for their effect only. */
  private async call(name: string, args: string[], spec: Partial<CommandSpec> = {}): Promise<void> {
    await this.cmd.check({ name, args, stderr: 'capture', ...spec });
  }

  /** Parses a command's JSON output; bad JSON is a RuncError too. */
  private async json<T>(name: string, args: string[]): Promise<T> {
    const out = await this.output(name, args);
    try {
      return JSON.parse(out.toString('utf8')) as T;
    } catch (err) {
      throw new RuncError(`runc ${name}: unparsable output: ${(err as Error).message}`, {
        command: [...this.argv, ...args],
        exitStatus: 0,
        signal: null,
        stderr: '',
        cause: err,
      });
    }
  }

  /**
   * Resolves with the exit status of a command that reports its container's exit (`run`,
   * `restore` without detach); rejects when runc itself failed: killed, not startable, or a
   * non-zero status with an error logged by runc.
   */
  private async exitStatus(spec: CommandSpec): Promise<number> {
    const result: CommandResult = await this.cmd.run(spec);
    if (result.exitStatus === 0) return 0;
    if (result.exitStatus === null) throw await this.cmd.failure(spec.name, result);
    if ((await this.cmd.runcMessage(result, true)) !== undefined) {
      throw await this.cmd.failure(spec.name, result);
    }
    return result.exitStatus;
  }

  /** `runc create`: sets the container up; its init waits for `start`. Always detached. */
  async create(id: string, bundle: string, options: CreateOptions = {}): Promise<void> {
    const args = ['create', '--bundle', bundle];
    option(args, options.pidFile, '--pid-file');
    option(args, options.consoleSocket, '--console-socket');
    flag(args, options.noPivot, '--no-pivot');
    flag(args, options.noNewKeyring, '--no-new-keyring');
    preserveFds(args, options.extraFiles);
    args.push(...(options.extraArgs ?? []), id);
    await this.cmd.check({
      name: 'create',
      args,
      ...inheritedStdio(options.io),
      ...(options.extraFiles === undefined ? {} : { extraFiles: options.extraFiles }),
    });
  }

  /** `runc start`: runs the created container's process. */
  async start(id: string): Promise<void> {
    await this.call('start', ['start', id]);
  }

  /**
   * `runc run`: create + start. Without `detach` it waits and resolves with the container's exit
   * status (128 + signal when killed); with `detach`, 0 once started.
   */
  async run(id: string, bundle: string, options: CreateOptions = {}): Promise<number> {
    const args = ['run', '--bundle', bundle];
    flag(args, options.detach, '--detach');
    option(args, options.pidFile, '--pid-file');
    option(args, options.consoleSocket, '--console-socket');
    flag(args, options.noPivot, '--no-pivot');
    flag(args, options.noNewKeyring, '--no-new-keyring');
    flag(args, options.noSubreaper, '--no-subreaper');
    preserveFds(args, options.extraFiles);
    args.push(...(options.extraArgs ?? []), id);
    return this.exitStatus({
      name: 'run',
      args,
      ...(options.detach === true ? inheritedStdio(options.io) : proxiedStdio(options.io)),
      ...(options.extraFiles === undefined ? {} : { extraFiles: options.extraFiles }),
    });
  }

  /**
   * `runc exec --process <tmpfile> --detach`: starts `process` (an OCI process spec) in the
   * container. The spec goes to a temporary file (0600, removed afterwards).
   */
  async exec(id: string, process: object, options: ExecOptions = {}): Promise<void> {
    const file = path.join(
      os.tmpdir(),
      `runc-process-${globalThis.process.pid}-${Date.now()}-${++execSeq}.json`,
    );
    await writeFile(file, JSON.stringify(process), { mode: 0o600, flag: 'wx' });
    try {
      const detach = options.detach !== false;
      const args = ['exec', '--process', file];
      flag(args, detach, '--detach');
      option(args, options.pidFile, '--pid-file');
      option(args, options.consoleSocket, '--console-socket');
      preserveFds(args, options.extraFiles);
      args.push(...(options.extraArgs ?? []), id);
      await this.cmd.check({
        name: 'exec',
        args,
        ...(detach ? inheritedStdio(options.io) : proxiedStdio(options.io)),
        ...(options.extraFiles === undefined ? {} : { extraFiles: options.extraFiles }),
      });
    } finally {
      await rm(file, { force: true });
    }
  }

  /** `runc kill [--all] <id> <signal>`. */
  async kill(id: string, signal: number, options: KillOptions = {}): Promise<void> {
    const args = ['kill'];
    flag(args, options.all, '--all');
    args.push(id, String(signal));
    await this.call('kill', args);
  }

  /** `runc delete [--force]`. */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    const args = ['delete'];
    flag(args, options.force, '--force');
    args.push(id);
    await this.call('delete', args);
  }

  /** `runc state`. */
  async state(id: string): Promise<Container> {
    return this.json<Container>('state', ['state', id]);
  }

  /** `runc list --format json` (runc prints `null` for none). */
  async list(): Promise<Container[]> {
    return (await this.json<Container[] | null>('list', ['list', '--format', 'json'])) ?? [];
  }

  /** `runc ps --format json`: pids of the container's processes (runc prints `null` for none). */
  async ps(id: string): Promise<number[]> {
    return (await this.json<number[] | null>('ps', ['ps', '--format', 'json', id])) ?? [];
  }

  /** `runc pause` (cgroup freezer). */
  async pause(id: string): Promise<void> {
    await this.call('pause', ['pause', id]);
  }

  /** `runc resume`. */
  async resume(id: string): Promise<void> {
    await this.call('resume', ['resume', id]);
  }

  /** `runc update --resources -` with `resources` (OCI LinuxResources) as JSON on stdin. */
  async update(id: string, resources: object): Promise<void> {
    await this.call('update', ['update', '--resources', '-', id], {
      stdin: { input: JSON.stringify(resources) },
    });
  }

  /** `runc events --stats`: one snapshot of the container's cgroup statistics. */
  async stats(id: string): Promise<RuncStats> {
    const event = await this.json<{ type?: string; data?: RuncStats }>('events', [
      'events',
      '--stats',
      id,
    ]);
    if (event.type !== 'stats' || event.data === undefined) {
      throw new RuncError(`runc events --stats: unexpected output type ${String(event.type)}`, {
        command: [...this.argv, 'events', '--stats', id],
        exitStatus: 0,
        signal: null,
        stderr: '',
      });
    }
    return event.data;
  }

  /**
   * `runc events --interval <n>s`: stats every `intervalSeconds` (default 5) and `oom` events,
   * until `close()` (or `break`). runc keeps running after the container stopped (it then logs
   * errors, and reports the cgroup until delete), so close the stream. Ends with a RuncError if runc
   * fails on its own.
   */
  events(id: string, intervalSeconds = 5): RuncEventStream {
    const args = ['events', '--interval', `${intervalSeconds}s`, id];
    const spec: CommandSpec = { name: 'events', args, stdout: 'stream', stderr: 'capture' };
    const logOffset = this.cmd.log !== undefined ? fileSizeSync(this.cmd.log) : undefined;
    const { child, done } = this.cmd.start(spec, logOffset);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      child.kill('SIGKILL');
    };
    const cmd = this.cmd;
    async function* iterate(): AsyncGenerator<RuncEvent> {
      try {
        if (child.stdout === null) return;
        // Loaded here: only `runc events` reads lines, and a shim daemon keeps what it loads.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const readline = require('node:readline') as typeof import('node:readline');
        const lines = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
        for await (const line of lines) {
          if (line.trim() === '') continue;
          yield parseEvent(line);
        }
        const result = await done;
        if (!closed && result.exitStatus !== 0) throw await cmd.failure('events', result);
      } finally {
        close();
      }
    }
    const iterator = iterate();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close,
    };
  }

  /** `runc checkpoint` (needs a working criu). */
  async checkpoint(id: string, options: CheckpointOptions): Promise<void> {
    const args = ['checkpoint'];
    criuArgs(args, options);
    option(args, options.parentPath, '--parent-path');
    flag(args, options.leaveRunning, '--leave-running');
    flag(args, options.preDump, '--pre-dump');
    option(args, options.criuPageServer, '--page-server');
    const extraFiles: number[] = [];
    if (options.statusFd !== undefined) {
      extraFiles.push(options.statusFd);
      args.push('--status-fd', '3');
    }
    args.push(...(options.extraArgs ?? []), id);
    await this.call('checkpoint', args, extraFiles.length > 0 ? { extraFiles } : {});
  }

  /**
   * `runc restore`: like `run` from a checkpoint; resolves with the container's exit status
   * (without `detach`) or 0 once restored (with `detach`).
   */
  async restore(id: string, bundle: string, options: RestoreOptions): Promise<number> {
    const args = ['restore', '--bundle', bundle];
    criuArgs(args, options);
    flag(args, options.detach, '--detach');
    option(args, options.pidFile, '--pid-file');
    option(args, options.consoleSocket, '--console-socket');
    flag(args, options.noPivot, '--no-pivot');
    flag(args, options.noSubreaper, '--no-subreaper');
    args.push(...(options.extraArgs ?? []), id);
    return this.exitStatus({
      name: 'restore',
      args,
      ...(options.detach === true ? inheritedStdio(options.io) : proxiedStdio(options.io)),
    });
  }

  /** `runc features` (runc 1.1+): the runtime features JSON. */
  async features(): Promise<Record<string, unknown>> {
    return this.json<Record<string, unknown>>('features', ['features']);
  }

  /** `runc --version`, parsed. */
  async version(): Promise<RuncVersion> {
    const result = await this.cmd.check({
      name: '--version',
      args: ['--version'],
      globals: false,
      stdout: 'capture',
      stderr: 'capture',
    });
    const fields = new Map<string, string>();
    for (const line of result.stdout.toString('utf8').split('\n')) {
      const m = /^(runc version|commit:|spec:|go:|libseccomp:)\s*(.*)$/.exec(line.trim());
      if (m !== null) fields.set(m[1].replace(/ version$|:$/, ''), m[2].trim());
    }
    const runc = fields.get('runc');
    if (runc === undefined) {
      throw new RuncError('runc --version: no version in output', {
        command: result.argv,
        exitStatus: 0,
        signal: null,
        stderr: result.stderr,
      });
    }
    const version: RuncVersion = { runc };
    for (const key of ['commit', 'spec', 'go', 'libseccomp'] as const) {
      const value = fields.get(key);
      if (value !== undefined) version[key] = value;
    }
    return version;
  }
}
