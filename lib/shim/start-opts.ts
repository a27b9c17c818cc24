// What `start` knows (StartOpts) and what a shim adds to its daemon's environment (SpawnEnv):
// the input of every platform's daemon start (spawn-unix.ts, spawn-win.ts; boot.ts builds the
// daemon's command line and environment from them).
import type { Any } from './util';

/** What the framework tells `startShim`. */
export interface StartOpts {
  /** Task id. */
  id: string;
  namespace: string;
  /** containerd's gRPC address. */
  address: string;
  /** containerd's TTRPC address, where events go. */
  ttrpcAddress: string;
  /** containerd binary (legacy event publishing; unused). */
  publishBinary: string;
  debug: boolean;
  /** The bundle: `start` runs in it. */
  bundle: string;
  /** Where to put the socket (containerd 2.3 `socket_dir`); default /run/containerd/s. */
  socketDir?: string;
  /** containerd's version, when it said (2.3+). */
  containerdVersion?: string;
  /** Log level containerd asked for (2.3+), e.g. "debug". */
  logLevel?: string;
  /** Runtime options (e.g. containerd.runc.v1.Options) as containerd sent them. */
  options?: Any;
  /** True when containerd used the 2.3+ bootstrap protocol. */
  bootstrap: boolean;
}

export type SpawnEnv = Record<string, string> | readonly (readonly [string, string])[];
