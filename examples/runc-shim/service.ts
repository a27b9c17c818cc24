// The Task service: containerd.task.v2.Task for any number of containers (a grouped shim serves
// a whole pod). Events go through one ordered queue to the SDK's publisher.
import * as fs from 'node:fs';

import {
  Code,
  ExitSignal,
  TOPICS,
  TtrpcError,
  logger,
  timestamp,
  toAny,
  writeDeleteReceipt,
} from 'containerd-shim';
import type { RemotePublisher, Task } from 'containerd-shim';
import { protobuf, task } from 'containerd-shim/protos/task';
import { events } from 'containerd-shim/protos/events';
import { runc as runcTypes } from 'containerd-shim/protos/runc';
import { Container, rehearseCreate } from './container';
import type { EventSink, RuncOptions } from './container';
import type { Process } from './process';

type Empty = protobuf.Empty.$Properties;

const STATUS: Record<string, number> = {
  created: 1,
  running: 2,
  stopped: 3,
  paused: 4,
  pausing: 5,
};

/**
 * How long an event queued with EventSink.later may wait for a moment of the daemon's own (Start
 * flushes it as soon as runc start runs): containerd's next request usually comes first.
 */
const DEFER_MS = 20;
/** The exit status the `delete` action reports (manager.ts deleteShim, as Go's runc-v2). */
const SIGKILL = 9;

function criuAvailable(): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir !== '' && fs.existsSync(`${dir}/criu`));
}

function toTimestamp(date: Date | undefined): protobuf.Timestamp.$Properties | undefined {
  return date ? timestamp(date) : undefined;
}

export class RuncTaskService implements Task {
  private readonly containers = new Map<string, Container>();
  private readonly events: EventSink;

  constructor(
    private readonly namespace: string,
    publisher: RemotePublisher,
    private readonly exit: ExitSignal,
    private readonly startOptions: RuncOptions,
  ) {
    const publish = (topic: string, event: protobuf.Any.$Properties): void => {
      publisher
        .publish(topic, namespace, event)
        .catch((err: unknown) => logger.warn({ err, topic }, 'failed to publish event'));
    };
    // Events built later (EventSink.later), in order with the others.
    const deferred: [string, () => protobuf.Any.$Properties][] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      clearTimeout(timer);
      timer = undefined;
      for (const [topic, build] of deferred.splice(0)) publish(topic, build());
    };
    this.events = {
      send: (topic, event) => {
        flush();
        publish(topic, event);
      },
      later: (topic, build) => {
        deferred.push([topic, build]);
        timer ??= setTimeout(flush, DEFER_MS);
      },
      flush,
    };
  }

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new TtrpcError(Code.NOT_FOUND, `container ${id} does not exist`);
    return c;
  }

  private process(id: string, execId: string): Process {
    return this.container(id).process(execId);
  }

  async create(request: task.CreateTaskRequest): Promise<task.CreateTaskResponse.$Properties> {
    if (this.containers.has(request.id))
      throw new TtrpcError(Code.ALREADY_EXISTS, `container ${request.id} already exists`);
    const container = await Container.create(
      request,
      this.namespace,
      this.startOptions,
      this.events,
    );
    this.containers.set(request.id, container);
    const pid = container.init.pid;
    // Built and sent after the answer, while runc start runs (or DEFER_MS later without a Start).
    this.events.later(TOPICS.TASK_CREATE, () => taskCreate(request, pid));
    return { pid };
  }

  async start(request: task.StartRequest): Promise<task.StartResponse.$Properties> {
    const p = await this.container(request.id).start(request.execId);
    return { pid: p.pid };
  }

  async delete(request: task.DeleteRequest): Promise<task.DeleteResponse.$Properties> {
    const container = this.container(request.id);
    // An exited init's TaskDelete is final before runc delete runs: it is built while runc
    // delete runs (the first encoding of its kind in this daemon), not after the answer, where
    // containerd's Shutdown request would wait behind it.
    const init = container.process(request.execId);
    const final = init.isInit && init.stopped ? deleteResponse(init) : undefined;
    let early: protobuf.Any.$Properties | undefined;
    if (final) setImmediate(() => (early = taskDelete(request.id, final)));
    const p = await container.delete(request.execId);
    const response = deleteResponse(p);
    if (p.isInit) {
      this.containers.delete(request.id);
      // runc's state and the rootfs mount are gone: the `delete` action containerd runs after
      // our exit has nothing to clean, and answers as deleteShim would (manager.ts), at once.
      try {
        writeDeleteReceipt(container.bundle, request.id, {
          pid: response.pid ?? 0,
          exitStatus: 128 + SIGKILL,
        });
      } catch (err) {
        logger.warn({ err }, 'no delete receipt: the delete action will clean up');
      }
      const built = early !== undefined && sameResponse(final!, response) ? early : undefined;
      // Sent once the answer is out (containerd waits on it, not on the event). Go's shim
      // queues it for a sender goroutine.
      setImmediate(() =>
        this.events.send(TOPICS.TASK_DELETE, built ?? taskDelete(request.id, response)),
      );
    }
    return response;
  }

  async exec(request: task.ExecProcessRequest): Promise<Empty> {
    this.container(request.id).exec(request);
    return {};
  }

  async state(request: task.StateRequest): Promise<task.StateResponse.$Properties> {
    const container = this.container(request.id);
    const p = container.process(request.execId);
    return {
      id: p.id,
      bundle: container.bundle,
      pid: p.pid,
      status: STATUS[p.state] ?? 0,
      stdin: p.io.paths.stdin,
      stdout: p.io.paths.stdout,
      stderr: p.io.paths.stderr,
      terminal: p.io.paths.terminal,
      exitStatus: p.exitStatus,
      exitedAt: toTimestamp(p.exitedAt),
      execId: p.execId,
    };
  }

  async kill(request: task.KillRequest): Promise<Empty> {
    await this.container(request.id).kill(request.execId, request.signal, request.all);
    return {};
  }

  async pids(request: task.PidsRequest): Promise<task.PidsResponse.$Properties> {
    return { processes: await this.container(request.id).pids() };
  }

  async pause(request: task.PauseRequest): Promise<Empty> {
    await this.container(request.id).pause();
    return {};
  }

  async resume(request: task.ResumeRequest): Promise<Empty> {
    await this.container(request.id).resume();
    return {};
  }

  async closeIO(request: task.CloseIORequest): Promise<Empty> {
    if (request.stdin) this.process(request.id, request.execId).io.closeStdin();
    return {};
  }

  async resizePty(request: task.ResizePtyRequest): Promise<Empty> {
    this.process(request.id, request.execId).io.resize(request.width, request.height);
    return {};
  }

  async update(request: task.UpdateTaskRequest): Promise<Empty> {
    await this.container(request.id).update(request.resources);
    return {};
  }

  async wait(request: task.WaitRequest): Promise<task.WaitResponse.$Properties> {
    const p = this.process(request.id, request.execId);
    await p.exited;
    return { exitStatus: p.exitStatus, exitedAt: toTimestamp(p.exitedAt) };
  }

  async stats(request: task.StatsRequest): Promise<task.StatsResponse.$Properties> {
    return { stats: this.container(request.id).stats() };
  }

  async checkpoint(request: task.CheckpointTaskRequest): Promise<Empty> {
    if (!criuAvailable())
      throw new TtrpcError(Code.UNIMPLEMENTED, 'checkpoint needs criu, which is not installed');
    await this.container(request.id).checkpoint(request);
    return {};
  }

  async connect(request: task.ConnectRequest): Promise<task.ConnectResponse.$Properties> {
    const c = this.containers.get(request.id);
    return { shimPid: process.pid, taskPid: c?.init.pid ?? 0 };
  }

  async shutdown(_request: task.ShutdownRequest): Promise<Empty> {
    // A grouped shim keeps serving while any of its containers remains.
    if (this.containers.size === 0) this.exit.signal();
    return {};
  }
}

function taskCreate(request: task.CreateTaskRequest, pid: number): protobuf.Any.$Properties {
  return toAny(events.TaskCreate, {
    containerId: request.id,
    bundle: request.bundle,
    rootfs: request.rootfs,
    io: {
      stdin: request.stdin,
      stdout: request.stdout,
      stderr: request.stderr,
      terminal: request.terminal,
    },
    checkpoint: request.checkpoint,
    pid,
  });
}

function deleteResponse(p: Process): task.DeleteResponse.$Properties {
  return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: toTimestamp(p.exitedAt) };
}

function sameResponse(
  a: task.DeleteResponse.$Properties,
  b: task.DeleteResponse.$Properties,
): boolean {
  return (
    a.pid === b.pid &&
    a.exitStatus === b.exitStatus &&
    a.exitedAt?.seconds === b.exitedAt?.seconds &&
    a.exitedAt?.nanos === b.exitedAt?.nanos
  );
}

function taskDelete(id: string, r: task.DeleteResponse.$Properties): protobuf.Any.$Properties {
  return toAny(events.TaskDelete, {
    containerId: id,
    pid: r.pid,
    exitStatus: r.exitStatus,
    exitedAt: r.exitedAt,
  });
}

/** A config.json as containerd writes it for `ctr run` (trimmed), for the warm-up. */
const SAMPLE_SPEC = JSON.stringify({
  ociVersion: '1.1.0',
  process: { args: ['/bin/true'], env: ['PATH=/usr/bin:/bin'], cwd: '/', user: { uid: 0, gid: 0 } },
  root: { path: 'rootfs' },
  linux: {
    namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })),
    cgroupsPath: '/default/sample',
  },
});

/**
 * Warm start (Config.warmup): the service's own request handling on samples (runc options,
 * spec, the events it builds), so a daemon adopted from a standby runs compiled code. Runs no
 * runc, mounts nothing, writes no file.
 */
export function warmup(): void {
  const options = toAny(runcTypes.Options, { binaryName: 'runc', root: '/run/containerd/runc' });
  rehearseCreate(options, SAMPLE_SPEC);
  const request = task.CreateTaskRequest.fromObject({
    id: 'sample',
    bundle: '/run/containerd/sample',
    rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/l', 'upperdir=/u'] }],
    stdout: '/run/containerd/fifo/sample-stdout',
    options,
  });
  taskCreate(request, 1);
  taskDelete('sample', { pid: 1, exitStatus: 0, exitedAt: timestamp() });
}
