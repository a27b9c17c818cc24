// Shim socket addresses: where containerd and `start` expect a shim to listen, how it is
// created (dir 0700, socket 0600, bound before `start` prints), probed and removed.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError } from '../error-codes';
import { native } from '../native';
import { Client } from '../ttrpc/client';
import { isPipeAddress, pipeAddress } from './socket-win';
import { sha256Hex } from './util';

/** containerd's default shim socket directory (`<state>/s`). */
export const SOCKET_ROOT = '/run/containerd/s';

/** Unix socket paths must fit sockaddr_un (108 bytes with the NUL); Go refuses more than 106. */
const SOCKET_PATH_LIMIT = 106;

/**
 * `unix://<socketDir>/<sha256(address/namespace/grouping)>`, the address containerd's Go shims
 * compute (path.join cleans like Go's filepath.Join). On Windows a named pipe,
 * `\\.\pipe\containerd-shim-<same hash>-pipe`, and `socketDir` is ignored.
 */
export function socketAddress(
  address: string,
  namespace: string,
  grouping: string,
  socketDir: string = SOCKET_ROOT,
  debug = false,
): string {
  if (process.platform === 'win32') return pipeAddress(address, namespace, grouping, debug);
  let key = path.posix.join(address, namespace, grouping);
  if (debug) key = path.posix.join(key, 'debug');
  const hash = sha256Hex(key);
  return `unix://${path.posix.join(socketDir, hash)}`;
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
  const fd = native.unixListen(file, false);
  try {
    fs.chmodSync(file, 0o600);
  } catch (err) {
    native.closeFd(fd);
    throw err;
  }
  return fd;
}

/** Whether something accepts connections on `address` (containerd's CanConnect, 100 ms). */
export async function canConnect(address: string, timeoutMs = 100): Promise<boolean> {
  let client: Client | undefined;
  try {
    client = await Client.connect(address, { connectTimeoutMs: timeoutMs });
    return true;
  } catch {
    return false;
  } finally {
    client?.close();
  }
}

/** Removes a shim socket file; a missing one is fine. Named pipes vanish with their server. */
export function removeSocket(address: string): void {
  if (isPipeAddress(address)) return;
  const file = socketPath(address);
  if (file.startsWith('@')) return; // abstract: nothing on disk
  fs.rmSync(file, { force: true });
}
