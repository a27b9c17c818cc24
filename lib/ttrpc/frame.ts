// TTRPC frame constants, and a pure-JavaScript frame decoder kept as the reference model for the
// native one (property tests compare the two; bench/codec.ts measures them side by side).

export const HEADER_LENGTH = 10;
/** Largest payload of a frame: 4 MiB, as in Go and Rust ttrpc. */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export enum FrameType {
  REQUEST = 1,
  RESPONSE = 2,
  DATA = 3,
}

export enum FrameFlag {
  /** No more frames from the sender on this stream. */
  REMOTE_CLOSED = 0x1,
  /** The sender will send more frames (Request only). */
  REMOTE_OPEN = 0x2,
  /** The frame carries no message (Data only). */
  NO_DATA = 0x4,
}

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  /** The payload, or for a frame over MAX_MESSAGE_LENGTH its declared length (payload skipped). */
  payload: Uint8Array | number;
}

/**
 * The payload of frame `i` of a native batch: `meta` has (head, offset, length) per frame with
 * head = streamId * 65536 + type * 256 + flags; the payload is data[offset, offset + length), or
 * for offset -1 an oversized frame whose payload was skipped (its declared length is returned),
 * or for offset -2 - k the whole of bodies[k] (a large payload read into a buffer of its own).
 */
export function payloadAt(
  data: Buffer,
  meta: Float64Array,
  i: number,
  bodies: Buffer[] | undefined,
): Buffer | number {
  const offset = meta[3 * i + 1]!;
  const length = meta[3 * i + 2]!;
  if (offset >= 0) return data.subarray(offset, offset + length);
  if (offset === -1) return length;
  return bodies![-offset - 2]!;
}

/** Unpacks a native batch (see payloadAt); `count` defaults to all of `meta`. */
export function unpackBatch(
  data: Buffer,
  meta: Float64Array,
  count = meta.length / 3,
  bodies?: Buffer[],
): Frame[] {
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) {
    const head = meta[3 * i]!;
    frames.push({
      streamId: Math.floor(head / 65536),
      type: (head >>> 8) & 0xff,
      flags: head & 0xff,
      payload: payloadAt(data, meta, i, bodies),
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
