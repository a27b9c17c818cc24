// CPU load for the "loaded" passes of timing-sensitive suites: the suite itself starts busy loops
// beside what it tests (as on a shared 2-vCPU machine), and stops them by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface BusyLoops {
  readonly pids: number[];
  /** SIGKILLs the loops (by pid) and waits for their exits. Idempotent. */
  stop(): Promise<void>;
}

/** Starts `count` CPU-bound processes (default 2, one per vCPU of a CI machine). */
export function startBusyLoops(count = 2): BusyLoops {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  }
  const exited = children.map((c) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : once(c, 'exit'),
  );
  return {
    pids: children.map((c) => c.pid ?? -1),
    async stop() {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
      await Promise.all(exited);
    },
  };
}

/**
 * Registers before/after hooks that keep `count` busy loops running for the enclosing describe
 * block. Call it inside `describe`.
 */
export function underLoad(count = 2): void {
  let loops: BusyLoops | undefined;
  before(function () {
    loops = startBusyLoops(count);
  });
  after(async function () {
    await loops?.stop();
  });
}
