// The Node.js counterpart of test/go-peer (`go-peer server` / `go-peer bench`): the same command
// line, the same Interop/Echo semantics and the same JSON result line, so bench/ttrpc.ts can pair
// either implementation with the other.
//
//   node dist/bench/node-peer.js server [-creds] [-busy-poll µs] <address>
//   node dist/bench/node-peer.js bench <address> [-mode serial|parallel|stream|idle] [-n calls]
//                                [-d duration] [-c concurrency] [-conns connections]
//                                [-size bytes] [-count chunks] [-warmup calls] [-windows n]
//                                [-pause duration] [-busy-poll µs]
//
// parallel: -c callers on each of -conns connections; stream: whole Streaming.Source calls of
// -count chunks of -size bytes; idle: the warm-up calls, then nothing for -windows times -d
// (`mark` between the windows). `measuring` is
// printed when the measured phase starts (the harness samples CPU time there and at the result).
//
// <address> is a unix socket path or @name (abstract socket); unix:///path works too.
import { Client, Code, Server, TtrpcError, requireSameUser, serverStream, unary } from '../lib';
import type { CallContext, ServerStream } from '../lib';
import { posix } from '../lib/native';
import { ChunkType, EchoRequestType, EchoResponseType, SourceRequestType } from './interop-codec';
import type { Chunk, EchoRequest, EchoResponse, KeyValue, SourceRequest } from './interop-codec';

const spinStats = (): unknown => (process.platform === 'linux' ? posix.spinStats() : {});

const INTEROP_SERVICE = 'ttrpc.interop.v1.Interop';
const ECHO_METHOD = 'Echo';

const USAGE = `usage:
  node-peer server [-creds] <address>
  node-peer bench <address> [-mode serial|parallel|stream|idle] [-n calls] [-d duration] [-c concurrency]
                  [-conns connections] [-size bytes] [-count chunks] [-warmup calls] [-windows n]
                  [-pause duration] [-busy-poll µs]
<address> is a unix socket path or @name (abstract socket)`;

// --- messages (encoded by hand, as the Go peer's are: bench/interop-codec.ts) ---------------------

type KeyValueInit = KeyValue;
type EchoResponseInit = Partial<EchoResponse>;

const echoMethod = unary(INTEROP_SERVICE, ECHO_METHOD, EchoRequestType, EchoResponseType);
const sourceMethod = serverStream(
  'ttrpc.interop.v1.Streaming',
  'Source',
  SourceRequestType,
  ChunkType,
);

const EMPTY = new Uint8Array(0);

// --- command line (Go's flag package: -name value, -name=value, --name; flags and positional
// arguments may be interleaved) --------------------------------------------------------------------

class UsageError extends Error {}

type FlagKind = 'int' | 'bool' | 'string' | 'duration';

function parseArgs(
  args: string[],
  spec: Record<string, FlagKind>,
  nPositional: number,
): { flags: Map<string, string>; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (arg.length < 2 || !arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    let key = arg.slice(arg.startsWith('--') ? 2 : 1);
    let value: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    const kind = spec[key];
    if (kind === undefined) throw new UsageError(`flag provided but not defined: -${key}`);
    if (kind === 'bool') {
      value ??= 'true';
      if (!['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE'].includes(value))
        throw new UsageError(`invalid boolean value ${JSON.stringify(value)} for -${key}`);
    } else if (value === undefined) {
      if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: -${key}`);
      value = args[++i]!;
    }
    flags.set(key, value);
  }
  if (positional.length !== nPositional) {
    throw new UsageError(
      `expected ${nPositional} positional argument(s), got ${JSON.stringify(positional)}`,
    );
  }
  return { flags, positional };
}

function intFlag(flags: Map<string, string>, key: string, dflt: number): number {
  const text = flags.get(key);
  if (text === undefined) return dflt;
  const v = Number(text.replace(/_/g, ''));
  if (!Number.isSafeInteger(v))
    throw new UsageError(`invalid value ${JSON.stringify(text)} for flag -${key}: parse error`);
  return v;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration ("1.5s", "300ms", "1m30s", "0"), in nanoseconds. */
export function parseGoDuration(text: string): number {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new UsageError(`time: invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) throw new UsageError(`time: invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

/** `-busy-poll µs`: the bound of adaptive busy polling (0: off); absent: the library default. */
function busyPollOption(flags: Map<string, string>): number | undefined {
  return flags.has('busy-poll') ? intFlag(flags, 'busy-poll', 0) : undefined;
}

// --- server --------------------------------------------------------------------------------------

function statusError(code: Code, message: string): TtrpcError {
  return new TtrpcError(code, message);
}

const responseCache = new Map<number, Uint8Array>();

function filler(size: number): Uint8Array {
  let b = responseCache.get(size);
  if (!b) {
    b = Buffer.alloc(size, 'x');
    if (responseCache.size < 16) responseCache.set(size, b);
  }
  return b;
}

/** The rest of Echo once the sleep (if any) is over: fail, or answer. */
function answer(req: EchoRequest, resp: EchoResponseInit): EchoResponseInit {
  if (req.failCode) throw statusError(req.failCode, req.failMessage ?? '');
  resp.payload = req.responseSize > 0 ? filler(req.responseSize) : (req.payload ?? EMPTY);
  return resp;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      // The server answers DEADLINE_EXCEEDED itself when the deadline passes; this only stops
      // the sleep, with the status Go's peer would pick.
      const reason: unknown = signal.reason;
      reject(
        TtrpcError.is(reason, Code.DEADLINE_EXCEEDED)
          ? statusError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded')
          : statusError(Code.CANCELLED, 'context canceled'),
      );
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Interop.Echo as documented in test/fixtures/interop.proto, mirroring go-peer's `echo`: the
 * deadline's time left, the request metadata (keys sorted, values of a key in wire order, as Go's
 * map-based MD gives them; Node's Metadata lower-cases keys), then sleep, fail or echo. The common
 * path (no sleep) returns synchronously and allocates only the response object.
 */
function echo(req: EchoRequest, ctx: CallContext): EchoResponseInit | Promise<EchoResponseInit> {
  const resp: EchoResponseInit = {};
  if (ctx.deadline !== undefined) resp.timeoutNano = Math.round((ctx.deadline - Date.now()) * 1e6);
  const md = ctx.metadata;
  if (md.size > 0) {
    const pairs: KeyValueInit[] = [];
    for (const [key, value] of md) pairs.push({ key, value });
    // Stable sort: values of one key keep their wire order.
    pairs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    resp.metadata = pairs;
  }
  if (req.sleepMs > 0) return sleep(req.sleepMs, ctx.signal).then(() => answer(req, resp));
  return answer(req, resp);
}

/**
 * Streaming.Source as interop.proto has it: `count` chunks of `size` bytes, each a fresh zeroed
 * buffer numbered in its first 4 bytes (as the Go 1.2 peer's are), as fast as the client takes
 * them.
 */
async function source(req: SourceRequest, stream: ServerStream<never, Chunk>): Promise<void> {
  for (let i = 0; i < req.count; i++) {
    const data = Buffer.alloc(req.size);
    if (req.size >= 4) data.writeUInt32BE(i, 0);
    await stream.send({ data });
  }
}

async function runServer(args: string[]): Promise<void> {
  const { flags, positional } = parseArgs(args, { creds: 'bool', 'busy-poll': 'int' }, 1);
  const creds = ['true', '1', 't', 'TRUE'].includes(flags.get('creds') ?? 'false');
  const address = positional[0]!;
  const server = new Server({
    ...(creds ? { handshaker: requireSameUser() } : {}),
    busyPollMicros: busyPollOption(flags),
  });
  server.addMethod(echoMethod, echo);
  server.addMethod(sourceMethod, source);
  await server.listen(address);

  let stopping = false;
  const stop = (): void => {
    if (process.env.NODE_PEER_SPIN_STATS) process.stderr.write(JSON.stringify(spinStats()) + '\n');
    if (stopping) return;
    stopping = true;
    // close() also unlinks a path socket this server bound.
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write('ready\n');
}

// --- bench ---------------------------------------------------------------------------------------

interface BenchResult {
  mode: string;
  concurrency: number;
  size: number;
  calls: number;
  errors: number;
  /** Payload bytes moved while measuring: request + response for Echo, the chunks of streams. */
  bytes: number;
  seconds: number;
  ops_per_sec: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
}

function round(v: number, digits: number): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}

/** Nearest-rank percentile of sorted nanoseconds, in microseconds (as go-peer computes it). */
function percentileUs(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.max(0, Math.ceil(p * sorted.length) - 1);
  return round(sorted[i]! / 1e3, 1);
}

/** A growable array of latencies in nanoseconds. */
class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }

  sorted(): Float64Array {
    return this.data.subarray(0, this.length).sort();
  }
}

function errorCode(err: unknown): [number, string] {
  if (err instanceof TtrpcError) return [err.code, err.message];
  return [Code.UNKNOWN, err instanceof Error ? err.message : String(err)];
}

async function runBench(args: string[]): Promise<void> {
  const { flags, positional } = parseArgs(
    args,
    {
      mode: 'string',
      n: 'int',
      d: 'duration',
      c: 'int',
      conns: 'int',
      size: 'int',
      count: 'int',
      warmup: 'int',
      windows: 'int',
      pause: 'duration',
      'busy-poll': 'int',
    },
    1,
  );
  const address = positional[0]!;
  const mode = flags.get('mode') ?? 'serial';
  const windows = intFlag(flags, 'windows', 1);
  const pause = flags.has('pause') ? parseGoDuration(flags.get('pause')!) : 0;
  const n = intFlag(flags, 'n', 10000);
  const d = flags.has('d') ? parseGoDuration(flags.get('d')!) : 0;
  const c = intFlag(flags, 'c', 64);
  const conns = intFlag(flags, 'conns', 1);
  const size = intFlag(flags, 'size', 64);
  const count = intFlag(flags, 'count', 64);
  const warmup = intFlag(flags, 'warmup', 200);

  let workers = 1;
  if (mode === 'parallel') {
    if (c < 1) throw new Error('-c must be >= 1');
    workers = c;
  } else if (!['serial', 'idle', 'stream'].includes(mode)) {
    throw new Error(`unknown -mode ${JSON.stringify(mode)} (serial|parallel|stream|idle)`);
  }
  if (size < 0 || n < 0 || warmup < 0 || count < 0 || conns < 1)
    throw new Error('-size, -n, -count and -warmup must be >= 0, -conns >= 1');

  const clients: Client[] = [];
  for (let i = 0; i < conns; i++)
    clients.push(await Client.connect(address, { busyPollMicros: busyPollOption(flags) }));
  const request: Partial<EchoRequest> = { payload: Buffer.alloc(size, 'p') };
  let firstErr: unknown;
  let hasErr = false;

  const echoCall = async (client: Client): Promise<void> => {
    const resp = await client.unary(echoMethod, request);
    const got = resp.payload?.length ?? 0;
    if (got !== size) throw new Error(`echo returned ${got} bytes, want ${size}`);
  };
  // One whole server stream: `count` chunks of `size` bytes.
  const streamCall = async (client: Client): Promise<void> => {
    let bytes = 0;
    for await (const chunk of client.serverStream(sourceMethod, { count, size }))
      bytes += chunk.data.length;
    if (bytes !== count * size)
      throw new Error(`stream brought ${bytes} bytes, want ${count * size}`);
  };
  const call = mode === 'stream' ? streamCall : echoCall;

  // Runs `workers` async callers on each connection until `total` calls were claimed (or until
  // `until`, performance.now() ms, when non-zero), recording each call's latency. (The clock is
  // performance.now(): a double, where hrtime.bigint() allocates a BigInt per reading.)
  const run = async (
    total: number,
    until: number,
    record: Samples | undefined,
  ): Promise<{ done: number; errs: number }> => {
    let claimed = 0;
    let errs = 0;
    const worker = async (client: Client): Promise<void> => {
      for (;;) {
        if (until === 0) {
          if (++claimed > total) return;
        } else if (performance.now() >= until) {
          return;
        } else {
          claimed++;
        }
        const t0 = performance.now();
        try {
          await call(client);
        } catch (err) {
          errs++;
          if (!hasErr) {
            hasErr = true;
            firstErr = err;
          }
          continue;
        }
        if (record) record.push((performance.now() - t0) * 1e6);
      }
    };
    const all: Promise<void>[] = [];
    for (const client of clients) for (let w = 0; w < workers; w++) all.push(worker(client));
    await Promise.all(all);
    const done = until === 0 && claimed > total ? total : claimed;
    return { done, errs };
  };

  try {
    if (warmup > 0) {
      await run(warmup, 0, undefined);
      hasErr = false;
      firstErr = undefined;
    }
    // The harness samples both processes' CPU time between this line and the result.
    process.stdout.write('measuring\n');
    // -pause: time for a profiler to attach between the warm-up and the measured calls.
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause / 1e6));
    const samples = new Samples();
    const start = performance.now();
    let done = 0;
    let errs = 0;
    if (mode === 'idle') {
      // -windows windows of -d, the harness sampling CPU time at each `mark`: the first comes
      // right after the calls (V8 compacts the heap once, some seconds after a process went
      // quiet, maybe in the next one), the others are steady.
      for (let w = 0; w < windows; w++) {
        if (w > 0) process.stdout.write('mark\n');
        await new Promise((resolve) => setTimeout(resolve, d / 1e6));
      }
    } else {
      ({ done, errs } = await run(n, d > 0 ? start + d / 1e6 : 0, samples));
    }
    const elapsed = (performance.now() - start) / 1e3;

    const sorted = samples.sorted();
    const res: BenchResult = {
      mode,
      concurrency: workers * conns,
      size,
      calls: done,
      errors: errs,
      bytes: mode === 'stream' ? done * count * size : mode === 'idle' ? 0 : done * size * 2,
      seconds: round(elapsed, 4),
      ops_per_sec: elapsed > 0 ? round(done / elapsed, 1) : 0,
      p50_us: percentileUs(sorted, 0.5),
      p90_us: percentileUs(sorted, 0.9),
      p99_us: percentileUs(sorted, 0.99),
      max_us: percentileUs(sorted, 1),
    };
    if (hasErr) {
      const [code, msg] = errorCode(firstErr);
      process.stderr.write(`node-peer bench: ${errs} error(s), first: code ${code}: ${msg}\n`);
    }
    if (process.env.NODE_PEER_SPIN_STATS) process.stderr.write(JSON.stringify(spinStats()) + '\n');
    process.stdout.write(JSON.stringify(res) + '\n');
    // The harness samples CPU time on the result line: closing waits until it has.
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    for (const client of clients) client.close();
  }
}

// --- main ----------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  if (argv.length < 1) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const [cmd, ...args] = argv as [string, ...string[]];
  try {
    switch (cmd) {
      case 'server':
        await runServer(args);
        return 0;
      case 'bench':
        await runBench(args);
        return 0;
      case '-h':
      case '-help':
      case '--help':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return 0;
      default:
        process.stderr.write(`node-peer: unknown subcommand ${JSON.stringify(cmd)}\n${USAGE}\n`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`node-peer ${cmd}: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`node-peer ${cmd}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    if (code !== 0) process.exit(code);
  });
}
