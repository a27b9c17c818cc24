// What `start` reads on stdin and prints on stdout, for every containerd generation:
// 1.6–2.2 send the runtime options as a protobuf Any (or nothing) and read a plain address (or
// JSON {version,address,protocol}); 2.3+ send BootstrapParams and read BootstrapResult. The
// generation is detected from the input, never configured.
import * as fs from 'node:fs';

import { codedError } from '../error-codes';
import type * as generated from '../generated/bootstrap';
import type { Any } from './util';

// Loaded only when containerd sent something on stdin (2.3+, or runtime options).
const codec = (): typeof generated =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('../int64/encode'), require('../generated/bootstrap')) as typeof generated;

const STDIN_LIMIT = 10 << 20;

export type BootstrapParams = generated.containerd.runtime.bootstrap.v1.BootstrapParams;

/** A `start` result beyond a plain address: task API version 2 or 3, "ttrpc" or "grpc". */
export interface StartResult {
  address: string;
  version?: number;
  protocol?: 'ttrpc' | 'grpc';
}

export interface StartInput {
  /** True when containerd spoke the 2.3+ bootstrap protocol (BootstrapParams in, BootstrapResult out). */
  bootstrap: boolean;
  /** The 2.3 parameters, when `bootstrap`. */
  params?: BootstrapParams;
  /** Runtime options: the Any on stdin (≤ 2.2), or the 2.3 extension holding them. */
  options?: Any;
}

/** Reads all of stdin (bounded); empty when stdin is a terminal or closed. */
export function readStdin(): Buffer {
  try {
    if (fs.fstatSync(0).isCharacterDevice() && process.stdin.isTTY) return Buffer.alloc(0);
    const data = fs.readFileSync(0);
    if (data.length > STDIN_LIMIT)
      throw codedError('ERR_INVALID_BOOTSTRAP', `stdin larger than ${STDIN_LIMIT} bytes`);
    return data;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EBADF' || code === 'EINVAL') return Buffer.alloc(0);
    throw err;
  }
}

/**
 * Detects the protocol: BootstrapParams whose instance_id and namespace match our flags means
 * 2.3+ (like Go's parseBootstrapParams); anything else non-empty is the legacy options Any.
 */
export function parseStartInput(data: Uint8Array, id: string, namespace: string): StartInput {
  if (data.length === 0) return { bootstrap: false };
  try {
    const params = codec().containerd.runtime.bootstrap.v1.BootstrapParams.decode(data);
    if (params.instanceId === id && params.namespace === namespace && id !== '') {
      const options = (params.extensions ?? [])
        .map((e) => e.value)
        .find((v) => v?.type_url?.includes('Options'));
      return { bootstrap: true, params, options: options ?? undefined };
    }
  } catch {
    // not BootstrapParams: fall through to the legacy Any
  }
  try {
    const any = codec().google.protobuf.Any.decode(data);
    return { bootstrap: false, options: { type_url: any.type_url, value: any.value } };
  } catch (err) {
    throw codedError(
      'ERR_INVALID_BOOTSTRAP',
      `start: cannot decode stdin as BootstrapParams or runtime options: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** The bytes `start` prints for `result`, in the dialect of the containerd that started us. */
export function formatStartOutput(input: StartInput, result: string | StartResult): Uint8Array {
  const r: StartResult = typeof result === 'string' ? { address: result } : result;
  const version = r.version ?? 2;
  const protocol = r.protocol ?? 'ttrpc';
  if (input.bootstrap) {
    return codec()
      .containerd.runtime.bootstrap.v1.BootstrapResult.encode({
        version,
        address: r.address,
        protocol,
      })
      .finish();
  }
  if (version === 2 && protocol === 'ttrpc') return Buffer.from(r.address);
  return Buffer.from(JSON.stringify({ version, address: r.address, protocol }));
}

/** Log level name for a 2.3 LogLevel value (an open enum: nearest known level). */
export function logLevelName(level: number | null | undefined): string | undefined {
  if (level === null || level === undefined) return undefined;
  if (level <= -8) return 'trace';
  if (level <= -4) return 'debug';
  if (level < 4) return 'info';
  if (level < 8) return 'warn';
  if (level < 10) return 'error';
  return 'fatal';
}

/** Encodes what `-info` prints. */
export function encodeRuntimeInfo(info: RuntimeInfoProperties): Uint8Array {
  return codec().containerd.types.RuntimeInfo.encode(info).finish();
}
export type RuntimeInfoProperties = generated.containerd.types.RuntimeInfo.$Properties;
