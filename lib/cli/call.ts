// `ttrpc call <address> <package.Service/Method> [json|-]`: one call, the response as JSON.
// Unary calls go through the raw `client.call` API; streaming methods are supported too (request
// messages as a sequence of JSON values, every response message printed as it arrives).
import { Code, TtrpcError } from '../ttrpc';
import type { Client, MethodDescriptor } from '../ttrpc';
import { EXIT_CALL, EXIT_OK, UsageError } from './args';
import { parseDuration } from '../duration';
import { decodeToJson, encodeJson, parseJsonValues } from './json';
import type { ProtoRegistry, ResolvedMethod } from './protos';
import { connectTarget, formatCallError } from './target';

export interface CallOptions {
  address: string;
  method: string;
  /** The request as JSON text; `-` reads it from stdin; default `{}`. */
  request?: string;
  metadata: [string, string][];
  timeoutMs?: number;
  connectTimeoutMs?: number;
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Parses repeated `--metadata key=value` flags. */
export function parseMetadata(values: string[]): [string, string][] {
  return values.map((text) => {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new UsageError(`--metadata wants key=value, not "${text}"`);
    return [text.slice(0, eq), text.slice(eq + 1)];
  });
}

/** Parses a `--timeout`-style duration flag value (must be positive). */
export function parsePositiveDuration(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`);
  }
  if (!(ms > 0)) throw new UsageError(`--${name} must be positive, not "${text}"`);
  return ms;
}

export async function readRequestText(text: string | undefined): Promise<string> {
  if (text === undefined) return '{}';
  if (text !== '-') return text;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Encodes the request JSON text into one message per JSON value. */
export function encodeRequests(resolved: ResolvedMethod, text: string): Uint8Array[] {
  const values = parseJsonValues(text);
  const streaming = resolved.kind === 'clientStream' || resolved.kind === 'bidi';
  if (values.length === 0 && !streaming) values.push({});
  if (values.length > 1 && !streaming) {
    throw new UsageError(
      `${resolved.service}/${resolved.method} takes one request message, got ${values.length} JSON values`,
    );
  }
  return values.map((value) => encodeJson(resolved.requestType, value));
}

function pretty(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

// A descriptor passing encoded bytes through, so streams use the same JSON codec as unary calls.
function rawDescriptor(
  resolved: ResolvedMethod,
): MethodDescriptor<Uint8Array, Uint8Array, Uint8Array, Uint8Array> {
  return {
    service: resolved.service,
    name: resolved.method,
    kind: resolved.kind,
    requestType: { encode: (bytes) => ({ finish: () => bytes }), decode: (bytes) => bytes },
    responseType: { encode: (bytes) => ({ finish: () => bytes }), decode: (bytes) => bytes },
  };
}

async function invoke(
  client: Client,
  resolved: ResolvedMethod,
  requests: Uint8Array[],
  options: CallOptions,
  io: Output,
): Promise<void> {
  const callOptions = { timeoutMs: options.timeoutMs, metadata: options.metadata };
  const show = (bytes: Uint8Array): void => {
    let json: unknown;
    try {
      json = decodeToJson(resolved.responseType, bytes);
    } catch (err) {
      throw new TtrpcError(
        Code.INTERNAL,
        `cannot decode the response as ${resolved.responseType.fullName.slice(1)}: ${(err as Error).message}`,
      );
    }
    io.out(pretty(json));
  };
  const descriptor = rawDescriptor(resolved);
  switch (resolved.kind) {
    case 'unary':
      show(await client.call(resolved.service, resolved.method, requests[0]!, callOptions));
      return;
    case 'serverStream': {
      const stream = client.serverStream(descriptor, requests[0]!, callOptions);
      stream.response.catch(() => undefined);
      for await (const message of stream) show(message);
      await stream.response;
      return;
    }
    case 'clientStream': {
      const stream = client.clientStream(descriptor, callOptions);
      stream.response.catch(() => undefined);
      for (const request of requests) await stream.send(request);
      stream.closeSend();
      show(await stream.response);
      return;
    }
    case 'bidi': {
      const stream = client.bidiStream(descriptor, callOptions);
      stream.response.catch(() => undefined);
      const sending = (async () => {
        for (const request of requests) await stream.send(request);
        stream.closeSend();
      })();
      sending.catch(() => undefined);
      for await (const message of stream) show(message);
      await sending;
      await stream.response;
      return;
    }
  }
}

/** Runs one call; returns the exit status (usage errors are thrown as UsageError). */
export async function runCall(
  registry: ProtoRegistry,
  options: CallOptions,
  io: Output,
): Promise<number> {
  const resolved = registry.findMethod(options.method);
  const requests = encodeRequests(resolved, await readRequestText(options.request));
  let client: Client | undefined;
  try {
    client = await connectTarget(options.address, { connectTimeoutMs: options.connectTimeoutMs });
    await invoke(client, resolved, requests, options, io);
    return EXIT_OK;
  } catch (err) {
    io.err(`${formatCallError(err)}\n`);
    return EXIT_CALL;
  } finally {
    client?.close();
  }
}
