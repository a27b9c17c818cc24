// `start` on Linux, macOS and the BSDs: bind the shim socket, reuse a live shim of the same group,
// or start the serving daemon in a new session with the listener as fd 3 — the socket listens
// before `start` prints, so containerd's immediate connect never races the daemon's start-up.
import * as path from 'node:path';

import { posix } from '../native';
import { canConnect } from './can-connect';
import { serveArgs } from './flags';
import { newSocket, removeUnixSocket, unixSocketAddress } from './socket-unix';
import { daemonEnvironment } from './start-opts';
import type { SpawnEnv, StartOpts } from './start-opts';
import { writeAddress } from './util';

/** Starts (or finds) the daemon of `group`; its address. */
export async function startUnixDaemon(
  opts: StartOpts,
  group: string,
  env: SpawnEnv,
): Promise<string> {
  const address = unixSocketAddress(opts.address, opts.namespace, group, opts.socketDir);
  let fd: number;
  try {
    fd = newSocket(address);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (await canConnect(address)) {
      writeAddress(address, path.join(opts.bundle, 'address'));
      return address;
    }
    removeUnixSocket(address); // stale: its shim is gone
    fd = newSocket(address);
  }
  try {
    const script = process.argv[1];
    const args = [
      process.execPath,
      ...process.execArgv,
      ...(script ? [script] : []),
      ...serveArgs(opts),
    ];
    posix.spawn(
      process.execPath,
      args,
      Object.entries(daemonEnvironment(env)).map(([k, v]) => `${k}=${v}`),
      opts.bundle,
      [-1, -1, -1, fd],
      true,
      false,
    );
  } finally {
    posix.closeFd(fd);
  }
  writeAddress(address, path.join(opts.bundle, 'address'));
  return address;
}
