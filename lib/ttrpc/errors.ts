// gRPC status codes and the error type every TTRPC failure is reported as.

/** gRPC status codes, as carried in `google.rpc.Status.code`. */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** A `google.protobuf.Any` in a status's details. */
export interface StatusDetail {
  typeUrl: string;
  value: Uint8Array;
}

// Marks TtrpcErrors in the global symbol registry, so `TtrpcError.is` recognises one made by
// another copy of this package in the same process (where `instanceof` fails).
const BRAND = Symbol.for('containerd-shim.TtrpcError');

/**
 * A failed call: a status received from the peer, or a local failure mapped onto the same codes
 * (a closed connection is UNAVAILABLE, a passed deadline DEADLINE_EXCEEDED, an abort CANCELLED).
 */
export class TtrpcError extends Error {
  override name = 'TtrpcError';
  readonly code: Code;
  readonly details: StatusDetail[];

  constructor(
    code: Code,
    message: string,
    options?: { details?: StatusDetail[]; cause?: unknown },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.details = options?.details ?? [];
  }

  /** The code's name, e.g. "NOT_FOUND". */
  get codeName(): string {
    return codeName(this.code);
  }

  /**
   * True when `err` is a TtrpcError (from any copy of this package loaded in the process) and,
   * if given, has code `code`.
   */
  static is(err: unknown, code?: Code): err is TtrpcError {
    return (
      typeof err === 'object' &&
      err !== null &&
      (err as { [BRAND]?: unknown })[BRAND] === true &&
      (code === undefined || (err as TtrpcError).code === code)
    );
  }
}
Object.defineProperty(TtrpcError.prototype, BRAND, { value: true });

export function codeName(code: number): string {
  return Code[code] ?? `CODE_${code}`;
}

/** Parses "NOT_FOUND", "not_found", "NotFound" or "5". */
export function parseCode(text: string): Code | undefined {
  if (/^\d+$/.test(text)) return Number(text) in Code ? Number(text) : undefined;
  const key = text.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
  const value = (Code as unknown as Record<string, number>)[key];
  return typeof value === 'number' ? value : undefined;
}

/** The error a pending call gets when its connection closes. */
export function closedError(cause?: unknown): TtrpcError {
  return new TtrpcError(Code.UNAVAILABLE, 'ttrpc: closed', { cause });
}

/**
 * Maps anything a handler threw to a status: TtrpcErrors pass through; Node system errors map like
 * Go's convertCode (ENOENT is NOT_FOUND, ...); AbortErrors are CANCELLED; the rest are UNKNOWN.
 */
export function toTtrpcError(err: unknown): TtrpcError {
  if (TtrpcError.is(err)) return err;
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  switch (e?.code) {
    case 'ENOENT':
      return new TtrpcError(Code.NOT_FOUND, message, { cause: err });
    case 'EEXIST':
      return new TtrpcError(Code.ALREADY_EXISTS, message, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new TtrpcError(Code.PERMISSION_DENIED, message, { cause: err });
    case 'ETIMEDOUT':
      return new TtrpcError(Code.DEADLINE_EXCEEDED, message, { cause: err });
    default:
      break;
  }
  if (e?.name === 'AbortError') return new TtrpcError(Code.CANCELLED, message, { cause: err });
  if (e?.name === 'TimeoutError')
    return new TtrpcError(Code.DEADLINE_EXCEEDED, message, { cause: err });
  return new TtrpcError(Code.UNKNOWN, message, { cause: err });
}
