// The `ttrpc` command: grpcurl and ghz for ttrpc. Argument parsing, dispatch and usage.
//
//   ttrpc call <address> <package.Service/Method> [json|-]
//   ttrpc describe [name]      ttrpc list
//   ttrpc bench <address> <package.Service/Method> [json|-]
//
// Exit status: 0 success; 1 the call failed (an error status, printed as
// `ERROR: <CODE_NAME>: <message>` on stderr, or no connection); 2 bad usage (flags, JSON, unknown
// service or method, unloadable .proto files): nothing was sent.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { TtrpcError } from '../ttrpc';
import type { FlagSpec, Parsed } from './args';
import {
  EXIT_CALL,
  EXIT_OK,
  EXIT_USAGE,
  UsageError,
  flag,
  flagBool,
  flagInt,
  flagList,
  flagNumber,
  parseArgs,
} from './args';
import { runBench } from './bench';
import type { BenchOptions, Control } from './bench';
import { parseMetadata, parsePositiveDuration, runCall } from './call';
import type { Output } from './call';
import { describe, list } from './describe';
import { isDuration } from '../duration';
import { ProtoRegistry } from './protos';
import { benchJson, benchText, startProgress } from './report';
import { formatCallError } from './target';

const ADDRESSES = `Addresses: unix:///path, a bare /path, @name or unix://@name (Linux abstract socket);
\\\\.\\pipe\\name is recognized but needs Windows.`;

const PROTO_FLAGS = `  --proto <file>         load a .proto file (repeatable)
  -I, --import-path <dir>  where imports of --proto files are looked up (repeatable)
  --no-default-protos    do not load the package's own protos (containerd task v2/v3, events, …)`;

const CALL_FLAGS = `  --metadata <key=value>  request metadata (repeatable; a key may repeat)
  --timeout <duration>   call deadline, sent as timeout_nano (Go syntax: 100ms, 2s, 1m30s)
  --connect-timeout <duration>  how long to retry a full listen backlog (default 5s)`;

const USAGE: Record<string, string> = {
  main: `usage: ttrpc <command> [flags] [arguments]

Talks to any ttrpc server (containerd's RPC protocol) using .proto files.

Commands:
  call <address> <package.Service/Method> [json|-]    one call, the response as JSON
  bench <address> <package.Service/Method> [json|-]   latency and throughput of a method
  describe [service|method|message]                  what the loaded .proto files define
  list                                               the services the .proto files define
  help [command]                                     this text, or a command's

The package's own protos are loaded by default, so e.g.
  ttrpc call unix:///run/containerd/s/<hash> containerd.task.v2.Task/Connect '{"id":"x"}'
works with no flags.

${ADDRESSES}
Exit status: 0 ok; 1 the call failed (ERROR: <CODE_NAME>: <message> on stderr); 2 bad usage.`,

  call: `usage: ttrpc call [flags] <address> <package.Service/Method> [json|-]

Sends one request (JSON, default {}; - reads it from stdin) and prints the response as JSON:
proto3 JSON mapping (lowerCamelCase names, int64 as strings, enums by name, bytes as base64,
Timestamp as RFC 3339), every field shown. Streaming methods take a sequence of JSON request
values and print every response message.

${CALL_FLAGS}
${PROTO_FLAGS}

${ADDRESSES}
Exit status: 0 ok; 1 the call failed (ERROR: <CODE_NAME>: <message> on stderr); 2 bad usage.`,

  describe: `usage: ttrpc describe [flags] [service|package.Service/Method|message]

Without a name: every service with its methods (streaming kind, request -> response).
With a service, method, message or enum name: its definition.

${PROTO_FLAGS}`,

  list: `usage: ttrpc list [flags]

The fully-qualified names of the services the loaded .proto files define.

${PROTO_FLAGS}`,

  bench: `usage: ttrpc bench [flags] <address> <package.Service/Method> [json|-]

Calls a unary method over and over with the same request and reports latency percentiles
(p50, p90, p99, p99.9, max; every completed call, failed ones included), throughput and
errors by status code.

Load:
  -c, --concurrency <n>  closed loop: callers (default 1); open loop: calls in flight at
                         most (default 100)
  --connections <n>      connections per target, callers spread over them (default 1)
  -n, --calls <n>        measured calls per target, or
  -d, --duration <dur>   measuring time per target (default 5s)
  --rate <calls/s>       open loop: call i is due at i/rate; its latency counts from then,
                         so time spent queued behind a slow server is not hidden
                         (coordinated omission)
  --warmup <n|dur>       calls or time (same load) before measuring, not reported
Output:
  --json                 one JSON object on stdout (latencies in µs)
  --progress             a progress line on stderr even when it is not a terminal
Comparing:
  --compare <address2>   measure a second target the same way, interleaved in short
                         slices (A B B A …), and print target2/target1 ratios
  --slices <n>           interleaved slices per target (default: ~0.5s or n/10 calls each)
Other:
  --digits <n>           significant digits of the latency histogram (1-5, default 3)
${CALL_FLAGS}
${PROTO_FLAGS}

${ADDRESSES}
Exit status: 0 the run completed (even with failed calls); 1 no connection, or it was lost;
2 bad usage. SIGINT stops early and prints what was measured.`,
};

const PROTO_SPEC: Record<string, FlagSpec> = {
  proto: { type: 'list' },
  'import-path': { type: 'list', aliases: ['-I'] },
  'no-default-protos': { type: 'bool' },
  help: { type: 'bool', aliases: ['-h'] },
};

const CALL_SPEC: Record<string, FlagSpec> = {
  ...PROTO_SPEC,
  metadata: { type: 'list' },
  timeout: { type: 'string' },
  'connect-timeout': { type: 'string' },
};

const BENCH_SPEC: Record<string, FlagSpec> = {
  ...CALL_SPEC,
  concurrency: { type: 'string', aliases: ['-c'] },
  connections: { type: 'string' },
  calls: { type: 'string', aliases: ['-n'] },
  duration: { type: 'string', aliases: ['-d'] },
  rate: { type: 'string' },
  warmup: { type: 'string' },
  json: { type: 'bool' },
  progress: { type: 'bool' },
  compare: { type: 'string' },
  slices: { type: 'string' },
  digits: { type: 'string' },
};

const stdio: Output = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

function loadProtos(parsed: Parsed): ProtoRegistry {
  return ProtoRegistry.load({
    files: flagList(parsed, 'proto'),
    includes: flagList(parsed, 'import-path'),
    builtin: !flagBool(parsed, 'no-default-protos'),
  });
}

function positionals(parsed: Parsed, min: number, max: number, what: string): string[] {
  const p = parsed.positionals;
  if (p.length < min) throw new UsageError(`missing ${what}`);
  if (p.length > max)
    throw new UsageError(`unexpected argument "${p[max]}" (quote the JSON request)`);
  return p;
}

function version(): string {
  try {
    const file = path.resolve(__dirname, '..', '..', '..', 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function call(argv: string[], io: Output): Promise<number> {
  const parsed = parseArgs(argv, CALL_SPEC);
  if (flagBool(parsed, 'help')) return help('call', io);
  const [address, method, request] = positionals(parsed, 2, 3, '<address> and <Service/Method>');
  const registry = loadProtos(parsed);
  return runCall(
    registry,
    {
      address: address!,
      method: method!,
      request,
      metadata: parseMetadata(flagList(parsed, 'metadata')),
      timeoutMs: parsePositiveDuration('timeout', flag(parsed, 'timeout')),
      connectTimeoutMs: parsePositiveDuration('connect-timeout', flag(parsed, 'connect-timeout')),
    },
    io,
  );
}

function benchOptions(parsed: Parsed): BenchOptions {
  const [address, method, request] = positionals(parsed, 2, 3, '<address> and <Service/Method>');
  const rate = flagNumber(parsed, 'rate');
  const calls = flagInt(parsed, 'calls');
  let durationMs = parsePositiveDuration('duration', flag(parsed, 'duration'));
  if (calls !== undefined && durationMs !== undefined)
    throw new UsageError('use -n (calls) or -d (duration), not both');
  if (calls === undefined && durationMs === undefined) durationMs = 5000;
  const warmup = flag(parsed, 'warmup');
  let warmupCalls: number | undefined;
  let warmupMs: number | undefined;
  if (warmup !== undefined) {
    if (isDuration(warmup)) warmupMs = parsePositiveDuration('warmup', warmup);
    else warmupCalls = flagInt(parsed, 'warmup', { allowZero: true });
    if (warmupCalls === 0) warmupCalls = undefined;
  }
  const digits = flagInt(parsed, 'digits') ?? 3;
  if (digits > 5) throw new UsageError('--digits must be from 1 to 5');
  return {
    address: address!,
    compare: flag(parsed, 'compare'),
    method: method!,
    request,
    metadata: parseMetadata(flagList(parsed, 'metadata')),
    timeoutMs: parsePositiveDuration('timeout', flag(parsed, 'timeout')),
    connectTimeoutMs: parsePositiveDuration('connect-timeout', flag(parsed, 'connect-timeout')),
    concurrency: flagInt(parsed, 'concurrency') ?? (rate !== undefined ? 100 : 1),
    connections: flagInt(parsed, 'connections') ?? 1,
    calls,
    durationMs,
    rate,
    warmupCalls,
    warmupMs,
    slices: flagInt(parsed, 'slices'),
    digits,
    progress: flagBool(parsed, 'progress') || process.stderr.isTTY === true,
  };
}

async function bench(argv: string[], io: Output): Promise<number> {
  const parsed = parseArgs(argv, BENCH_SPEC);
  if (flagBool(parsed, 'help')) return help('bench', io);
  const options = benchOptions(parsed);
  const registry = loadProtos(parsed);
  const method = registry.findMethod(options.method);
  const control: Control = { stopped: false };
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    control.stopped = true;
  };
  process.on('SIGINT', onSigint);
  const progress = options.progress ? startProgress(process.stderr) : undefined;
  let result;
  try {
    result = await runBench(registry, options, control, (state) => progress?.update(state));
  } catch (err) {
    if (TtrpcError.is(err)) {
      io.err(`${formatCallError(err)}\n`);
      return EXIT_CALL;
    }
    throw err;
  } finally {
    progress?.stop();
    process.off('SIGINT', onSigint);
  }
  const json = benchJson(
    `${method.service}/${method.method}`,
    options,
    result.targets,
    result.slices,
    control.stopped,
  );
  io.out(
    flagBool(parsed, 'json') ? `${JSON.stringify(json, null, 2)}\n` : benchText(json, options),
  );
  if (control.lost) {
    const why = formatCallError(control.lost.error);
    io.err(`${why} (connection to ${control.lost.address} lost; the run stopped)\n`);
    return EXIT_CALL;
  }
  return EXIT_OK;
}

function help(command: string | undefined, io: Output): number {
  const text = USAGE[command ?? 'main'];
  if (text === undefined) throw new UsageError(`unknown command "${command}"`);
  io.out(`${text}\n`);
  return EXIT_OK;
}

/** Runs the command line `argv` (without node and the script); resolves to the exit status. */
export async function main(argv: string[], io: Output = stdio): Promise<number> {
  const [command, ...rest] = argv;
  let usageTopic: string | undefined;
  try {
    switch (command) {
      case 'call':
        usageTopic = 'call';
        return await call(rest, io);
      case 'bench':
        usageTopic = 'bench';
        return await bench(rest, io);
      case 'describe': {
        usageTopic = 'describe';
        const parsed = parseArgs(rest, PROTO_SPEC);
        if (flagBool(parsed, 'help')) return help('describe', io);
        const [name] = positionals(parsed, 0, 1, '');
        io.out(describe(loadProtos(parsed), name));
        return EXIT_OK;
      }
      case 'list': {
        usageTopic = 'list';
        const parsed = parseArgs(rest, PROTO_SPEC);
        if (flagBool(parsed, 'help')) return help('list', io);
        positionals(parsed, 0, 0, '');
        io.out(list(loadProtos(parsed)));
        return EXIT_OK;
      }
      case 'help':
        return help(rest[0], io);
      case '-h':
      case '--help':
        return help(undefined, io);
      case '-v':
      case '--version':
        io.out(`ttrpc (containerd-shim ${version()})\n`);
        return EXIT_OK;
      case undefined:
        io.err(`${USAGE.main}\n`);
        return EXIT_USAGE;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      const hint = usageTopic ? `ttrpc help ${usageTopic}` : 'ttrpc help';
      io.err(`ttrpc: ${err.message}\nRun '${hint}' for usage.\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

/** The `bin/ttrpc` entry point: runs `process.argv` and exits with its status. */
export function cli(argv: string[] = process.argv.slice(2)): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    throw err;
  });
  main(argv).then(
    (code) => {
      process.exitCode = code;
      // Connections are closed by now; exit even if a stray handle would keep the loop alive.
      process.stdout.write('', () => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`ttrpc: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(EXIT_CALL);
    },
  );
}

if (require.main === module) cli();
