// What the shim runtime needs from a platform (ShimPlatform): implemented by platform-unix.ts
// (Linux, macOS, the BSDs) and platform-win.ts, chosen in platform.ts.
import type { Handshaker } from '../ttrpc/server';
import type { LogSink, ShimLogOptions } from './log-sink';
import type { SpawnEnv, StartOpts } from './start-opts';

export interface ShimPlatform {
  /** The address a shim of (containerd address, namespace, grouping) serves on. */
  socketAddress(
    address: string,
    namespace: string,
    grouping: string,
    socketDir: string,
    debug: boolean,
  ): string;
  /** `start`: find the daemon already serving `group`, or start one; its address. */
  startDaemon(opts: StartOpts, group: string, env: SpawnEnv): Promise<string>;
  /** Serving: where the log goes. */
  openLog(options: ShimLogOptions): LogSink;
  /** Serving: process-wide set-up before the server starts (subreaper and reaper, on Linux). */
  prepareServe(options: { subreaper: boolean; reaper: boolean }): void;
  /** Serving: who may connect (the same uid where the platform can tell), or anyone. */
  handshaker(): Handshaker | undefined;
  /** Serving: signals besides SIGTERM and SIGINT that shut the shim down. */
  readonly stopSignals: readonly NodeJS.Signals[];
}
