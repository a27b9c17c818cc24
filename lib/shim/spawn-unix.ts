// `start` on Linux, macOS and the BSDs: bind the shim socket, reuse a live shim of the same group,
// or start the serving daemon in a new session with the listener as fd 3 — the socket listens
// before `start` prints, so containerd's immediate connect never races the daemon's start-up.
// On Linux under the launcher the daemon role goes to a standby when one is ready
// (warm/handover.ts); it becomes exactly the process spawning serveCommand() would make. A
// daemon spawned cold may read the pool's boot cache (warm/boot-hook.ts).
import * as path from 'node:path';

import { posix } from '../native';
import { serveCommand } from './boot';
import { canConnect } from './can-connect';
import { newSocket, removeUnixSocket, unixSocketAddress } from './socket-unix';
import type { SpawnEnv, StartOpts } from './start-opts';
import { writeAddress } from './util';
import { coldDaemonBootCache } from './warm/boot-hook';
import { BOOT_CACHE_ENV } from './warm/env';
import { handDaemonToStandby } from './warm/handover';

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
    const command = serveCommand(opts, env);
    if (!handDaemonToStandby(command, opts.bundle, fd)) {
      // Cold: it may boot from the pool's boot cache, read-only (warm/boot-hook.ts takes the
      // variable out of its environment and of /proc/<pid>/environ at once).
      const pool = coldDaemonBootCache();
      posix.spawn(
        command.file,
        command.argv,
        pool === undefined ? command.env : [...command.env, `${BOOT_CACHE_ENV}=${pool}`],
        opts.bundle,
        [-1, -1, -1, fd],
        true,
        false,
      );
    }
  } finally {
    posix.closeFd(fd);
  }
  writeAddress(address, path.join(opts.bundle, 'address'));
  return address;
}
