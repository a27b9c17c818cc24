// The interop.proto messages the bench peer uses, encoded by hand as test/go-peer's are
// (messages.go), so that Node and Go are compared on TTRPC, not on their protobuf libraries.
// Decoded `bytes` fields are views of the received payload (Node never reuses a read buffer
// while it is referenced); encoding copies them into one new buffer, as Go's Marshal does.
import type { MessageType } from '../lib';

export interface KeyValue {
  key: string;
  value: string;
}

export interface EchoRequest {
  payload: Uint8Array;
  responseSize: number;
  sleepMs: number;
  failCode: number;
  failMessage: string;
}

export interface EchoResponse {
  payload: Uint8Array;
  metadata: KeyValue[];
  timeoutNano: number;
}

export interface Chunk {
  data: Uint8Array;
}

export interface SourceRequest {
  count: number;
  size: number;
}

const EMPTY = Buffer.alloc(0);

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes into one buffer of a size computed beforehand. */
class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    const buf = this.buf;
    while (n >= 0x80) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    buf[this.pos++] = n;
  }

  bytes(tag: number, b: Uint8Array): void {
    this.buf[this.pos++] = tag;
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(tag: number, s: string, length: number): void {
    this.buf[this.pos++] = tag;
    this.varint(length);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

/** Reads fields of one message; `value` is a varint field's value, [start, end) a bytes field's. */
class Reader {
  pos = 0;
  value = 0;
  start = 0;
  end = 0;
  constructor(readonly buf: Buffer) {}

  private varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('proto: truncated message');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('proto: varint overflow');
    }
  }

  /** The next field's number, or 0 at the end. */
  next(): number {
    if (this.pos >= this.buf.length) return 0;
    const key = this.varint();
    const wire = key & 7;
    if (wire === 0) {
      this.value = this.varint();
    } else if (wire === 2) {
      const n = this.varint();
      if (n > this.buf.length - this.pos) throw new Error('proto: truncated message');
      this.start = this.pos;
      this.end = this.pos += n;
    } else if (wire === 1 || wire === 5) {
      this.pos += wire === 1 ? 8 : 4;
      if (this.pos > this.buf.length) throw new Error('proto: truncated message');
    } else {
      throw new Error(`proto: unsupported wire type ${wire}`);
    }
    return Math.floor(key / 8);
  }

  bytes(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  string(): string {
    return this.buf.toString('utf8', this.start, this.end);
  }
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function finished(buf: Buffer): { finish(): Uint8Array } {
  return { finish: () => buf };
}

export const EchoRequestType: MessageType<EchoRequest, Partial<EchoRequest>> = {
  encode(m) {
    const payload = m.payload ?? EMPTY;
    const failMessage = m.failMessage ? Buffer.byteLength(m.failMessage) : 0;
    let size = 0;
    if (payload.length > 0) size += 1 + varintSize(payload.length) + payload.length;
    if (m.responseSize) size += 1 + varintSize(m.responseSize);
    if (m.sleepMs) size += 1 + varintSize(m.sleepMs);
    if (m.failCode) size += 1 + varintSize(m.failCode >>> 0);
    if (failMessage) size += 1 + varintSize(failMessage) + failMessage;
    const w = new Writer(Buffer.allocUnsafe(size));
    if (payload.length > 0) w.bytes(0x0a, payload);
    if (m.responseSize) {
      w.buf[w.pos++] = 0x10;
      w.varint(m.responseSize);
    }
    if (m.sleepMs) {
      w.buf[w.pos++] = 0x18;
      w.varint(m.sleepMs);
    }
    if (m.failCode) {
      w.buf[w.pos++] = 0x20;
      w.varint(m.failCode >>> 0);
    }
    if (failMessage) w.string(0x2a, m.failMessage!, failMessage);
    return finished(w.buf);
  },
  decode(data) {
    const m: EchoRequest = {
      payload: EMPTY,
      responseSize: 0,
      sleepMs: 0,
      failCode: 0,
      failMessage: '',
    };
    const r = new Reader(asBuffer(data));
    for (let field = r.next(); field !== 0; field = r.next()) {
      if (field === 1) m.payload = r.bytes();
      else if (field === 2) m.responseSize = r.value;
      else if (field === 3) m.sleepMs = r.value;
      else if (field === 4) m.failCode = r.value | 0;
      else if (field === 5) m.failMessage = r.string();
    }
    return m;
  },
};

export const EchoResponseType: MessageType<EchoResponse, Partial<EchoResponse>> = {
  encode(m) {
    const payload = m.payload ?? EMPTY;
    let size = 0;
    if (payload.length > 0) size += 1 + varintSize(payload.length) + payload.length;
    const pairs = m.metadata ?? [];
    const sizes: number[] = [];
    for (const kv of pairs) {
      const k = Buffer.byteLength(kv.key);
      const v = Buffer.byteLength(kv.value);
      const inner = (k ? 1 + varintSize(k) + k : 0) + (v ? 1 + varintSize(v) + v : 0);
      sizes.push(k, v, inner);
      size += 1 + varintSize(inner) + inner;
    }
    const timeout = m.timeoutNano ?? 0;
    if (timeout > 0) size += 1 + varintSize(timeout);
    const w = new Writer(Buffer.allocUnsafe(size));
    if (payload.length > 0) w.bytes(0x0a, payload);
    pairs.forEach((kv, i) => {
      w.buf[w.pos++] = 0x12;
      w.varint(sizes[3 * i + 2]!);
      if (sizes[3 * i]) w.string(0x0a, kv.key, sizes[3 * i]!);
      if (sizes[3 * i + 1]) w.string(0x12, kv.value, sizes[3 * i + 1]!);
    });
    if (timeout > 0) {
      w.buf[w.pos++] = 0x18;
      w.varint(timeout);
    }
    return finished(w.buf);
  },
  decode(data) {
    const m: EchoResponse = { payload: EMPTY, metadata: [], timeoutNano: 0 };
    const r = new Reader(asBuffer(data));
    for (let field = r.next(); field !== 0; field = r.next()) {
      if (field === 1) m.payload = r.bytes();
      else if (field === 3) m.timeoutNano = r.value;
      else if (field === 2) {
        const kv: KeyValue = { key: '', value: '' };
        const inner = new Reader(r.bytes());
        for (let f = inner.next(); f !== 0; f = inner.next()) {
          if (f === 1) kv.key = inner.string();
          else if (f === 2) kv.value = inner.string();
        }
        m.metadata.push(kv);
      }
    }
    return m;
  },
};

export const ChunkType: MessageType<Chunk, Chunk> = {
  encode(m) {
    const data = m.data ?? EMPTY;
    const w = new Writer(
      Buffer.allocUnsafe(data.length > 0 ? 1 + varintSize(data.length) + data.length : 0),
    );
    if (data.length > 0) w.bytes(0x0a, data);
    return finished(w.buf);
  },
  decode(data) {
    const m: Chunk = { data: EMPTY };
    const r = new Reader(asBuffer(data));
    for (let field = r.next(); field !== 0; field = r.next()) if (field === 1) m.data = r.bytes();
    return m;
  },
};

export const SourceRequestType: MessageType<SourceRequest, SourceRequest> = {
  encode(m) {
    const w = new Writer(Buffer.allocUnsafe(2 + varintSize(m.count) + varintSize(m.size)));
    w.buf[w.pos++] = 0x08;
    w.varint(m.count);
    w.buf[w.pos++] = 0x10;
    w.varint(m.size);
    return finished(w.buf.subarray(0, w.pos));
  },
  decode(data) {
    const m: SourceRequest = { count: 0, size: 0 };
    const r = new Reader(asBuffer(data));
    for (let field = r.next(); field !== 0; field = r.next()) {
      if (field === 1) m.count = r.value;
      else if (field === 2) m.size = r.value;
    }
    return m;
  },
};
