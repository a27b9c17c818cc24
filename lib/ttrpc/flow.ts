// Flow control of one connection: reading pauses while anything holds it (a stream queue that is
// full, the streams' buffered bytes over their bound, on a server output the peer is not reading)
// and resumes when nothing does. Pausing stops the socket's read interest, so the peer's sends
// block in its kernel buffer: messages wait there instead of in our memory, and none is dropped.
import type { Transport } from './transport';

/** Default bound on messages queued for one stream before the connection stops reading. */
export const DEFAULT_STREAM_BUFFER = 1024;
/** Default bound on bytes queued across one connection's streams before it stops reading. */
export const DEFAULT_STREAM_BUFFER_BYTES = 16 << 20;
/** What a queued message costs besides its payload (the decoded object, the queue slot). */
export const MESSAGE_OVERHEAD = 64;

export class ReadGate {
  /** Set once the connection is open; holds taken before that apply then. */
  private target: Transport | undefined;
  private holds = 0;
  /** Bytes (payload + MESSAGE_OVERHEAD) queued in this connection's growing streams. */
  private bytes = 0;
  private overBytes = false;

  constructor(readonly byteLimit = DEFAULT_STREAM_BUFFER_BYTES) {}

  set transport(transport: Transport) {
    this.target = transport;
    if (this.holds > 0) transport.pauseReading();
  }

  get paused(): boolean {
    return this.holds > 0;
  }

  hold(): void {
    if (this.holds++ === 0) this.target?.pauseReading();
  }

  release(): void {
    if (--this.holds === 0) this.target?.resumeReading();
  }

  /** A message was queued. */
  charge(cost: number): void {
    this.bytes += cost;
    if (!this.overBytes && this.bytes >= this.byteLimit) {
      this.overBytes = true;
      this.hold();
    }
  }

  /** Queued messages were consumed or dropped; reading resumes below half the bound. */
  refund(cost: number): void {
    this.bytes -= cost;
    if (this.overBytes && this.bytes <= this.byteLimit / 2) {
      this.overBytes = false;
      this.release();
    }
  }
}

/**
 * The bytes to decode a message that will be queued from: a payload that is a small part of its
 * read batch (up to 2 MiB) is copied, so that a queued message never keeps a whole batch alive.
 */
export function ownBytes(payload: Uint8Array, batchLength: number): Uint8Array {
  return payload.length * 2 >= batchLength ? payload : Uint8Array.prototype.slice.call(payload);
}
