// `start`'s work: bind the shim socket, reuse a live shim of the same group, or start the serving
// daemon in a new session with the listener as fd 3 — the socket listens before `start` prints,
// so containerd's immediate connect never races the daemon's start-up. Under the launcher the
// daemon role goes to a standby when one is ready (warm/handover.ts), else it is spawned.
import * as path from 'node:path';

import { native } from '../native';
import { serveCommand } from './boot';
import { canConnect, newSocket, removeSocket, socketAddress } from './socket';
import { spawnWindows } from './spawn-win';
import { readSpec, writeAddress } from './util';
import { handDaemonToStandby } from './warm/handover';
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

/** Spec annotations that put containers into one shim, in order of precedence (runc shims'). */
export const GROUP_LABELS = ['io.containerd.runc.v2.group', 'io.kubernetes.cri.sandbox-id'];

/** The group a bundle's spec asks for, or undefined. Malformed specs fail with ERR_INVALID_SPEC. */
export function specGroup(bundle: string): string | undefined {
  const annotations = readSpec(bundle).annotations ?? {};
  for (const label of GROUP_LABELS) {
    const value = annotations[label];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

export type SpawnEnv = Record<string, string> | readonly (readonly [string, string])[];

/**
 * Starts the shim's serving process (or finds the running one of this group) and returns the
 * address to print. `grouping` is the default group key (usually the task id); a group named in
 * the bundle's spec annotations takes precedence, so all containers of a pod share one shim. The
 * daemon re-executes this program with the serve flags, in a new session, cwd = bundle, stdio on
 * /dev/null, the listening socket on fd 3 and `env` added to the environment (boot.ts
 * serveCommand); a standby taking the role over becomes the same process.
 */
export async function spawn(
  opts: StartOpts,
  grouping: string,
  env: SpawnEnv = [],
): Promise<string> {
  const group = specGroup(opts.bundle) ?? grouping;
  if (process.platform === 'win32') return spawnWindows(opts, group, env); // see spawn-win.ts
  const address = socketAddress(opts.address, opts.namespace, group, opts.socketDir);
  let fd: number;
  try {
    fd = newSocket(address);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (await canConnect(address)) {
      writeAddress(address, path.join(opts.bundle, 'address'));
      return address;
    }
    removeSocket(address); // stale: its shim is gone
    fd = newSocket(address);
  }
  try {
    const command = serveCommand(opts, env);
    if (!handDaemonToStandby(command, opts.bundle, fd)) {
      native.spawn(
        command.file,
        command.argv,
        command.env,
        opts.bundle,
        [-1, -1, -1, fd],
        true,
        false,
      );
    }
  } finally {
    native.closeFd(fd);
  }
  writeAddress(address, path.join(opts.bundle, 'address'));
  return address;
}
