// The smallest shim (the Rust crate's skeleton example): Connect answers version "example", Shutdown ends the shim.
// Build, then: ctr run --runtime "$PWD/examples/skeleton/containerd-shim-skeleton-v1" ...
//
// Rust lets one type implement both the Shim and Task traits; in TypeScript Shim.wait() and the
// Wait RPC would share a name, so the Task handlers live in their own class.
import { ExitSignal, logger, run, spawn } from 'containerd-shim';
import type {
  Config,
  DeleteResponse,
  Flags,
  RemotePublisher,
  Shim,
  StartOpts,
  Task,
} from 'containerd-shim';
import type { protobuf, task } from 'containerd-shim/protos';

class Service implements Shim {
  private readonly exit = new ExitSignal();

  constructor(_runtimeId: string, _flags: Flags, _config: Config) {}

  async startShim(opts: StartOpts): Promise<string> {
    const grouping = opts.id;
    const address = await spawn(opts, grouping, []);
    return address;
  }

  async deleteShim(): Promise<DeleteResponse> {
    return {};
  }

  async wait(): Promise<void> {
    await this.exit.wait();
  }

  async createTaskService(_publisher: RemotePublisher): Promise<Task> {
    return new TaskService(this.exit);
  }
}

class TaskService implements Task {
  constructor(private readonly exit: ExitSignal) {}

  async connect(_request: task.ConnectRequest): Promise<task.ConnectResponse.$Properties> {
    logger.info('Connect request');
    return { version: 'example' };
  }

  async shutdown(_request: task.ShutdownRequest): Promise<protobuf.Empty.$Properties> {
    logger.info('Shutdown request');
    this.exit.signal();
    return {};
  }
}

void run('io.containerd.empty.v1', Service);
