// The shim side of the runc shim: start (spawn or reuse the serving process), delete (clean up a
// container whose shim died: runc delete --force, unmount, exit 137), and the Task service.
// containerd waits on `start` and `delete`, so what only the serving process needs (the Task
// service, protobuf messages, cgroups) is imported when it is first used.
import * as path from 'node:path';

import {
  ExitSignal,
  logger,
  readOptions,
  tryReadPidFile,
  readRuntime,
  spawn,
  taskApiVersion,
  timestamp,
} from 'containerd-shim';
import type {
  Config,
  DeleteResponse,
  Flags,
  RemotePublisher,
  Shim,
  StartOpts,
  StartResult,
  Task,
} from 'containerd-shim';

const SIGKILL = 9;

/**
 * `RUNCTS_SHIM_GROUP=namespace` in containerd's environment (e.g. a systemd drop-in for
 * containerd.service): one shim serves every container of a namespace instead of one shim per
 * container, as the `io.containerd.runc.v2.group` annotation does for the containers that carry
 * it (an annotation still wins). Saves a Node process per container (README, "Memory per
 * container"); the containers then share the shim's fate: if it dies, containerd's dead-shim
 * cleanup takes all of them.
 */
export const GROUP_ENV = 'RUNCTS_SHIM_GROUP';

/** The shim group of a container: its own id, or its namespace's under RUNCTS_SHIM_GROUP. */
export function shimGroup(opts: Pick<StartOpts, 'id' | 'namespace'>): string {
  const policy = process.env[GROUP_ENV];
  if (policy === undefined || policy === '' || policy === 'container') return opts.id;
  if (policy === 'namespace') return `namespace:${opts.namespace}`; // ':' is never in an id
  throw Object.assign(new Error(`${GROUP_ENV}=${policy}: expected "namespace" or "container"`), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
}

// require(), not import(): a dynamic import() would start Node's ESM loader (~10 ms here).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = <T>(id: string): T => require(id) as T;

/**
 * Warm start (Config.preload): what the serving daemon and `delete` load on first use (the Task
 * service brings the runc client, mount, cgroup and OOM helpers), loaded by standbys ahead of
 * demand.
 */
export function preload(): void {
  load('./service');
}

/** Warm start (Config.warmup): the Task service rehearses its request handling (service.ts). */
export function warmup(): void {
  load<typeof import('./service')>('./service').warmup();
}

export class RuncShim implements Shim {
  private readonly exit = new ExitSignal();

  constructor(
    _runtimeId: string,
    private readonly flags: Flags,
    _config: Config,
  ) {}

  // Version 3 where containerd takes it (2.x): containerd then attaches a pod's further
  // containers to this shim without running `start` or `delete` (Task.Delete cleans up).
  async startShim(opts: StartOpts): Promise<StartResult> {
    const address = await spawn(opts, shimGroup(opts), []);
    return { address, version: await taskApiVersion(opts) };
  }

  async deleteShim(): Promise<DeleteResponse> {
    const { Runc } = load<typeof import('containerd-shim/runc')>('containerd-shim/runc');
    const { unmountRecursive } = load<typeof import('containerd-shim/linux/mount')>(
      'containerd-shim/linux/mount',
    );
    const bundle = this.flags.bundle || process.cwd();
    const options = readOptions(bundle);
    let runtime = 'runc';
    try {
      runtime = readRuntime(bundle) || runtime;
    } catch {
      // no runtime file: the container never got created
    }
    const runc = new Runc({
      command: options.binaryName || runtime,
      root: options.root || `/run/containerd/runc/${this.flags.namespace}`,
      log: path.join(bundle, 'log.json'),
    });
    await runc
      .delete(this.flags.id, { force: true })
      .catch((err: unknown) => logger.warn({ err }, 'failed to remove runc container'));
    try {
      unmountRecursive(path.join(bundle, 'rootfs'));
    } catch (err) {
      logger.warn({ err }, 'failed to cleanup rootfs mount');
    }
    const pid = tryReadPidFile(path.join(bundle, 'init.pid'));
    return { pid: pid >>> 0, exitStatus: 128 + SIGKILL, exitedAt: timestamp() };
  }

  wait(): Promise<void> {
    return this.exit.wait();
  }

  async createTaskService(publisher: RemotePublisher): Promise<Task> {
    const { RuncTaskService } = load<typeof import('./service')>('./service');
    return new RuncTaskService(this.flags.namespace, publisher, this.exit, readOptions());
  }
}
