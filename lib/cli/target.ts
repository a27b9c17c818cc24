// Connecting to the address on the command line, and how failures are reported.
import { Client, Code, TtrpcError, codeName, parseAddress } from '../ttrpc';
import type { Address } from '../ttrpc';
import { UsageError } from './args';

/** Parses an address: `unix:///path`, a bare path, `@abstract`, `unix://@abstract`, `\\.\pipe\name`. */
export function parseTarget(text: string): Address {
  let address: Address;
  try {
    address = parseAddress(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (address.kind === 'fd')
    throw new UsageError(
      `"${text}" names a listening socket to serve on; connect with unix:///path, a path or @name`,
    );
  return address;
}

/** Connects, turning a refused or missing socket into an UNAVAILABLE TtrpcError. */
export async function connectTarget(
  text: string,
  options: { connectTimeoutMs?: number } = {},
): Promise<Client> {
  const address = parseTarget(text);
  if (address.kind === 'pipe' && process.platform !== 'win32') {
    throw new TtrpcError(
      Code.UNAVAILABLE,
      `cannot connect to ${text}: named pipes are a Windows transport and this is ${process.platform} (use unix:///path, a path or @name)`,
    );
  }
  try {
    return await Client.connect(address, { connectTimeoutMs: options.connectTimeoutMs });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TtrpcError(Code.UNAVAILABLE, `cannot connect to ${text}: ${e.message}`, {
      cause: err,
    });
  }
}

/** `ERROR: <CODE_NAME>: <message>`, the one line a failed call prints on stderr. */
export function formatCallError(err: unknown): string {
  if (TtrpcError.is(err)) return `ERROR: ${codeName(err.code)}: ${err.message}`;
  const e = err as { message?: unknown } | null;
  return `ERROR: ${codeName(Code.UNKNOWN)}: ${typeof e?.message === 'string' ? e.message : String(err)}`;
}

/** The code name a failure is counted under. */
export function errorCodeName(err: unknown): string {
  return TtrpcError.is(err) ? codeName(err.code) : codeName(Code.UNKNOWN);
}
