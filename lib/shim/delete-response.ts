// The DeleteResponse `delete` prints, encoded by hand: `delete` is on containerd's critical path
// (it runs for every container) and needs nothing else from protobuf, so it does not load it.
//   DeleteResponse { uint32 pid = 1; uint32 exit_status = 2; Timestamp exited_at = 3; }
//   Timestamp { int64 seconds = 1; int32 nanos = 2; }
import type { containerd } from '../generated/task';
import { int64ToBigInt } from '../int64/convert';

type Int64 = number | bigint | { low: number; high: number } | null | undefined;

function varint(out: number[], value: bigint): void {
  let v = BigInt.asUintN(64, value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

function field(out: number[], tag: number, value: Int64): void {
  const v =
    value === null || value === undefined
      ? 0n
      : typeof value === 'object'
        ? int64ToBigInt(value)
        : BigInt(value);
  if (v === 0n) return; // proto3: defaults are not written
  out.push(tag);
  varint(out, v);
}

export function encodeDeleteResponse(
  response: containerd.task.v2.DeleteResponse.$Properties,
): Uint8Array {
  const out: number[] = [];
  field(out, 0x08, response.pid);
  field(out, 0x10, response.exitStatus);
  if (response.exitedAt) {
    const ts: number[] = [];
    field(ts, 0x08, response.exitedAt.seconds as Int64);
    field(ts, 0x10, response.exitedAt.nanos);
    out.push(0x1a);
    varint(out, BigInt(ts.length));
    out.push(...ts);
  }
  return Uint8Array.from(out);
}
