// What a runc shim needs to know about a container's output FIFOs after the process exited:
// whether bytes are still waiting in the pipe, and whether anyone is there to read them. A FIFO's
// buffer lives only while some fd refers to it: closed with bytes unread and no reader, they are
// gone. POSIX only.
import { posix } from '../native';

const POLLOUT = 0x4;
const POLLERR = 0x8;

/** Bytes written to a pipe or FIFO and not read yet (FIONREAD); any fd on the pipe answers. */
export function queuedBytes(fd: number): number {
  return posix.queuedBytes(fd);
}

/**
 * Whether a pipe or FIFO has a reader, asked through a write-only fd on it (poll reports
 * POLLERR on a write end whose pipe has no reader left). An fd open read-write is a reader itself.
 */
export function hasReader(writeFd: number): boolean {
  return (posix.pollNow(writeFd, POLLOUT) & POLLERR) === 0;
}
