// Exact int64 encoding for protobufjs. Its writers map every int64 value through LongBits.from,
// which turns a bigint (or any non-numeric value) into 0 without a word. Replacing that one
// function makes bigint encode exactly and anything unrepresentable throw, for every generated
// message at once.
import * as protobuf from 'protobufjs/minimal';

import { codedError } from '../error-codes';

interface LongLike {
  low: number;
  high: number;
}

type LongBitsClass = {
  new (lo: number, hi: number): unknown;
  from(value: unknown): unknown;
  fromNumber(value: number): unknown;
  zero: unknown;
};

const LongBits = (protobuf.util as unknown as { LongBits: LongBitsClass }).LongBits;
const MIN = -(1n << 63n);
const MAX = (1n << 64n) - 1n;

function int64Error(value: unknown, why: string): TypeError {
  const shown = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  return codedError('ERR_PROTOBUF_INT64', `cannot encode ${shown} as a 64-bit integer: ${why}`, {
    type: TypeError,
  });
}

function fromBigInt(value: bigint): unknown {
  if (value < MIN || value > MAX) throw int64Error(value, 'out of range');
  const bits = BigInt.asUintN(64, value);
  return new LongBits(Number(bits & 0xffffffffn), Number(bits >> 32n));
}

function from(value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      if (!Number.isInteger(value)) throw int64Error(value, 'not an integer');
      return LongBits.fromNumber(value);
    case 'bigint':
      return fromBigInt(value);
    case 'string':
      if (!/^-?\d+$/.test(value.trim())) throw int64Error(value, 'not a decimal integer');
      return fromBigInt(BigInt(value.trim()));
    case 'object':
      if (
        value !== null &&
        typeof (value as LongLike).low === 'number' &&
        typeof (value as LongLike).high === 'number'
      ) {
        const long = value as LongLike;
        return long.low || long.high
          ? new LongBits(long.low >>> 0, long.high >>> 0)
          : LongBits.zero;
      }
      break;
    default:
      break;
  }
  throw int64Error(value, 'expected a number, bigint, decimal string or Long');
}

LongBits.from = from;

export { int64ToBigInt, int64ToNumber } from './convert';
