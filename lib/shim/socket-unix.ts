// Shim sockets on Linux, macOS and the BSDs: unix sockets named by a hash under containerd's
// socket directory, created (dir 0700, socket 0600) and bound before `start` prints, and removed
// when the shim exits.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError } from '../error-codes';
import { posix } from '../native';
import { sha256Hex } from './sha256';

/** containerd's default shim socket directory (`<state>/s`). */
export const SOCKET_ROOT = '/run/containerd/s';

/** Unix socket paths must fit sockaddr_un (108 bytes with the NUL); Go refuses more than 106. */
const SOCKET_PATH_LIMIT = 106;

/**
 * `unix://<socketDir>/<sha256(address/namespace/grouping)>`, the address containerd's Go shims
 * compute (path.join cleans like Go's filepath.Join).
 */
export function unixSocketAddress(
  address: string,
  namespace: string,
  grouping: string,
  socketDir: string = SOCKET_ROOT,
  debug = false,
): string {
  let key = path.posix.join(address, namespace, grouping);
  if (debug) key = path.posix.join(key, 'debug');
  return `unix://${path.posix.join(socketDir, sha256Hex(key))}`;
}

/** The filesystem path of a `unix://` address (or of a bare path). */
export function socketPath(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address;
}

/**
 * Binds and listens on a shim socket: creates the directory (0700), binds, restricts the socket
 * to 0600. Returns the listening fd (close-on-exec; pass it to the daemon explicitly). A socket
 * already in use fails with EADDRINUSE.
 */
export function newSocket(address: string): number {
  const file = socketPath(address);
  if (file.length > SOCKET_PATH_LIMIT) {
    throw codedError(
      'ERR_SOCKET_PATH',
      `socket path too long (> ${SOCKET_PATH_LIMIT} bytes): ${file}`,
    );
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = posix.unixListen(file, false);
  try {
    fs.chmodSync(file, 0o600);
  } catch (err) {
    posix.closeFd(fd);
    throw err;
  }
  return fd;
}

/** Removes a shim socket file; a missing one is fine (an abstract one has no file). */
export function removeUnixSocket(address: string): void {
  const file = socketPath(address);
  if (file.startsWith('@')) return;
  // unlink, not fs.rmSync: the shim's teardown (containerd waits on it) would load and compile
  // rmSync's rimraf module and its stat machinery for one file.
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
