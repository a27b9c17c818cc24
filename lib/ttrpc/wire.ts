// The ttrpc.Request / ttrpc.Response envelopes, encoded with the generated protobuf code.
import '../proto/int64';
import { ttrpc } from '../generated/ttrpc';
import { int64ToNumber } from '../proto/int64';
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

export function encodeRequest(request: {
  service: string;
  method: string;
  payload: Uint8Array;
  timeoutNano?: number;
  metadata?: KeyValue[];
}): Uint8Array {
  return ttrpc.Request.encode(request).finish();
}

export function decodeRequest(data: Uint8Array): WireRequest {
  const r = ttrpc.Request.decode(data);
  return {
    service: r.service ?? '',
    method: r.method ?? '',
    payload: r.payload ?? EMPTY,
    timeoutNano: int64ToNumber(r.timeoutNano),
    metadata: r.metadata ?? [],
  };
}

export function encodeResponse(payload: Uint8Array | undefined, status?: WireStatus): Uint8Array {
  const message: ttrpc.Response.$Properties = {};
  if (payload !== undefined && payload.length > 0) message.payload = payload;
  if (status !== undefined && status.code !== 0) {
    message.status = {
      code: status.code,
      message: status.message,
      details: status.details.map((d) => ({ type_url: d.typeUrl, value: d.value })),
    };
  }
  return ttrpc.Response.encode(message).finish();
}

export function decodeResponse(data: Uint8Array): WireResponse {
  const r = ttrpc.Response.decode(data);
  const s = r.status;
  const out: WireResponse = { payload: r.payload ?? EMPTY };
  if (s && s.code) {
    out.status = {
      code: s.code,
      message: s.message ?? '',
      details: (s.details ?? []).map((d) => ({
        typeUrl: d.type_url ?? '',
        value: d.value ?? EMPTY,
      })),
    };
  }
  return out;
}
