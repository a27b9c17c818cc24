// npm run bench:ttrpc: Node (this package) vs Go (containerd/ttrpc, test/go-peer) TTRPC
// latency, throughput, bulk transfers and CPU cost, each side in its own process over a unix
// socket.
//
// For every pair (Go↔Go, Node↔Node, Go client→Node server, Node client→Go server, and Node↔Node
// with busy polling off) a server process is started and, once it printed `ready`, one bench
// client process per scenario runs against it: serial 64 B Echo calls (p50/p99), 8 and 64 calls
// in flight on one connection, 100 connections with 8 calls in flight each, 1 MiB Echo (request
// and response), a 64 MiB server stream (64 chunks of 1 MiB; the Go side needs the ttrpc 1.2
// peer, test/go-peer12) and 10 s of an idle connection. Both processes' CPU time is read from
// /proc while each scenario measures. The pairs are interleaved and the whole sequence repeated
// (--rounds, default 3); each cell is the median over the rounds, and ratios are to Go↔Go.
// A benchmark, not a test: timing never fails.
//
//   node dist/bench/ttrpc.js [--rounds N] [--quick] [--seconds S] [--pin same|split] [--json]
//                            [--pairs id,...] [--scenarios id,...]
//
// On a small VM the serial numbers depend mostly on whether the scheduler puts client and server
// on one CPU (a wake-up is a context switch) or on two (a wake-up is an IPI to an idle vCPU, tens
// of µs); --pin fixes the placement with taskset (note: Go then sees GOMAXPROCS=1).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '..', '..');
const goPeerPath = path.join(repoRoot, 'build', 'go-peer', 'go-peer');
const goPeer12Path = path.join(repoRoot, 'build', 'go-peer12', 'go-peer12');
const nodePeerPath = path.join(__dirname, 'node-peer.js');

type Impl = 'node' | 'go';

interface Pair {
  id: string;
  label: string;
  client: Impl;
  server: Impl;
  /** busyPollMicros for the Node side(s); undefined: the library default (adaptive). */
  busyPoll?: number;
  /** Whether the idle scenario runs for this pair (it takes 10 s). */
  idle?: boolean;
}

// Table order: the baseline first.
const PAIRS: Pair[] = [
  { id: 'go-go', label: 'Go ↔ Go (baseline)', client: 'go', server: 'go', idle: true },
  { id: 'node-node', label: 'Node ↔ Node', client: 'node', server: 'node', idle: true },
  { id: 'go-node', label: 'Go client → Node server', client: 'go', server: 'node' },
  { id: 'node-go', label: 'Node client → Go server', client: 'node', server: 'go' },
  // Adaptive busy polling off: what the default buys, and what it costs.
  {
    id: 'node-node-off',
    label: 'Node ↔ Node, busyPollMicros 0',
    client: 'node',
    server: 'node',
    busyPoll: 0,
    idle: true,
  },
];

type ScenarioId = 'serial' | 'c8' | 'c64' | 'conns' | 'echo1m' | 'stream' | 'idle';

interface Scenario {
  id: ScenarioId;
  /** Client arguments after the address. */
  args(opts: Options): string[];
  /** Server streaming: the Go side is the ttrpc 1.2 peer. */
  stream?: boolean;
}

const MIB = 1 << 20;

const SCENARIOS: Scenario[] = [
  {
    id: 'serial',
    args: (o) => ['-mode', 'serial', '-size', '64', '-warmup', String(o.serialWarmup)],
  },
  {
    id: 'c8',
    args: (o) => ['-mode', 'parallel', '-c', '8', '-size', '64', '-warmup', String(o.warmup)],
  },
  {
    id: 'c64',
    args: (o) => ['-mode', 'parallel', '-c', '64', '-size', '64', '-warmup', String(o.warmup)],
  },
  {
    id: 'conns',
    args: (o) => [
      '-mode',
      'parallel',
      '-conns',
      '100',
      '-c',
      '8',
      '-size',
      '64',
      '-warmup',
      String(o.warmup),
    ],
  },
  {
    id: 'echo1m',
    args: () => ['-mode', 'serial', '-size', String(MIB), '-warmup', '20'],
  },
  {
    id: 'stream',
    stream: true,
    args: () => ['-mode', 'stream', '-count', '64', '-size', String(MIB), '-warmup', '2'],
  },
  {
    id: 'idle',
    args: (o) => [
      '-mode',
      'idle',
      '-warmup',
      String(o.serialWarmup),
      '-windows',
      String(o.idleWindows),
    ],
  },
];

interface Options {
  rounds: number;
  seconds: number;
  idleSeconds: number;
  /** Idle: windows of idleSeconds; the first right after the calls, the others steady. */
  idleWindows: number;
  serialWarmup: number;
  warmup: number;
  json: boolean;
  quick: boolean;
  /** CPU placement: undefined (the scheduler's choice), both on CPU 0, or client 0 / server 1. */
  pin: 'same' | 'split' | undefined;
  pairs: Pair[];
  scenarios: Scenario[];
}

const USAGE = `usage: node dist/bench/ttrpc.js [--rounds N] [--quick] [--seconds S] [--pin same|split] [--json]
                                 [--pairs id,...] [--scenarios id,...]
  --rounds N      repeat the interleaved pairs N times (default 3; --quick: 1)
  --quick         a short run: 1 round, 0.5 s per measurement, 2 s idle, shorter warm-up
  --seconds S     measuring time per scenario (default 2; --quick: 0.5); idle: 4 × 10 s
                  (--quick: 2 × 2 s)
  --pin P         same: client and server on CPU 0; split: client on CPU 0, server on CPU 1
                  (taskset; default: unpinned)
  --pairs L       only these pairs (${PAIRS.map((p) => p.id).join(', ')}); go-go always runs
  --scenarios L   only these scenarios (${SCENARIOS.map((s) => s.id).join(', ')})
  --json          print the results as JSON instead of Markdown`;

function parseOptions(argv: string[]): Options {
  let rounds: number | undefined;
  let seconds: number | undefined;
  let json = false;
  let quick = false;
  let pin: Options['pin'];
  let pairs = PAIRS;
  let scenarios = SCENARIOS;
  const pick = <T extends { id: string }>(all: T[], text: string, what: string): T[] => {
    const ids = text.split(',').map((s) => s.trim());
    for (const id of ids) {
      if (!all.some((x) => x.id === id)) throw new Error(`unknown ${what} ${JSON.stringify(id)}`);
    }
    return all.filter((x) => ids.includes(x.id));
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [key, inline] = arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${key} needs a value\n${USAGE}`);
      return v;
    };
    switch (key) {
      case '--rounds':
        rounds = Number(value());
        if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be >= 1');
        break;
      case '--seconds':
        seconds = Number(value());
        if (!(seconds > 0)) throw new Error('--seconds must be > 0');
        break;
      case '--pin': {
        const v = value();
        if (v !== 'same' && v !== 'split') throw new Error('--pin must be same or split');
        pin = v;
        break;
      }
      case '--pairs': {
        const chosen = pick(PAIRS, value(), 'pair');
        pairs = PAIRS.filter((p) => p.id === 'go-go' || chosen.includes(p));
        break;
      }
      case '--scenarios':
        scenarios = pick(SCENARIOS, value(), 'scenario');
        break;
      case '--json':
        json = true;
        break;
      case '--quick':
        quick = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
  }
  return {
    rounds: rounds ?? (quick ? 1 : 3),
    seconds: seconds ?? (quick ? 0.5 : 2),
    idleSeconds: quick ? 2 : 10,
    idleWindows: quick ? 2 : 4,
    serialWarmup: quick ? 1000 : 3000,
    warmup: quick ? 10000 : 30000,
    json,
    quick,
    pin,
    pairs,
    scenarios,
  };
}

// --- processes -----------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
let tmpDir: string | undefined;

/** The Go binary for a scenario: the ttrpc 1.2 peer for streams, else the 1.1.1 one. */
function goBinary(stream: boolean): string {
  return stream ? goPeer12Path : goPeerPath;
}

function command(
  impl: Impl,
  args: string[],
  cpu: number | undefined,
  stream = false,
): [string, string[]] {
  const [file, argv] =
    impl === 'go' ? [goBinary(stream), args] : [process.execPath, [nodePeerPath, ...args]];
  // taskset execs the peer, so the pid we track (and kill) is the peer's own.
  return cpu === undefined ? [file, argv] : ['taskset', ['-c', String(cpu), file, ...argv]];
}

function start(impl: Impl, args: string[], cpu?: number, stream = false): ChildProcess {
  const [file, argv] = command(impl, args, cpu, stream);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killChild(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

function cleanup(): void {
  for (const child of children) killChild(child, 'SIGKILL');
  children.clear();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
}

function tail(text: string, max = 2000): string {
  return text.length > max ? '…' + text.slice(-max) : text;
}

function busyPollArgs(impl: Impl, busyPoll: number | undefined): string[] {
  return impl === 'node' && busyPoll !== undefined ? ['-busy-poll', String(busyPoll)] : [];
}

/** Starts a server and resolves once it printed `ready`. */
function startServer(
  impl: Impl,
  address: string,
  cpu: number | undefined,
  busyPoll: number | undefined,
  stream = false,
  timeoutMs = 15000,
): Promise<ChildProcess> {
  const args =
    impl === 'go' && stream
      ? ['server', address]
      : ['server', ...busyPollArgs(impl, busyPoll), address];
  const child = start(impl, args, cpu, stream);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      killChild(child, 'SIGKILL');
      reject(
        new Error(`${impl} server did not print "ready" within ${timeoutMs} ms: ${tail(err)}`),
      );
    }, timeoutMs);
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      reject(new Error(`${impl} server exited (${code ?? signal}) before ready: ${tail(err)}`));
    };
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (err = tail(err + chunk, 8000)));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      if (out.split('\n').some((line) => line.trim() === 'ready')) {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
        resolve(child);
      }
    });
    child.once('exit', onExit);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => killChild(child, 'SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    killChild(child, 'SIGTERM');
  });
}

// --- CPU time ------------------------------------------------------------------------------------

const TICK_MS = 1000 / 100; // USER_HZ

/** utime + stime of a whole process (all threads) from /proc/<pid>/stat, in ms (10 ms ticks). */
function statCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** Time on CPU of each thread of a process (/proc/<pid>/task/<tid>/schedstat), in ns. */
function threadCpuNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(
        tid,
        Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]),
      );
    } catch {
      // the thread just exited
    }
  }
  return out;
}

interface CpuSample {
  /** utime + stime of the whole process from /proc/<pid>/stat, ms (10 ms ticks). */
  stat: number;
  threads: Map<string, number>;
}

function sampleCpu(pid: number | undefined): CpuSample | undefined {
  if (pid === undefined) return undefined;
  try {
    return { stat: statCpuMs(pid), threads: threadCpuNs(pid) };
  } catch {
    return undefined;
  }
}

/**
 * CPU time between two samples with ns precision (for the idle scenario, far below stat's 10 ms
 * ticks), in ms: the threads' schedstat deltas (a thread started meanwhile counts from zero; one
 * that ended meanwhile is missed, so idle processes are measured that start or end none).
 */
function schedDeltaMs(a: CpuSample, b: CpuSample): number {
  let ns = 0;
  for (const [tid, end] of b.threads) ns += end - (a.threads.get(tid) ?? 0);
  return ns / 1e6;
}

interface BenchResult {
  mode: string;
  concurrency: number;
  size: number;
  calls: number;
  errors: number;
  bytes: number;
  seconds: number;
  ops_per_sec: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
}

/** A bench client's result with both processes' CPU time (ms) while it measured. */
interface Measured extends BenchResult {
  client_cpu_ms: number;
  server_cpu_ms: number;
  /** Client + server CPU time (schedstat, ns precision) of each window between marks, ms. */
  window_sched_ms: number[];
}

/** Runs one bench client to completion, sampling CPU time around its measured phase. */
function runClient(
  impl: Impl,
  args: string[],
  cpu: number | undefined,
  server: ChildProcess,
  timeoutMs: number,
  stream: boolean,
): Promise<Measured> {
  const child = start(impl, args, cpu, stream);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    // CPU samples of (client, server) at `measuring`, at each `mark` and at the result line.
    const samples: [CpuSample | undefined, CpuSample | undefined][] = [];
    let seen = 0;
    const timer = setTimeout(() => killChild(child, 'SIGKILL'), timeoutMs);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const lines = out.split('\n');
      for (; seen < lines.length - 1; seen++) {
        const line = lines[seen]!.trim();
        if (line === 'measuring' || line === 'mark' || (line.startsWith('{') && samples.length > 0))
          samples.push([sampleCpu(child.pid), sampleCpu(server.pid)]);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (err = tail(err + chunk, 8000)));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`${impl} bench exited (${code ?? signal}): ${tail(err)}`));
        return;
      }
      try {
        const result = JSON.parse(line) as BenchResult;
        if (err.trim()) process.stderr.write(`  ${impl} bench: ${err.trim()}\n`);
        const stat = (a?: CpuSample, b?: CpuSample): number => (a && b ? b.stat - a.stat : NaN);
        const sched = (a?: CpuSample, b?: CpuSample): number => (a && b ? schedDeltaMs(a, b) : NaN);
        const first = samples[0] ?? [undefined, undefined];
        const last = samples.at(-1) ?? [undefined, undefined];
        const windows: number[] = [];
        for (let i = 1; i < samples.length; i++) {
          const [c0, s0] = samples[i - 1]!;
          const [c1, s1] = samples[i]!;
          windows.push(sched(c0, c1) + sched(s0, s1));
        }
        resolve({
          ...result,
          client_cpu_ms: stat(first[0], last[0]),
          server_cpu_ms: stat(first[1], last[1]),
          window_sched_ms: windows,
        });
      } catch {
        reject(new Error(`${impl} bench printed no JSON result: ${tail(out)} ${tail(err)}`));
      }
    });
  });
}

// --- environment ---------------------------------------------------------------------------------

function tryExec(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

function ensureGoPeer(): void {
  if (fs.existsSync(goPeerPath)) return;
  process.stderr.write('building the Go peer (scripts/build-go-peer.sh)…\n');
  execFileSync('bash', [path.join(repoRoot, 'scripts', 'build-go-peer.sh')], {
    cwd: repoRoot,
    stdio: ['ignore', process.stderr, process.stderr],
  });
}

/**
 * The Go ttrpc 1.2 peer (streams), built by `scripts/build-go-peer.sh 1.2`; undefined with the
 * reason when it is not there or has no bench mode.
 */
function ensureGoPeer12(): string | undefined {
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'build-go-peer.sh'), '1.2'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (r.status !== 0 || !fs.existsSync(goPeer12Path)) {
    return `the Go ttrpc 1.2 peer did not build (${tail(r.stderr.trim(), 300) || 'no output'})`;
  }
  const usage = spawnSync(goPeer12Path, ['help'], { encoding: 'utf8' });
  if (!`${usage.stdout}${usage.stderr}`.includes('bench')) {
    return 'the Go ttrpc 1.2 peer has no bench mode';
  }
  return undefined;
}

interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  go: string;
  goTtrpc: string;
  loadavg: number[];
  loadavgEnd?: number[];
  date: string;
}

function loadavg(): number[] {
  return os.loadavg().map((v) => Math.round(v * 100) / 100);
}

function machine(): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  let cores = os.cpus().length;
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu;
    cores = info.match(/^processor\s*:/gm)?.length ?? cores;
  } catch {
    // not Linux
  }
  // The Go release the peer was built with (recorded in the binary), else the toolchain's.
  let go: string | undefined;
  for (const goBin of ['go', '/usr/lib/go/bin/go']) {
    const v = tryExec(goBin, ['version', goPeerPath]) ?? tryExec(goBin, ['version']);
    const m = v && /\bgo\d+(\.\d+)+\S*/.exec(v);
    if (m) {
      go = m[0];
      break;
    }
  }
  const ttrpc = tryExec('dpkg-query', [
    '-W',
    '-f=${Version}',
    'golang-github-containerd-ttrpc-dev',
  ]);
  return {
    cpu,
    cores,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    go: go ?? 'unknown',
    goTtrpc: ttrpc ? `containerd/ttrpc ${ttrpc.trim()} (Debian)` : 'containerd/ttrpc (Debian)',
    loadavg: loadavg(),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

// --- measurement ---------------------------------------------------------------------------------

type Unit = 'µs' | 'ms' | '/s' | 'MiB/s';

interface MetricInfo {
  title: string;
  unit: Unit;
  higherIsBetter: boolean;
  scenario: ScenarioId;
  value(m: Measured): number;
}

const perCall = (ms: number, m: Measured): number => (m.calls > 0 ? (ms * 1000) / m.calls : NaN);
const mibPerSec = (m: Measured): number => m.bytes / MIB / m.seconds;

const METRIC_INFO = {
  serial_p50_us: {
    title: 'serial p50',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'serial',
    value: (m) => m.p50_us,
  },
  serial_p99_us: {
    title: 'serial p99',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'serial',
    value: (m) => m.p99_us,
  },
  serial_ops_per_sec: {
    title: 'serial calls/s',
    unit: '/s',
    higherIsBetter: true,
    scenario: 'serial',
    value: (m) => m.ops_per_sec,
  },
  c8_ops_per_sec: {
    title: '8 in flight ops/s',
    unit: '/s',
    higherIsBetter: true,
    scenario: 'c8',
    value: (m) => m.ops_per_sec,
  },
  c64_ops_per_sec: {
    title: '64 in flight ops/s',
    unit: '/s',
    higherIsBetter: true,
    scenario: 'c64',
    value: (m) => m.ops_per_sec,
  },
  c64_p99_us: {
    title: '64 in flight p99',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'c64',
    value: (m) => m.p99_us,
  },
  conns_ops_per_sec: {
    title: '100 conns × 8 ops/s',
    unit: '/s',
    higherIsBetter: true,
    scenario: 'conns',
    value: (m) => m.ops_per_sec,
  },
  echo1m_mib_per_sec: {
    title: '1 MiB Echo',
    unit: 'MiB/s',
    higherIsBetter: true,
    scenario: 'echo1m',
    value: mibPerSec,
  },
  echo1m_p50_us: {
    title: '1 MiB Echo p50',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'echo1m',
    value: (m) => m.p50_us,
  },
  stream_mib_per_sec: {
    title: '64 MiB server stream',
    unit: 'MiB/s',
    higherIsBetter: true,
    scenario: 'stream',
    value: mibPerSec,
  },
  server_cpu_serial_us: {
    title: 'server CPU/call, serial',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'serial',
    value: (m) => perCall(m.server_cpu_ms, m),
  },
  client_cpu_serial_us: {
    title: 'client CPU/call, serial',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'serial',
    value: (m) => perCall(m.client_cpu_ms, m),
  },
  server_cpu_c64_us: {
    title: 'server CPU/call, 64 in flight',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'c64',
    value: (m) => perCall(m.server_cpu_ms, m),
  },
  client_cpu_c64_us: {
    title: 'client CPU/call, 64 in flight',
    unit: 'µs',
    higherIsBetter: false,
    scenario: 'c64',
    value: (m) => perCall(m.client_cpu_ms, m),
  },
  idle_total_ms: {
    title: 'idle 40 s after the calls: client + server CPU',
    unit: 'ms',
    higherIsBetter: false,
    scenario: 'idle',
    value: (m) => (m.window_sched_ms.length > 0 ? m.window_sched_ms.reduce((a, b) => a + b) : NaN),
  },
  idle_ms: {
    title: 'idle, quietest 10 s: client + server CPU',
    unit: 'ms',
    higherIsBetter: false,
    scenario: 'idle',
    value: (m) => Math.min(...m.window_sched_ms),
  },
} satisfies Record<string, MetricInfo>;

type Metric = keyof typeof METRIC_INFO;
const METRICS = Object.keys(METRIC_INFO) as Metric[];

/** The README's tables: columns of one table each. */
const TABLES: { title: string; metrics: Metric[] }[] = [
  {
    title: 'Latency and throughput (64 B Echo)',
    metrics: [
      'serial_p50_us',
      'serial_p99_us',
      'serial_ops_per_sec',
      'c8_ops_per_sec',
      'c64_ops_per_sec',
      'c64_p99_us',
      'conns_ops_per_sec',
    ],
  },
  {
    title: 'Bulk',
    metrics: ['echo1m_mib_per_sec', 'echo1m_p50_us', 'stream_mib_per_sec'],
  },
  {
    title: 'CPU time per call (µs, from /proc/<pid>/stat) and idle',
    metrics: [
      'server_cpu_serial_us',
      'client_cpu_serial_us',
      'server_cpu_c64_us',
      'client_cpu_c64_us',
      'idle_total_ms',
      'idle_ms',
    ],
  },
];

interface RunRecord {
  round: number;
  pair: string;
  results: Partial<Record<ScenarioId, Measured>>;
  errors: string[];
}

function metricsOf(run: RunRecord): Partial<Record<Metric, number>> {
  const m: Partial<Record<Metric, number>> = {};
  for (const metric of METRICS) {
    const info: MetricInfo = METRIC_INFO[metric];
    const result = run.results[info.scenario];
    if (!result) continue;
    const v = info.value(result);
    if (Number.isFinite(v)) m[metric] = v;
  }
  return m;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

let goPeer12Missing: string | undefined;

async function runPair(pair: Pair, round: number, opts: Options): Promise<RunRecord> {
  const record: RunRecord = { round, pair: pair.id, results: {}, errors: [] };
  const address = path.join(tmpDir!, `r${round}-${pair.id}.sock`);
  const clientCpu = opts.pin ? 0 : undefined;
  const serverCpu = opts.pin === 'split' ? 1 : clientCpu;
  const goStreams = pair.client === 'go' || pair.server === 'go';
  let server: ChildProcess | undefined;
  let streamServer: ChildProcess | undefined;
  try {
    server = await startServer(pair.server, address, serverCpu, pair.busyPoll);
    for (const scenario of opts.scenarios) {
      if (scenario.id === 'idle' && !pair.idle) continue;
      if (scenario.stream && goStreams && goPeer12Missing) continue;
      const seconds = scenario.id === 'idle' ? opts.idleSeconds : opts.seconds;
      const timeoutMs = seconds * (scenario.id === 'idle' ? opts.idleWindows : 1) * 2000 + 120000;
      let target = server;
      let targetAddress = address;
      if (scenario.stream && pair.server === 'go') {
        targetAddress = path.join(tmpDir!, `r${round}-${pair.id}-stream.sock`);
        streamServer = await startServer('go', targetAddress, serverCpu, undefined, true);
        target = streamServer;
      }
      const args = [
        'bench',
        targetAddress,
        '-d',
        `${Math.round(seconds * 1000)}ms`,
        ...scenario.args(opts),
        ...busyPollArgs(pair.client, pair.busyPoll),
      ];
      try {
        record.results[scenario.id] = await runClient(
          pair.client,
          args,
          clientCpu,
          target,
          timeoutMs,
          scenario.stream === true,
        );
      } catch (err) {
        record.errors.push(`${scenario.id}: ${(err as Error).message}`);
      } finally {
        if (streamServer) await stopServer(streamServer);
        streamServer = undefined;
      }
    }
  } catch (err) {
    record.errors.push((err as Error).message);
  } finally {
    if (server) await stopServer(server);
  }
  return record;
}

// --- report --------------------------------------------------------------------------------------

type Medians = Record<string, Partial<Record<Metric, number>>>;

function computeMedians(runs: RunRecord[], pairs: Pair[]): Medians {
  const out: Medians = {};
  for (const pair of pairs) {
    const cells: Partial<Record<Metric, number>> = {};
    const mine = runs.filter((r) => r.pair === pair.id).map(metricsOf);
    for (const metric of METRICS) {
      const v = median(mine.map((m) => m[metric]).filter((x): x is number => x !== undefined));
      if (v !== undefined) cells[metric] = v;
    }
    out[pair.id] = cells;
  }
  return out;
}

function ratio(medians: Medians, pair: string, metric: Metric): number | undefined {
  const base = medians['go-go']?.[metric];
  const v = medians[pair]?.[metric];
  if (base === undefined || v === undefined || base === 0) return undefined;
  return v / base;
}

/** The pair/Go ratio of `metric` in each round (against that round's Go ↔ Go). */
function roundRatios(runs: RunRecord[], pair: string, metric: Metric): number[] {
  const out: number[] = [];
  for (const run of runs.filter((r) => r.pair === pair)) {
    const base = runs.find((r) => r.pair === 'go-go' && r.round === run.round);
    const b = base && metricsOf(base)[metric];
    const v = metricsOf(run)[metric];
    if (b && v !== undefined) out.push(v / b);
  }
  return out;
}

interface Target {
  description: string;
  pair: string;
  metric: Metric;
  bound: '<=' | '>=';
  target: number;
  /** The bound must hold in every round, not only for the medians. */
  everyRound?: boolean;
  measured?: number;
  rounds?: number[];
  met?: boolean;
}

function targets(runs: RunRecord[], medians: Medians): Target[] {
  const list: Omit<Target, 'measured'>[] = [
    {
      description: 'Node ↔ Node serial p50, in every round',
      pair: 'node-node',
      metric: 'serial_p50_us',
      bound: '<=',
      target: 0.4,
      everyRound: true,
    },
    {
      description: 'Go client → Node server serial p50',
      pair: 'go-node',
      metric: 'serial_p50_us',
      bound: '<=',
      target: 0.8,
    },
    {
      description: 'Node ↔ Node 64 in flight ops/s',
      pair: 'node-node',
      metric: 'c64_ops_per_sec',
      bound: '>=',
      target: 2,
    },
    {
      description: 'Node ↔ Node 100 connections × 8 in flight ops/s',
      pair: 'node-node',
      metric: 'conns_ops_per_sec',
      bound: '>=',
      target: 2,
    },
    {
      description: 'Node ↔ Node 1 MiB Echo MiB/s',
      pair: 'node-node',
      metric: 'echo1m_mib_per_sec',
      bound: '>=',
      target: 3,
    },
    {
      description: 'Go client → Node server: server CPU per call, serial',
      pair: 'go-node',
      metric: 'server_cpu_serial_us',
      bound: '<=',
      target: 0.7,
    },
    {
      description: 'Go client → Node server: server CPU per call, 64 in flight',
      pair: 'go-node',
      metric: 'server_cpu_c64_us',
      bound: '<=',
      target: 0.7,
    },
  ];
  return list.map((t) => {
    const r = ratio(medians, t.pair, t.metric);
    const rounds = t.everyRound ? roundRatios(runs, t.pair, t.metric) : undefined;
    const ok = (x: number): boolean => (t.bound === '<=' ? x <= t.target : x >= t.target);
    const met =
      r === undefined ? undefined : ok(r) && (rounds === undefined || rounds.every((x) => ok(x)));
    return {
      ...t,
      measured: r === undefined ? undefined : Math.round(r * 1000) / 1000,
      rounds: rounds?.map((x) => Math.round(x * 1000) / 1000),
      met,
    };
  });
}

function placement(opts: Options): string {
  if (opts.pin === 'same') return 'client and server pinned to CPU 0';
  if (opts.pin === 'split') return 'client pinned to CPU 0, server to CPU 1';
  return 'unpinned (the scheduler decides)';
}

function fmtNumber(v: number, unit: Unit): string {
  if (unit === '/s') return Math.round(v).toLocaleString('en-US');
  if (v >= 1000) return Math.round(v).toLocaleString('en-US');
  if (unit === 'ms' && v < 10) return v.toFixed(2);
  return v.toFixed(1);
}

function fmtRatio(r: number | undefined): string {
  return r === undefined ? '–' : `${r.toFixed(2)}×`;
}

function header(metrics: Metric[]): string[] {
  return [
    'pair',
    ...metrics.map((k) => {
      const info = METRIC_INFO[k];
      return info.unit === '/s' ? info.title : `${info.title} (${info.unit})`;
    }),
  ];
}

function markdown(m: Machine, opts: Options, runs: RunRecord[], medians: Medians): string {
  const lines: string[] = [];
  lines.push(`## TTRPC: Node (containerd-shim) vs Go (${m.goTtrpc})`, '');
  lines.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.kernel}, node ${m.node}, ${m.go} · ` +
      `load avg at start ${m.loadavg.join(' ')}, at the end ${m.loadavgEnd?.join(' ') ?? '?'} · ${m.date}`,
  );
  lines.push(
    `Method: client and server in separate processes over a unix path socket, default settings ` +
      `(adaptive busy polling on) unless the pair says otherwise. Echo with a 64 B payload: ` +
      `serial (one call at a time, after ${opts.serialWarmup} warm-up calls), 8 and 64 calls in ` +
      `flight on one connection and 100 connections × 8 in flight (after ${opts.warmup} warm-up ` +
      `calls); 1 MiB Echo one call at a time (MiB/s counts request and response); a server ` +
      `stream of 64 × 1 MiB chunks (Go: the ttrpc 1.2.7 peer). ${opts.seconds} s per ` +
      `measurement; idle: a connected client and server after ${opts.serialWarmup} calls, then ` +
      `${opts.idleWindows} windows of ${opts.idleSeconds} s without calls: all of them, and the ` +
      `quietest (CPU from /proc/<pid>/task/*/schedstat; in the seconds after a process went ` +
      `quiet, V8 compacts its heap a few times, 10-30 ms each). CPU placement: ${placement(opts)}. ` +
      `${opts.rounds} round(s), the pairs interleaved; each cell is the median over the rounds. ` +
      `Ratio to Go ↔ Go in parentheses.`,
    '',
  );
  for (const table of TABLES) {
    const metrics = table.metrics.filter((k) =>
      opts.pairs.some((p) => medians[p.id]?.[k] !== undefined),
    );
    if (metrics.length === 0) continue;
    lines.push(`### ${table.title}`, '');
    lines.push(`| ${header(metrics).join(' | ')} |`);
    lines.push(`|${['---', ...metrics.map(() => '---:')].join('|')}|`);
    for (const pair of opts.pairs) {
      const cells = metrics.map((metric) => {
        const v = medians[pair.id]?.[metric];
        if (v === undefined) return '–';
        const text = fmtNumber(v, METRIC_INFO[metric].unit);
        return pair.id === 'go-go'
          ? text
          : `${text} (${fmtRatio(ratio(medians, pair.id, metric))})`;
      });
      lines.push(`| ${pair.label} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  lines.push('Targets (ratio to Go ↔ Go; informational, nothing fails on timing):', '');
  for (const t of targets(runs, medians)) {
    const rounds = t.rounds ? ` (rounds: ${t.rounds.map((r) => fmtRatio(r)).join(' / ')})` : '';
    const verdict = t.met === undefined ? '' : t.met ? ' — met' : ' — not met';
    lines.push(
      `- ${t.description} ${t.bound === '<=' ? '≤' : '≥'} ${t.target}×: measured ` +
        `${fmtRatio(t.measured)}${rounds}${verdict}`,
    );
  }
  if (goPeer12Missing) lines.push('', `Go server-stream cells missing: ${goPeer12Missing}.`);
  if (opts.rounds > 1) {
    lines.push('', 'Per-round values (round 1 / 2 / …):', '');
    const metrics = METRICS.filter((k) => opts.pairs.some((p) => medians[p.id]?.[k] !== undefined));
    lines.push(`| ${header(metrics).join(' | ')} |`);
    lines.push(`|${['---', ...metrics.map(() => '---:')].join('|')}|`);
    for (const pair of opts.pairs) {
      const mine = runs
        .filter((r) => r.pair === pair.id)
        .sort((a, b) => a.round - b.round)
        .map(metricsOf);
      const cells = metrics.map((metric) =>
        mine
          .map((x) =>
            x[metric] === undefined ? '–' : fmtNumber(x[metric]!, METRIC_INFO[metric].unit),
          )
          .join(' / '),
      );
      lines.push(`| ${pair.label} | ${cells.join(' | ')} |`);
    }
  }
  const problems: string[] = [];
  for (const r of runs) {
    for (const e of r.errors) problems.push(`- round ${r.round} ${r.pair}: ${e}`);
    for (const [id, res] of Object.entries(r.results)) {
      if (res && res.errors > 0)
        problems.push(`- round ${r.round} ${r.pair} ${id}: ${res.errors} calls failed`);
    }
  }
  if (problems.length > 0) lines.push('', 'Problems:', '', ...problems);
  return lines.join('\n') + '\n';
}

function progress(record: RunRecord): string {
  const m = metricsOf(record);
  const parts: string[] = [];
  for (const metric of METRICS) {
    const v = m[metric];
    if (v !== undefined) parts.push(`${metric} ${fmtNumber(v, METRIC_INFO[metric].unit)}`);
  }
  const idle = record.results.idle;
  if (idle)
    parts.push(`idle windows ${idle.window_sched_ms.map((v) => v.toFixed(2)).join(' / ')} ms`);
  for (const e of record.errors) parts.push(`error ${e}`);
  return parts.join('; ');
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  ensureGoPeer();
  if (!fs.existsSync(nodePeerPath)) throw new Error(`${nodePeerPath} missing: run npm run build`);
  if (opts.scenarios.some((s) => s.stream)) {
    goPeer12Missing = ensureGoPeer12();
    if (goPeer12Missing) process.stderr.write(`no Go server-stream cells: ${goPeer12Missing}\n`);
  }
  if (opts.pin) {
    if (opts.pin === 'split' && os.cpus().length < 2) throw new Error('--pin split needs 2 CPUs');
    if (tryExec('taskset', ['-c', '0', 'true']) === undefined)
      throw new Error('--pin needs taskset (util-linux)');
  }
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-bench-'));
  const info = machine();

  const runs: RunRecord[] = [];
  const pairs = opts.pairs;
  for (let round = 1; round <= opts.rounds; round++) {
    // Rotate the order each round so no pair always runs first (or right after another).
    const order = pairs.map((_, i) => pairs[(i + round - 1) % pairs.length]!);
    for (const pair of order) {
      process.stderr.write(`round ${round}/${opts.rounds} ${pair.label}: `);
      const record = await runPair(pair, round, opts);
      runs.push(record);
      process.stderr.write(`${progress(record)} (load ${loadavg()[0]})\n`);
    }
  }
  info.loadavgEnd = loadavg();

  const medians = computeMedians(runs, pairs);
  if (opts.json) {
    const ratios: Record<string, Partial<Record<Metric, number>>> = {};
    for (const pair of pairs) {
      ratios[pair.id] = {};
      for (const metric of METRICS) {
        const r = ratio(medians, pair.id, metric);
        if (r !== undefined) ratios[pair.id]![metric] = Math.round(r * 1000) / 1000;
      }
    }
    const report = {
      machine: info,
      options: {
        ...opts,
        pairs: pairs.map((p) => p.id),
        scenarios: opts.scenarios.map((s) => s.id),
      },
      pairs,
      medians,
      ratios,
      targets: targets(runs, medians),
      runs,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    process.stdout.write(markdown(info, opts, runs, medians));
  }
}

process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping\n`);
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/ttrpc: ${err instanceof Error ? err.message : String(err)}\n`);
  cleanup();
  process.exitCode = 1;
});
