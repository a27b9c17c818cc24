// The ttrpc.Request / ttrpc.Response envelopes. They are on every call, so they are encoded and
// decoded by hand here (tests check them against the generated protobuf code, which is loaded
// only for an error's google.rpc.Status).
import { codedError } from '../error-codes';
import type * as generated from '../generated/ttrpc';
import type { StatusDetail } from './errors';
import type { KeyValue } from './metadata';

export interface WireRequest {
  service: string;
  method: string;
  payload: Uint8Array;
  timeoutNano: number;
  metadata: KeyValue[];
}

export interface WireStatus {
  code: number;
  message: string;
  details: StatusDetail[];
}

export interface WireResponse {
  status?: WireStatus;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

function protocolError(message: string): Error {
  return codedError('ERR_TTRPC_WIRE_FORMAT', `invalid wire format: ${message}`);
}

/** A minimal protobuf reader over one message (fields, varints, length-delimited slices). */
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw protocolError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw protocolError('varint too long');
    }
  }

  /**
   * An int64 varint as a number: exact below 2^53; negative values (10-byte varints) come back
   * as -1, which callers treat like Go does a non-positive timeout: none.
   */
  int64(): number {
    const start = this.pos;
    const value = this.varint();
    return this.pos - start === 10 ? -1 : value;
  }

  slice(): Buffer {
    const length = this.varint();
    const end = this.pos + length;
    if (end > this.buf.length) throw protocolError('length out of range');
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  string(): string {
    const s = this.slice();
    return s.length === 0 ? '' : s.toString('utf8');
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.slice();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw protocolError(`wire type ${wireType}`);
    }
    if (this.pos > this.buf.length) throw protocolError('truncated field');
  }
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const statusCodec = (): typeof generated =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('../int64/encode'), require('../generated/ttrpc')) as typeof generated;

function stringField(field: number, value: string | null | undefined): Buffer | undefined {
  if (!value) return undefined;
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.allocUnsafe(1 + varintLength(bytes.length) + bytes.length);
  out[0] = (field << 3) | 2;
  bytes.copy(out, writeVarint(out, 1, bytes.length));
  return out;
}

export function encodeRequest(request: {
  service: string;
  method: string;
  payload: Uint8Array;
  timeoutNano?: number;
  metadata?: KeyValue[];
}): Uint8Array {
  const service = Buffer.from(request.service, 'utf8');
  const method = Buffer.from(request.method, 'utf8');
  const payload = request.payload;
  const timeout =
    request.timeoutNano && request.timeoutNano > 0 ? Math.floor(request.timeoutNano) : 0;
  const metadata: Buffer[] = [];
  for (const kv of request.metadata ?? []) {
    const parts = [stringField(1, kv.key), stringField(2, kv.value)].filter(
      (b): b is Buffer => b !== undefined,
    );
    metadata.push(Buffer.concat(parts));
  }
  let size = 0;
  if (service.length) size += 1 + varintLength(service.length) + service.length;
  if (method.length) size += 1 + varintLength(method.length) + method.length;
  if (payload.length) size += 1 + varintLength(payload.length) + payload.length;
  if (timeout) size += 1 + varintLength(timeout);
  for (const m of metadata) size += 1 + varintLength(m.length) + m.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const bytesField = (tag: number, bytes: Uint8Array): void => {
    if (bytes.length === 0) return;
    out[pos++] = tag;
    pos = writeVarint(out, pos, bytes.length);
    out.set(bytes, pos);
    pos += bytes.length;
  };
  bytesField(0x0a, service);
  bytesField(0x12, method);
  bytesField(0x1a, payload);
  if (timeout) {
    out[pos++] = 0x20;
    pos = writeVarint(out, pos, timeout);
  }
  for (const m of metadata) {
    out[pos++] = 0x2a;
    pos = writeVarint(out, pos, m.length);
    m.copy(out, pos);
    pos += m.length;
  }
  return out;
}

// --- the hot path: envelopes read in place and written into scratch heads ---------------------

/**
 * Where the fields of a ttrpc.Request are inside its frame (parseRequest): byte offsets into the
 * buffer the frame was read into, so nothing is copied or decoded unless a caller needs it. One
 * instance per connection is reused for every request.
 */
export class RequestFields {
  serviceStart = 0;
  serviceEnd = 0;
  methodStart = 0;
  methodEnd = 0;
  payloadStart = 0;
  payloadEnd = 0;
  timeoutNano = 0;
  /** Allocated only when the request has metadata; the caller takes it over. */
  metadata: KeyValue[] | undefined = undefined;
}

// The position after the last varint read (readVarint returns the value).
let cursor = 0;

function readVarint(buf: Uint8Array, pos: number, end: number): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= end) throw protocolError('truncated varint');
    const b = buf[pos++]!;
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) {
      cursor = pos;
      return result;
    }
    shift += 7;
    if (shift > 63) throw protocolError('varint too long');
  }
}

// Skips a field of `wireType` at `pos`; returns the position after it.
function skipField(buf: Uint8Array, pos: number, end: number, wireType: number): number {
  switch (wireType) {
    case 0:
      readVarint(buf, pos, end);
      return cursor;
    case 1:
      pos += 8;
      break;
    case 2: {
      const length = readVarint(buf, pos, end);
      pos = cursor + length;
      break;
    }
    case 5:
      pos += 4;
      break;
    default:
      throw protocolError(`wire type ${wireType}`);
  }
  if (pos > end) throw protocolError('truncated field');
  return pos;
}

/** Parses the ttrpc.Request in buf[start, end) into `out` (decodeRequest's rules). */
export function parseRequest(buf: Buffer, start: number, end: number, out: RequestFields): void {
  out.serviceStart = out.serviceEnd = out.methodStart = out.methodEnd = start;
  out.payloadStart = out.payloadEnd = start;
  out.timeoutNano = 0;
  out.metadata = undefined;
  let pos = start;
  while (pos < end) {
    let tag = buf[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      tag = readVarint(buf, pos, end);
      pos = cursor;
    }
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 2 && field >= 1 && field <= 3) {
      const length = readVarint(buf, pos, end);
      const from = cursor;
      const to = from + length;
      if (to > end) throw protocolError('length out of range');
      if (field === 1) {
        out.serviceStart = from;
        out.serviceEnd = to;
      } else if (field === 2) {
        out.methodStart = from;
        out.methodEnd = to;
      } else {
        out.payloadStart = from;
        out.payloadEnd = to;
      }
      pos = to;
    } else if (field === 4 && wireType === 0) {
      out.timeoutNano = readVarint(buf, pos, end);
      // int64: a 10-byte varint is negative, which counts as no timeout (as in Go).
      if (cursor - pos === 10) out.timeoutNano = -1;
      pos = cursor;
    } else if (field === 5 && wireType === 2) {
      const length = readVarint(buf, pos, end);
      const to = cursor + length;
      if (to > end) throw protocolError('length out of range');
      (out.metadata ??= []).push(decodeKeyValue(buf.subarray(cursor, to)));
      pos = to;
    } else {
      pos = skipField(buf, pos, end, wireType);
    }
  }
}

/** Where the fields of a ttrpc.Response are inside its frame (parseResponse). */
export class ResponseFields {
  /** -1 when there is no status. */
  statusStart = -1;
  statusEnd = -1;
  payloadStart = 0;
  payloadEnd = 0;
}

/** Parses the ttrpc.Response in buf[start, end) into `out` (decodeResponse's rules). */
export function parseResponse(
  buf: Uint8Array,
  start: number,
  end: number,
  out: ResponseFields,
): void {
  out.statusStart = out.statusEnd = -1;
  out.payloadStart = out.payloadEnd = start;
  let pos = start;
  while (pos < end) {
    let tag = buf[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      tag = readVarint(buf, pos, end);
      pos = cursor;
    }
    const wireType = tag & 7;
    if (wireType === 2 && (tag === 0x0a || tag === 0x12)) {
      const length = readVarint(buf, pos, end);
      const to = cursor + length;
      if (to > end) throw protocolError('length out of range');
      if (tag === 0x0a) {
        out.statusStart = cursor;
        out.statusEnd = to;
      } else {
        out.payloadStart = cursor;
        out.payloadEnd = to;
      }
      pos = to;
    } else {
      pos = skipField(buf, pos, end, wireType);
    }
  }
}

/** The google.rpc.Status of a Response (its encoded bytes), undefined when its code is OK. */
export function decodeStatus(bytes: Uint8Array): WireStatus | undefined {
  const s = statusCodec().google.rpc.Status.decode(bytes);
  if (!s.code) return undefined;
  return {
    code: s.code,
    message: s.message ?? '',
    details: (s.details ?? []).map((d: generated.google.protobuf.Any.$Properties) => ({
      typeUrl: d.type_url ?? '',
      value: d.value ?? EMPTY,
    })),
  };
}

/** Fields 1 and 2 of a Request (service, method), encoded once per method. */
export function methodPrefix(service: string, method: string): Buffer {
  return Buffer.concat(
    [stringField(1, service), stringField(2, method)].filter((b): b is Buffer => b !== undefined),
  );
}

/**
 * A reusable buffer for the envelope bytes written before a payload (the frame's "head"): one
 * per client, so sending a request allocates nothing for its envelope.
 */
export class EnvelopeHead {
  buf: Buffer = Buffer.allocUnsafeSlow(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  private varint(n: number): void {
    const buf = this.buf;
    let pos = this.length;
    while (n >= 0x80) {
      buf[pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.length = pos;
  }

  private string(tag: number, value: string | null | undefined): void {
    if (!value) return;
    const n = Buffer.byteLength(value, 'utf8');
    this.reserve(1 + 10 + n);
    this.buf[this.length++] = tag;
    this.varint(n);
    this.length += this.buf.write(value, this.length, 'utf8');
  }

  /**
   * A Request up to its payload: service and method (`prefix`), timeout_nano, metadata, then
   * the payload field's tag and length. Protobuf readers take fields in any order (Go's and
   * Rust's ttrpc do), so the payload can come last and be sent from where it is.
   */
  request(
    prefix: Uint8Array,
    timeoutNano: number,
    metadata: KeyValue[] | undefined,
    payloadLength: number,
  ): void {
    this.length = 0;
    this.reserve(prefix.length + 32);
    this.buf.set(prefix, 0);
    this.length = prefix.length;
    if (timeoutNano > 0) {
      this.buf[this.length++] = 0x20;
      this.varint(Math.floor(timeoutNano));
    }
    if (metadata) {
      for (const kv of metadata) {
        const key = kv.key ? Buffer.byteLength(kv.key, 'utf8') : 0;
        const value = kv.value ? Buffer.byteLength(kv.value, 'utf8') : 0;
        const size =
          (key ? 1 + varintLength(key) + key : 0) + (value ? 1 + varintLength(value) + value : 0);
        this.reserve(1 + 10 + size);
        this.buf[this.length++] = 0x2a;
        this.varint(size);
        this.string(0x0a, kv.key);
        this.string(0x12, kv.value);
      }
    }
    this.payloadField(0x1a, payloadLength);
  }

  /** A Response up to its payload: field 2's tag and length (nothing for an empty payload). */
  response(payloadLength: number): void {
    this.length = 0;
    this.payloadField(0x12, payloadLength);
  }

  private payloadField(tag: number, payloadLength: number): void {
    if (payloadLength === 0) return;
    this.reserve(11);
    this.buf[this.length++] = tag;
    this.varint(payloadLength);
  }
}

export function decodeRequest(data: Uint8Array): WireRequest {
  const r = new Reader(asBuffer(data));
  const out: WireRequest = {
    service: '',
    method: '',
    payload: EMPTY,
    timeoutNano: 0,
    metadata: [],
  };
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 2) out.service = r.string();
    else if (field === 2 && wireType === 2) out.method = r.string();
    else if (field === 3 && wireType === 2) out.payload = r.slice();
    else if (field === 4 && wireType === 0) out.timeoutNano = r.int64();
    else if (field === 5 && wireType === 2) out.metadata.push(decodeKeyValue(r.slice()));
    else r.skip(wireType);
  }
  return out;
}

function decodeKeyValue(data: Buffer): KeyValue {
  const r = new Reader(data);
  const kv = { key: '', value: '' };
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 2) kv.key = r.string();
    else if (field === 2 && wireType === 2) kv.value = r.string();
    else r.skip(wireType);
  }
  return kv;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

export function encodeResponse(payload: Uint8Array | undefined, status?: WireStatus): Uint8Array {
  if (status !== undefined && status.code !== 0) {
    const message: generated.ttrpc.Response.$Properties = {
      status: {
        code: status.code,
        message: status.message,
        details: status.details.map((d) => ({ type_url: d.typeUrl, value: d.value })),
      },
    };
    if (payload !== undefined && payload.length > 0) message.payload = payload;
    return statusCodec().ttrpc.Response.encode(message).finish();
  }
  // Response{payload}: field 2, length-delimited.
  if (payload === undefined || payload.length === 0) return EMPTY;
  const out = Buffer.allocUnsafe(1 + varintLength(payload.length) + payload.length);
  const pos = writeVarint(out, 1, payload.length);
  out[0] = 0x12;
  out.set(payload, pos);
  return out;
}

export function decodeResponse(data: Uint8Array): WireResponse {
  const r = new Reader(asBuffer(data));
  let payload: Uint8Array = EMPTY;
  let statusBytes: Buffer | undefined;
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 2) statusBytes = r.slice();
    else if (field === 2 && wireType === 2) payload = r.slice();
    else r.skip(wireType);
  }
  const out: WireResponse = { payload };
  if (statusBytes !== undefined) {
    const status = decodeStatus(statusBytes);
    if (status) out.status = status;
  }
  return out;
}
