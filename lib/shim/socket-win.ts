// Shim addresses on Windows: named pipes. There is no socket directory (containerd 2.3's
// `socket_dir` does not apply) and nothing on disk to create or remove.
import * as path from 'node:path';
import { sha256Hex } from './sha256';

/** The prefix of every named-pipe path. */
export const PIPE_PREFIX = '\\\\.\\pipe\\';

/** Whether `address` is a named pipe (`\\.\pipe\name`, or `//./pipe/name`). */
export function isPipeAddress(address: string): boolean {
  return address.startsWith(PIPE_PREFIX) || address.startsWith('//./pipe/');
}

/**
 * `\\.\pipe\containerd-shim-<sha256(address/namespace/grouping)>-pipe`: the Rust crate's pipe
 * name, hashed from the same input as the Linux socket (so `-address`, namespace and group
 * decide the shim either way).
 */
export function pipeAddress(
  address: string,
  namespace: string,
  grouping: string,
  debug = false,
): string {
  let key = path.posix.join(address, namespace, grouping);
  if (debug) key = path.posix.join(key, 'debug');
  const hash = sha256Hex(key);
  return `${PIPE_PREFIX}containerd-shim-${hash}-pipe`;
}

/** `\\.\pipe\containerd-shim-<namespace>-<id>-log`: where a Windows shim serves its log. */
export function logPipeAddress(namespace: string, id: string): string {
  return `${PIPE_PREFIX}containerd-shim-${namespace}-${id}-log`;
}
