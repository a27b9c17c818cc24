// A container: its init process (runc create/start), execs, and everything runc does to it.
// Exits come from the SDK's reaper through monitor.waitFor, which also finds an exit that
// happened before Start returned; exit events are held until the start event went out, and the
// init's exit is reported after those of its execs.
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  Code,
  TOPICS,
  TtrpcError,
  fromAny,
  logger,
  monitor,
  tryReadPidFile,
  readSpec,
  timestamp,
  toAny,
  writeOptions,
  writeRuntime,
} from 'containerd-shim';
import type { Spec } from 'containerd-shim';
import { protobuf, task, taskTypes } from 'containerd-shim/protos/task';
import { events } from 'containerd-shim/protos/events';
import { runc as runcTypes } from 'containerd-shim/protos/runc';
import { ConsoleSocket, Runc, isRuncError } from 'containerd-shim/runc';
import {
  collectMetrics,
  detachRecursive,
  mountAll,
  unmountRecursive,
  watchOom,
} from 'containerd-shim/linux';
import type { OomWatcher } from 'containerd-shim/linux';
import { killError, processFinished, runtimeError } from './errors';
import { Process } from './process';
import type { ProcessState } from './process';
import { ProcessIo } from './stdio';

/** Where the container's events go (the service publishes them in order). */
export interface EventSink {
  send(topic: string, event: protobuf.Any.$Properties): void;
  /**
   * Queues an event built later, off containerd's clock: at flush(), before the next send(), or
   * shortly after (in order with the others either way).
   */
  later(topic: string, build: () => protobuf.Any.$Properties): void;
  /** Publishes what later() queued: the daemon has a moment (runc start is running). */
  flush(): void;
}

export type RuncOptions = runcTypes.Options.$Properties;

const SIGKILL = 9;
const OCI_PROCESS_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

// Go's init state machine refuses these in its own words (UNKNOWN, as plain Go errors travel).
const PAUSE_REFUSED: Partial<Record<ProcessState, string>> = {
  created: 'cannot pause task in created state',
  paused: 'cannot pause a paused container',
  pausing: 'cannot pause a paused container',
  stopped: 'cannot pause a stopped container',
};
const RESUME_REFUSED: Partial<Record<ProcessState, string>> = {
  created: 'cannot resume task in created state',
  running: 'cannot resume a running process',
  stopped: 'cannot resume a stopped container',
};

/** An Any holding JSON (how containerd ships OCI specs and resources). */
function jsonAny(value: protobuf.Any.$Properties | null | undefined, what: string): object {
  try {
    return JSON.parse(Buffer.from(value?.value ?? new Uint8Array()).toString('utf8')) as object;
  } catch (err) {
    throw new TtrpcError(Code.INVALID_ARGUMENT, `malformed ${what}: ${(err as Error).message}`);
  }
}

/**
 * Warm start (Config.warmup): what create does with containerd's request before it runs runc
 * (the options Any, the spec's namespaces), on a sample; touches nothing.
 */
export function rehearseCreate(options: protobuf.Any.$Properties, specJson: string): boolean {
  const decoded = fromAny(runcTypes.Options, options);
  const spec = JSON.parse(specJson) as Spec;
  return Boolean(decoded.binaryName) && sharesPidNamespace(spec);
}

/** Does the container share a PID namespace (the host's)? Then its init's exit kills nothing. */
function sharesPidNamespace(spec: Spec): boolean {
  const namespaces = (spec.linux?.namespaces ?? []) as { type?: string; path?: string }[];
  return !namespaces.some((n) => n.type === 'pid' && !n.path);
}

export class Container {
  readonly execs = new Map<string, Process>();
  private oom: OomWatcher | undefined;

  private constructor(
    readonly id: string,
    readonly bundle: string,
    readonly runc: Runc,
    readonly init: Process,
    private readonly rootfs: string | undefined,
    private readonly events: EventSink,
    private readonly spec: Spec,
  ) {}

  static async create(
    request: task.CreateTaskRequest,
    namespace: string,
    startOptions: RuncOptions,
    events: EventSink,
  ): Promise<Container> {
    const { id, bundle } = request;
    const options: RuncOptions = request.options?.value?.length
      ? fromAny(runcTypes.Options, request.options)
      : startOptions;
    const runc = new Runc({
      command: options.binaryName || 'runc',
      root: options.root || `/run/containerd/runc/${namespace}`,
      log: path.join(bundle, 'log.json'),
      systemdCgroup: options.systemdCgroup ?? false,
    });
    let rootfs: string | undefined;
    if (request.rootfs.length > 0) {
      rootfs = path.join(bundle, 'rootfs');
      fs.mkdirSync(rootfs, { recursive: true });
      mountAll(
        request.rootfs.map((m) => ({
          type: m.type,
          source: m.source,
          target: m.target,
          options: m.options,
        })),
        rootfs,
      );
    }
    const io = new ProcessIo({
      stdin: request.stdin,
      stdout: request.stdout,
      stderr: request.stderr,
      terminal: request.terminal,
    });
    const init = new Process(id, '', io);
    const pidFile = path.join(bundle, 'init.pid');
    const since = new Date();
    const console = request.terminal ? ConsoleSocket.create() : undefined;
    let spec: Spec | undefined;
    try {
      const fds = io.open();
      // runc starts first (spawned synchronously); what it does not need is done while it runs.
      const created = runc.create(id, bundle, {
        pidFile,
        consoleSocket: console?.path,
        noPivot: options.noPivotRoot ?? false,
        noNewKeyring: options.noNewKeyring ?? false,
        io: fds,
      });
      const received = console?.receive();
      // `start` reads nothing of this; `delete` (after a crash of this daemon) reads the files.
      let failed: unknown;
      try {
        spec = readSpec(bundle);
        writeOptions(options, bundle);
        writeRuntime(options.binaryName || 'runc', bundle);
      } catch (err) {
        failed = err;
      }
      if (received) {
        const [master] = await Promise.all([received, created]);
        io.attachConsole(master);
      } else {
        await created;
      }
      if (failed !== undefined) throw failed;
      io.handedOver();
      init.pid = tryReadPidFile(pidFile);
    } catch (err) {
      io.close();
      await runc.delete(id, { force: true }).catch(() => undefined);
      if (rootfs) unmountRecursive(rootfs);
      throw runtimeError(err, 'OCI runtime create failed');
    } finally {
      console?.close();
    }
    const container = new Container(id, bundle, runc, init, rootfs, events, spec!);
    container.watchExit(init, since);
    return container;
  }

  /**
   * Called by Start right after it spawned `runc start`, so off containerd's clock (Go's shim
   * sets its watch up after runc start returned): runc's init still waits for runc start to
   * open its exec FIFO, so its cgroup is known and nothing of the container has run yet.
   */
  private watchOom(): void {
    if (this.oom !== undefined) return;
    try {
      this.oom = watchOom(this.init.pid, () =>
        this.events.send(TOPICS.TASK_OOM, toAny(events.TaskOOM, { containerId: this.id })),
      );
    } catch (err) {
      logger.warn({ err, id: this.id }, 'failed to watch for OOM');
    }
  }

  /** The process `execId` names ('' = init). */
  process(execId: string): Process {
    if (execId === '') return this.init;
    const p = this.execs.get(execId);
    if (!p) throw new TtrpcError(Code.NOT_FOUND, `process ${execId} does not exist`);
    return p;
  }

  get all(): Process[] {
    return [this.init, ...this.execs.values()];
  }

  async start(execId: string): Promise<Process> {
    const p = this.process(execId);
    if (p.state !== 'created')
      throw new TtrpcError(Code.FAILED_PRECONDITION, `process ${p.id} is ${p.state}, not created`);
    if (!p.isInit && this.init.stopped) {
      throw new TtrpcError(
        Code.FAILED_PRECONDITION,
        `container ${this.id} init process is not running`,
      );
    }
    await p.starting(async () => {
      if (p.isInit) {
        const started = this.runc.start(this.id); // spawned synchronously: runs from here
        this.watchOom();
        this.events.flush(); // the create event, built while runc start runs
        await started.catch((err: unknown) => {
          throw runtimeError(err, 'OCI runtime start failed');
        });
        p.state = 'running';
        this.events.later(TOPICS.TASK_START, () =>
          toAny(events.TaskStart, { containerId: this.id, pid: p.pid }),
        );
      } else {
        await this.startExec(p);
        p.state = 'running';
        this.events.later(TOPICS.TASK_EXEC_STARTED, () =>
          toAny(events.TaskExecStarted, {
            containerId: this.id,
            execId: p.execId,
            pid: p.pid,
          }),
        );
      }
    });
    // The start event goes out once Start's answer is written (an exit sent sooner flushes it).
    setImmediate(this.events.flush);
    return p;
  }

  private async startExec(p: Process): Promise<void> {
    const pidFile = path.join(this.bundle, `${p.execId}.pid`);
    const since = new Date();
    const console = p.io.paths.terminal ? ConsoleSocket.create() : undefined;
    try {
      const fds = p.io.open();
      const started = this.runc.exec(this.id, p.spec ?? {}, {
        pidFile,
        consoleSocket: console?.path,
        detach: true,
        io: fds,
      });
      if (console) {
        const [master] = await Promise.all([console.receive(), started]);
        p.io.attachConsole(master);
      } else {
        await started;
      }
      p.io.handedOver();
      p.pid = tryReadPidFile(pidFile);
    } catch (err) {
      p.io.close();
      p.failedToStart(); // Wait must answer: containerd 1.6 would wait a minute for it
      throw runtimeError(err, 'OCI runtime exec failed');
    } finally {
      console?.close();
      fs.rmSync(pidFile, { force: true });
    }
    this.watchExit(p, since);
  }

  private watchExit(p: Process, since: Date): void {
    void monitor.waitFor(p.pid, { since }).then(async (exit) => {
      await p.afterStart();
      if (p.isInit) {
        if (sharesPidNamespace(this.spec)) {
          await this.runc.kill(this.id, SIGKILL, { all: true }).catch((err: unknown) => {
            const e = runtimeError(err, 'OCI runtime killall failed');
            logger.warn({ err: e, id: this.id }, "failed to kill init's children");
          });
        }
        // containerd expects the init's exit after the exits of its execs.
        await Promise.all(
          [...this.execs.values()].filter((e) => e.pid > 0 && !e.stopped).map((e) => e.reported),
        );
        // An OOM kill is reported before the exit it caused.
        this.oom?.poll();
        this.oom?.close();
      }
      // Stamped when handled, not when reaped, so never before the Start response (as in Go);
      // rounded up to the next millisecond, so a Date's truncation cannot make it earlier.
      const exitedAt = new Date(Date.now() + 1);
      await p.io.drain();
      p.setExited(exit.status, exitedAt);
      this.events.send(
        TOPICS.TASK_EXIT,
        toAny(events.TaskExit, {
          containerId: this.id,
          id: p.id,
          pid: p.pid,
          exitStatus: p.exitStatus,
          exitedAt: timestamp(p.exitedAt),
        }),
      );
      p.markReported();
    });
  }

  exec(request: task.ExecProcessRequest): Process {
    if (this.execs.has(request.execId))
      throw new TtrpcError(Code.ALREADY_EXISTS, `exec ${request.execId} already exists`);
    if (this.init.stopped)
      throw new TtrpcError(Code.FAILED_PRECONDITION, `container ${this.id} is not running`);
    const url = request.spec?.type_url ?? '';
    if (url !== '' && !url.endsWith('/Process') && url !== OCI_PROCESS_TYPE) {
      throw new TtrpcError(Code.INVALID_ARGUMENT, `exec spec must be an OCI process, got ${url}`);
    }
    const io = new ProcessIo({
      stdin: request.stdin,
      stdout: request.stdout,
      stderr: request.stderr,
      terminal: request.terminal,
    });
    const p = new Process(this.id, request.execId, io, jsonAny(request.spec, 'exec process spec'));
    this.execs.set(request.execId, p);
    this.events.send(
      TOPICS.TASK_EXEC_ADDED,
      toAny(events.TaskExecAdded, { containerId: this.id, execId: request.execId }),
    );
    return p;
  }

  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    const p = this.process(execId);
    if (p.isInit) {
      if (p.stopped && !all) throw processFinished();
      await this.runc.kill(this.id, signal, { all }).catch((err: unknown) => {
        throw killError(err);
      });
      return;
    }
    if (p.pid <= 0)
      throw new TtrpcError(Code.FAILED_PRECONDITION, 'process not created: failed precondition');
    if (p.stopped) throw processFinished();
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      throw killError(err);
    }
  }

  /** Deletes a process; for the init, the whole container (runc state and rootfs mounts). */
  async delete(execId: string): Promise<Process> {
    const p = this.process(execId);
    if (!p.isInit) {
      if (p.state !== 'created' && !p.stopped)
        throw new TtrpcError(Code.FAILED_PRECONDITION, `exec ${execId} is still running`);
      p.io.close();
      this.execs.delete(execId);
      return p;
    }
    if (p.state !== 'created' && !p.stopped) {
      throw new TtrpcError(
        Code.FAILED_PRECONDITION,
        `cannot delete a running container ${this.id}`,
      );
    }
    await this.runc.delete(this.id, { force: p.state === 'created' }).catch((err: unknown) => {
      // runc already forgot it (after a checkpoint, say): only our state is left to drop
      if (!(isRuncError(err) && err.notFound)) throw runtimeError(err, 'failed to delete task');
    });
    this.oom?.close();
    p.io.close();
    // Unmounted (gone from the mount table) before the answer, as in Go's shim; the overlay's
    // shutdown, which syncs the filesystem under the snapshots, goes on off the answer's path.
    if (this.rootfs) detachRecursive(this.rootfs);
    return p;
  }

  async pause(): Promise<void> {
    const refused = PAUSE_REFUSED[this.init.state];
    if (refused) throw new TtrpcError(Code.UNKNOWN, refused);
    this.init.state = 'pausing';
    try {
      await this.runc.pause(this.id);
      this.init.state = 'paused';
    } catch (err) {
      this.init.state = 'running';
      throw runtimeError(err, 'OCI runtime pause failed');
    }
    this.events.send(TOPICS.TASK_PAUSED, toAny(events.TaskPaused, { containerId: this.id }));
  }

  async resume(): Promise<void> {
    const refused = RESUME_REFUSED[this.init.state];
    if (refused) throw new TtrpcError(Code.UNKNOWN, refused);
    await this.runc.resume(this.id).catch((err: unknown) => {
      throw runtimeError(err, 'OCI runtime resume failed');
    });
    this.init.state = 'running';
    this.events.send(TOPICS.TASK_RESUMED, toAny(events.TaskResumed, { containerId: this.id }));
  }

  async pids(): Promise<taskTypes.ProcessInfo.$Properties[]> {
    const pids = await this.runc.ps(this.id);
    const execOf = new Map([...this.execs.values()].map((e) => [e.pid, e.execId]));
    return pids.map((pid: number) => {
      const execId = execOf.get(pid);
      return execId === undefined
        ? { pid }
        : { pid, info: toAny(runcTypes.ProcessDetails, { execId }) };
    });
  }

  stats(): protobuf.Any.$Properties {
    this.init.assertAlive();
    return collectMetrics(this.init.pid);
  }

  async update(resources: protobuf.Any.$Properties | null | undefined): Promise<void> {
    // runc-v2's stopped state: an error of no particular kind (UNKNOWN), not NOT_FOUND.
    if (this.init.stopped) throw new TtrpcError(Code.UNKNOWN, 'cannot update a stopped container');
    await this.runc.update(this.id, jsonAny(resources, 'resources'));
  }

  async checkpoint(request: task.CheckpointTaskRequest): Promise<void> {
    const options: runcTypes.CheckpointOptions.$Properties = request.options?.value?.length
      ? fromAny(runcTypes.CheckpointOptions, request.options)
      : {};
    // criu works (and logs) in the bundle unless told otherwise, not in containerd's temporary
    // image directory; on failure its dump.log is kept as <bundle>/criu-dump.log (runc-v2).
    const work = options.workPath || path.join(this.bundle, 'criu-work');
    try {
      await this.runc.checkpoint(this.id, {
        imagePath: request.path,
        workDir: work,
        leaveRunning: !options.exit,
        allowOpenTcp: options.openTcp ?? false,
        allowExternalUnixSockets: options.externalUnixSockets ?? false,
        allowTerminal: options.terminal ?? false,
        fileLocks: options.fileLocks ?? false,
        emptyNamespaces: options.emptyNamespaces ?? [],
      });
    } catch (err) {
      const dumpLog = path.join(this.bundle, 'criu-dump.log');
      try {
        fs.copyFileSync(path.join(work, 'dump.log'), dumpLog);
      } catch (copyErr) {
        logger.error({ err: copyErr }, 'failed to copy dump.log to criu-dump.log');
      }
      const first = ((err as Error).message ?? String(err)).split('\n')[0];
      throw new TtrpcError(Code.UNKNOWN, `${first} path= ${dumpLog}`);
    } finally {
      if (!options.workPath) fs.rmSync(work, { recursive: true, force: true });
    }
  }
}
