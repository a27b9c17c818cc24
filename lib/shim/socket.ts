// Shim addresses, the public face: where a shim of a group serves on this platform (a unix socket,
// socket-unix.ts, or a named pipe on Windows, socket-win.ts), probing and removing one.
import { platform } from './platform';
import { isPipeAddress } from './socket-win';
import { SOCKET_ROOT, removeUnixSocket } from './socket-unix';

export { canConnect } from './can-connect';
export { SOCKET_ROOT, newSocket, socketPath } from './socket-unix';

/**
 * The address containerd expects a shim of (containerd address, namespace, grouping) to serve
 * on: `unix://<socketDir>/<sha256(address/namespace/grouping)>`, or on Windows the named pipe
 * `\\.\pipe\containerd-shim-<same hash>-pipe` (`socketDir` does not apply there).
 */
export function socketAddress(
  address: string,
  namespace: string,
  grouping: string,
  socketDir: string = SOCKET_ROOT,
  debug = false,
): string {
  return platform.socketAddress(address, namespace, grouping, socketDir, debug);
}

/** Removes a shim socket file; a missing one is fine. Named pipes vanish with their server. */
export function removeSocket(address: string): void {
  if (!isPipeAddress(address)) removeUnixSocket(address);
}
