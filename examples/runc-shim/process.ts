// One process of a container (its init or an exec): identity, state, exit, and stdio.
import { Code, TtrpcError } from 'containerd-shim';
import type { ProcessIo } from './stdio';

export type ProcessState = 'created' | 'running' | 'paused' | 'pausing' | 'stopped';

export class Process {
  pid = 0;
  state: ProcessState = 'created';
  exitStatus = 0;
  exitedAt: Date | undefined;
  /** Held while Start runs, so an exit reaped meanwhile is reported after the start event. */
  private startGate: Promise<void> = Promise.resolve();
  private exitResolve!: () => void;
  private reportedResolve!: () => void;
  /** Resolves once the exit event went out (the init's exit waits for its execs'). */
  readonly reported = new Promise<void>((resolve) => (this.reportedResolve = resolve));
  /** Resolves once the process exited and its exit was recorded. */
  readonly exited = new Promise<void>((resolve) => (this.exitResolve = resolve));

  constructor(
    readonly containerId: string,
    /** '' for the init process. */
    readonly execId: string,
    readonly io: ProcessIo,
    /** OCI process spec (execs). */
    readonly spec?: object,
  ) {}

  get isInit(): boolean {
    return this.execId === '';
  }

  /** The id containerd's events use: the container id for init, else the exec id. */
  get id(): string {
    return this.execId || this.containerId;
  }

  /**
   * Runs `start` with exit handling held back until its answer is on the wire: the gate opens
   * one macrotask after `start` settles, by when the TTRPC server has queued and flushed the
   * response. So an exit is stamped after the Start response, as Go's shim stamps it after Start
   * releases its lock, and never precedes the start time containerd records on that response.
   */
  async starting<T>(start: () => Promise<T>): Promise<T> {
    let open!: () => void;
    this.startGate = new Promise((resolve) => (open = resolve));
    try {
      return await start();
    } finally {
      setImmediate(open);
    }
  }

  /** Waits until no Start is in flight (exit events must follow start events). */
  afterStart(): Promise<void> {
    return this.startGate;
  }

  /** Records the exit; `at` is when the shim handled it (after Start answered), as in Go. */
  setExited(status: number, at: Date): void {
    this.state = 'stopped';
    this.exitStatus = status;
    this.exitedAt = at;
    this.exitResolve();
  }

  /**
   * The process never started (runc exec failed): Wait answers at once with status 0 and no
   * exit time, the state stays `created`, and no exit event is sent (Go closes the exec's wait).
   */
  failedToStart(): void {
    this.exitResolve();
  }

  markReported(): void {
    this.reportedResolve();
  }

  get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Fails with NOT_FOUND like Go's errdefs once the process is gone. */
  assertAlive(): void {
    if (this.stopped) throw new TtrpcError(Code.NOT_FOUND, 'process already finished');
  }
}
