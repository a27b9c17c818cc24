// Decoded int64 values (protobufjs gives a Long, or a number) as JavaScript numbers and bigints.
// No protobufjs import: callers that only read values need not load it.

interface LongLike {
  low: number;
  high: number;
}

/** A decoded int64 (protobufjs gives a Long, or a number) as a number; exact below 2^53. */
export function int64ToNumber(value: number | LongLike | null | undefined): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  return (value as unknown as { toNumber(): number }).toNumber();
}

/** A decoded int64 as a bigint, exact over the whole range. */
export function int64ToBigInt(
  value: number | LongLike | null | undefined,
  unsigned = false,
): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'number') return BigInt(value);
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}
