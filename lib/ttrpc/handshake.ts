// Built-in handshakers: peer-credential checks on new connections (SO_PEERCRED via the addon),
// the counterparts of Go's UnixSocketRequire* helpers.
import type { Handshaker } from './server';

/** Accepts peers whose uid and gid match; -1 accepts any. */
export function requireUidGid(uid: number, gid: number): Handshaker {
  return (peer) => (uid === -1 || peer.uid === uid) && (gid === -1 || peer.gid === gid);
}

/** Accepts only root peers. */
export function requireRoot(): Handshaker {
  return requireUidGid(0, 0);
}

/** Accepts peers running as this process's effective uid and gid (what containerd shims use). */
export function requireSameUser(): Handshaker {
  if (typeof process.geteuid !== 'function' || typeof process.getegid !== 'function')
    return () => true;
  return requireUidGid(process.geteuid(), process.getegid());
}
