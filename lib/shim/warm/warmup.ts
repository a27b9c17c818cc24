// A standby's rehearsal of the serving path, before it announces itself: one loopback TTRPC
// exchange through the SDK's own Server and Client (the daemon's handshaker, the Task service
// registered against a throw-away Task, realistic Task API messages decoded and encoded both
// ways) and the encoding of the events a container's life publishes (not their sending: a
// loopback Events service would compile decoders no daemon runs). A daemon adopted from the
// standby then runs code V8 has already compiled instead of interpreting it on containerd's
// clock.
//
// Side-effect free: an abstract unix socket (no file), no process, mount or signal handler;
// everything it opens is closed before it resolves.
import type { containerd as eventTypes } from '../../generated/events';
import type { containerd as taskTypes } from '../../generated/task';
import { TaskClient, TaskService, registerTaskService } from '../../generated/task-service';
import { Client } from '../../ttrpc/client';
import { Server } from '../../ttrpc/server';
import { platform } from '../platform';
import type { Task } from '../task';
import { timestamp, toAny } from '../util';

type Events = typeof eventTypes.events;

const ID = 'warmup0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab';
const BUNDLE = `/run/containerd/io.containerd.runtime.v2.task/default/${ID}`;
const FIFO = `/run/containerd/fifo/1234567890/${ID}`;

/** A Task that answers like a shim running one container, and touches nothing. */
function throwAwayTask(): Task {
  let exitedAt = timestamp();
  return {
    create: (r) => ({ pid: r.rootfs.length > 0 ? 4242 : 0 }),
    start: () => ({ pid: 4242 }),
    wait: () => ({ exitStatus: 0, exitedAt }),
    delete: () => {
      exitedAt = timestamp();
      return { pid: 4242, exitStatus: 0, exitedAt };
    },
    connect: () => ({ shimPid: process.pid, taskPid: 4242, version: '2' }),
  };
}

function createRequest(): taskTypes.task.v2.CreateTaskRequest.$Properties {
  return {
    id: ID,
    bundle: BUNDLE,
    rootfs: [
      {
        type: 'overlay',
        source: 'overlay',
        target: '',
        options: [
          'index=off',
          'workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/work',
          'upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs',
          'lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs',
        ],
      },
    ],
    stdin: '',
    stdout: `${FIFO}-stdout`,
    stderr: `${FIFO}-stderr`,
    // A runc Options message (binary_name, root), as containerd sends it.
    options: {
      type_url: 'containerd.runc.v1.Options',
      value: Buffer.from(
        '320472756e633a1c2f72756e2f636f6e7461696e6572642f72756e632f64656661756c74',
        'hex',
      ),
    },
  };
}

/**
 * Create's request through its message class, encoded and decoded (no socket, nothing kept): the
 * decoders an adopted daemon runs first, on containerd's clock, before it mounts the rootfs
 * (protobufjs's reader, CreateTaskRequest, Mount, Any). Part of every standby's preload; the
 * loopback exchange below is the opt-in rest.
 */
export function rehearseCreateDecode(): number {
  const type = TaskService.methods.create.requestType;
  return type.decode(type.encode(createRequest()).finish()).rootfs.length;
}

/**
 * The exchange containerd has with a daemon over a `ctr run --rm` (State and Kill, rarer, are
 * left out: each method rehearsed costs the daemon memory).
 */
async function exchange(tasks: TaskClient): Promise<void> {
  await tasks.connect({ id: ID });
  await tasks.create(createRequest());
  await tasks.start({ id: ID });
  await tasks.wait({ id: ID });
  await tasks.delete({ id: ID });
}

/** The events a container's life publishes, encoded as the daemon's publisher sends them. */
function encodeLifecycle(ev: Events): number {
  const events = [
    toAny(ev.TaskCreate, {
      containerId: ID,
      bundle: BUNDLE,
      rootfs: createRequest().rootfs,
      io: { stdout: `${FIFO}-stdout`, stderr: `${FIFO}-stderr` },
      pid: 4242,
    }),
    toAny(ev.TaskStart, { containerId: ID, pid: 4242 }),
    toAny(ev.TaskExit, {
      containerId: ID,
      id: ID,
      pid: 4242,
      exitStatus: 0,
      exitedAt: timestamp(),
    }),
    toAny(ev.TaskDelete, { containerId: ID, pid: 4242, exitStatus: 0, exitedAt: timestamp() }),
  ];
  return events.reduce((n, e) => n + (e.value?.length ?? 0), 0);
}

/**
 * Runs the rehearsal once. Resolves when everything it opened is closed; rejects (with nothing
 * left open) if the serving path fails, which the standby reports before exiting.
 */
export async function warmUpServing(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ev = (require('../../generated/events') as { containerd: typeof eventTypes }).containerd
    .events as Events;
  const address = `@containerd-shim-warmup-${process.pid}`;
  const server = new Server({
    handshaker: platform.handshaker(),
    interceptors: [(_context, request, next) => next(request)],
  });
  registerTaskService(server, throwAwayTask());
  let client: Client | undefined;
  try {
    await server.listen(address);
    client = await Client.connect(address);
    await exchange(new TaskClient(client));
    if (encodeLifecycle(ev) === 0) throw new Error('the lifecycle events encoded to nothing');
  } finally {
    client?.close();
    await server.close();
  }
}
