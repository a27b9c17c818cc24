// `start` on Windows. There is no fd inheritance to hand a listening pipe to the daemon, so (like
// Go's Windows shim) the daemon creates the pipe itself from `-socket <pipe>` and `start` waits for
// it to accept connections before printing the address (awaitPipeReady: 5 s, 10 ms polls), so
// containerd's immediate connect finds it. A pipe that already accepts connections belongs to a
// running shim of the same group: its address is printed and no daemon is started.
import * as childProcess from 'node:child_process';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { systemError } from '../error-codes';
import { win } from '../native';
import { daemonEnvironment, serveCommand } from './boot';
import { canConnect } from './can-connect';
import { pipeAddress } from './socket-win';
import type { SpawnEnv, StartOpts } from './start-opts';
import { writeAddress } from './util';

export interface AwaitPipeOptions {
  /** Overall limit; default 5000 ms (Go's awaitPipeReady). */
  timeoutMs?: number;
  /** Pause between attempts; default 10 ms. */
  intervalMs?: number;
  /** Limit of one attempt while every pipe instance is busy; default 1000 ms. */
  attemptMs?: number;
  /** Checked between attempts: an error ends the wait at once (the daemon died). */
  failed?: () => Error | undefined;
}

/** Resolves once `address` accepts a TTRPC connection; rejects with ETIMEDOUT after the limit. */
export async function awaitPipeReady(
  address: string,
  options: AwaitPipeOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - Date.now();
    if (await canConnect(address, Math.max(1, Math.min(options.attemptMs ?? 1000, remaining))))
      return;
    const failure = options.failed?.();
    if (failure) throw failure;
    if (Date.now() >= deadline) {
      throw systemError(
        'ETIMEDOUT',
        `shim did not start serving on ${address} within ${timeoutMs} ms`,
      );
    }
    await sleep(options.intervalMs ?? 10);
  }
}

/** Starts (or finds) the daemon of `group` (see the file comment); its address. */
export async function startWindowsDaemon(
  opts: StartOpts,
  group: string,
  env: SpawnEnv,
): Promise<string> {
  const address = pipeAddress(opts.address, opts.namespace, group);
  if (await canConnect(address)) {
    writeAddress(address, path.join(opts.bundle, 'address'));
    return address;
  }
  // containerd reads our stdout and stderr to EOF (CombinedOutput): the daemon must not inherit
  // them, and libuv starts processes with bInheritHandles.
  win.setStdHandleInheritance(false);
  const command = serveCommand(opts, env);
  const args = [...command.argv.slice(1), '-socket', address];
  const child = childProcess.spawn(command.file, args, {
    cwd: opts.bundle,
    env: daemonEnvironment(env),
    stdio: 'ignore',
    detached: true,
    windowsHide: true,
  });
  let failure: Error | undefined;
  child.once('error', (err) => (failure = err));
  child.once('exit', (code, signal) => {
    failure ??= new Error(
      `shim exited (${signal ?? `exit status ${code}`}) before serving on ${address}`,
    );
  });
  child.unref();
  await awaitPipeReady(address, { failed: () => failure });
  writeAddress(address, path.join(opts.bundle, 'address'));
  return address;
}
