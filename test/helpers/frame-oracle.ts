// A pure-JavaScript model of TTRPC framing: the reference the native decoder (native/frame.h) is
// property-tested against (test/frame.test.ts), and what the tests use to write raw frames.
import { HEADER_LENGTH, MAX_MESSAGE_LENGTH } from '../../lib/ttrpc/frame';

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  /** The payload, or for a frame over MAX_MESSAGE_LENGTH its declared length (payload skipped). */
  payload: Uint8Array | number;
}

/**
 * Unpacks a native batch (native/frame.h BatchBuilder): `meta` has (head, offset, length) for each
 * of `count` frames (default: all of `meta`) with head = streamId * 65536 + type * 256 + flags; the
 * payload is data[offset, offset + length), or for offset -1 an oversized frame whose payload was
 * skipped (its declared length), or for offset -2 - k the whole of bodies[k] (a large payload
 * collected in a buffer of its own).
 */
export function unpackBatch(
  data: Uint8Array,
  meta: Float64Array,
  count = meta.length / 3,
  bodies?: Uint8Array[],
): Frame[] {
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) {
    const head = meta[3 * i]!;
    const offset = meta[3 * i + 1]!;
    const length = meta[3 * i + 2]!;
    frames.push({
      streamId: Math.floor(head / 65536),
      type: (head >>> 8) & 0xff,
      flags: head & 0xff,
      payload:
        offset >= 0
          ? data.subarray(offset, offset + length)
          : offset === -1
            ? length
            : bodies![-offset - 2]!,
    });
  }
  return frames;
}

export function encodeHeader(
  length: number,
  streamId: number,
  type: number,
  flags: number,
): Buffer {
  const header = Buffer.allocUnsafe(HEADER_LENGTH);
  header.writeUInt32BE(length, 0);
  header.writeUInt32BE(streamId, 4);
  header[8] = type;
  header[9] = flags;
  return header;
}

/** Splits a byte stream into frames across arbitrary chunk boundaries. */
export class JsFrameDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private discard = 0;

  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.discard > 0) {
      const n = Math.min(this.discard, data.length);
      this.discard -= n;
      data = data.subarray(n);
    }
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    let offset = 0;
    while (buf.length - offset >= HEADER_LENGTH) {
      const length = buf.readUInt32BE(offset);
      const streamId = buf.readUInt32BE(offset + 4);
      const type = buf[offset + 8]!;
      const flags = buf[offset + 9]!;
      if (length > MAX_MESSAGE_LENGTH) {
        frames.push({ streamId, type, flags, payload: length });
        const available = buf.length - offset - HEADER_LENGTH;
        if (available >= length) {
          offset += HEADER_LENGTH + length;
          continue;
        }
        this.discard = length - available;
        offset = buf.length;
        break;
      }
      if (buf.length - offset - HEADER_LENGTH < length) break;
      const start = offset + HEADER_LENGTH;
      frames.push({
        streamId,
        type,
        flags,
        payload: Buffer.from(buf.subarray(start, start + length)),
      });
      offset = start + length;
    }
    this.pending = offset < buf.length ? Buffer.from(buf.subarray(offset)) : Buffer.alloc(0);
    return frames;
  }

  get buffered(): number {
    return this.pending.length;
  }
}
