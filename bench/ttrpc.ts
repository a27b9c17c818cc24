// npm run bench:ttrpc: Node (this package) vs Go (containerd/ttrpc, test/go-peer) TTRPC
// latency and throughput, each side in its own process over a unix socket.
//
// For every pair (Node→Node, Go→Go, Go client→Node server, Node client→Go server) a server process
// is started and, once it printed `ready`, two bench client processes run against it: serial
// 64 B Echo calls (p50/p99 latency) and 64 calls in flight on one connection (ops/s, p50/p99).
// The pairs are interleaved and the whole sequence repeated (--rounds, default 3); each cell is the
// median over the rounds, and ratios are to Go↔Go. A benchmark, not a test: timing never fails.
//
//   node dist/bench/ttrpc.js [--rounds N] [--quick] [--seconds S] [--pin same|split] [--json]
//
// On a small VM the serial numbers depend mostly on whether the scheduler puts client and server
// on one CPU (a wake-up is a context switch) or on two (a wake-up is an IPI to an idle vCPU, tens
// of µs); --pin fixes the placement with taskset (note: Go then sees GOMAXPROCS=1).
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '..', '..');
const goPeerPath = path.join(repoRoot, 'build', 'go-peer', 'go-peer');
const nodePeerPath = path.join(__dirname, 'node-peer.js');

type Impl = 'node' | 'go';

interface Pair {
  id: string;
  label: string;
  client: Impl;
  server: Impl;
  /** busyPollMicros for the Node side(s) (opt-in latency mode). */
  busyPoll?: number;
}

// Table order: the baseline first.
const PAIRS: Pair[] = [
  { id: 'go-go', label: 'Go ↔ Go (baseline)', client: 'go', server: 'go' },
  { id: 'node-node', label: 'Node ↔ Node', client: 'node', server: 'node' },
  { id: 'go-node', label: 'Go client → Node server', client: 'go', server: 'node' },
  { id: 'node-go', label: 'Node client → Go server', client: 'node', server: 'go' },
  // The opt-in latency mode (busyPollMicros): CPU spent spinning instead of sleeping.
  {
    id: 'node-node-spin',
    label: 'Node ↔ Node, busyPollMicros 50',
    client: 'node',
    server: 'node',
    busyPoll: 50,
  },
  {
    id: 'go-node-spin',
    label: 'Go client → Node server, busyPollMicros 50',
    client: 'go',
    server: 'node',
    busyPoll: 50,
  },
];

interface Options {
  rounds: number;
  seconds: number;
  serialWarmup: number;
  parallelWarmup: number;
  concurrency: number;
  size: number;
  json: boolean;
  quick: boolean;
  /** CPU placement: undefined (the scheduler's choice), both on CPU 0, or client 0 / server 1. */
  pin: 'same' | 'split' | undefined;
}

const USAGE = `usage: node dist/bench/ttrpc.js [--rounds N] [--quick] [--seconds S] [--pin same|split] [--json]
  --rounds N    repeat the interleaved pairs N times (default 3; --quick: 1)
  --quick       a short run: 1 round, 0.5 s per measurement, shorter warm-up
  --seconds S   measuring time per run (default 2; --quick: 0.5)
  --pin P       same: client and server on CPU 0; split: client on CPU 0, server on CPU 1
                (taskset; default: unpinned)
  --json        print the results as JSON instead of Markdown`;

function parseOptions(argv: string[]): Options {
  let rounds: number | undefined;
  let seconds: number | undefined;
  let json = false;
  let quick = false;
  let pin: Options['pin'];
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
    serialWarmup: quick ? 1000 : 3000,
    parallelWarmup: quick ? 10000 : 30000,
    concurrency: 64,
    size: 64,
    json,
    quick,
    pin,
  };
}

// --- processes -----------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
let tmpDir: string | undefined;

function command(impl: Impl, args: string[], cpu: number | undefined): [string, string[]] {
  const [file, argv] =
    impl === 'go' ? [goPeerPath, args] : [process.execPath, [nodePeerPath, ...args]];
  // taskset execs the peer, so the pid we track (and kill) is the peer's own.
  return cpu === undefined ? [file, argv] : ['taskset', ['-c', String(cpu), file, ...argv]];
}

function start(impl: Impl, args: string[], cpu?: number): ChildProcess {
  const [file, argv] = command(impl, args, cpu);
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

/** Starts a server and resolves once it printed `ready`. */
function startServer(
  impl: Impl,
  address: string,
  cpu: number | undefined,
  busyPoll = 0,
  timeoutMs = 15000,
): Promise<ChildProcess> {
  const spin = impl === 'node' && busyPoll > 0 ? ['-busy-poll', String(busyPoll)] : [];
  const child = start(impl, ['server', ...spin, address], cpu);
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

interface BenchResult {
  mode: string;
  concurrency: number;
  size: number;
  calls: number;
  errors: number;
  seconds: number;
  ops_per_sec: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
}

/** Runs one bench client to completion and parses its JSON line. */
function runClient(
  impl: Impl,
  args: string[],
  cpu: number | undefined,
  timeoutMs: number,
): Promise<BenchResult> {
  const child = start(impl, args, cpu);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => killChild(child, 'SIGKILL'), timeoutMs);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => (out += chunk));
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
        resolve(result);
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

interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  go: string;
  goTtrpc: string;
  loadavg: number[];
  date: string;
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
    loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

// --- measurement ---------------------------------------------------------------------------------

const METRICS = [
  'serial_p50_us',
  'serial_p99_us',
  'serial_ops_per_sec',
  'parallel_ops_per_sec',
  'parallel_p50_us',
  'parallel_p99_us',
] as const;
type Metric = (typeof METRICS)[number];

const METRIC_INFO: Record<Metric, { title: string; unit: string; higherIsBetter: boolean }> = {
  serial_p50_us: { title: 'serial p50', unit: 'µs', higherIsBetter: false },
  serial_p99_us: { title: 'serial p99', unit: 'µs', higherIsBetter: false },
  serial_ops_per_sec: { title: 'serial calls/s', unit: '/s', higherIsBetter: true },
  parallel_ops_per_sec: { title: '64 in flight ops/s', unit: '/s', higherIsBetter: true },
  parallel_p50_us: { title: '64 in flight p50', unit: 'µs', higherIsBetter: false },
  parallel_p99_us: { title: '64 in flight p99', unit: 'µs', higherIsBetter: false },
};

interface RunRecord {
  round: number;
  pair: string;
  serial?: BenchResult;
  parallel?: BenchResult;
  error?: string;
}

function metricsOf(run: RunRecord): Partial<Record<Metric, number>> {
  const m: Partial<Record<Metric, number>> = {};
  if (run.serial) {
    m.serial_p50_us = run.serial.p50_us;
    m.serial_p99_us = run.serial.p99_us;
    m.serial_ops_per_sec = run.serial.ops_per_sec;
  }
  if (run.parallel) {
    m.parallel_ops_per_sec = run.parallel.ops_per_sec;
    m.parallel_p50_us = run.parallel.p50_us;
    m.parallel_p99_us = run.parallel.p99_us;
  }
  return m;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function runPair(pair: Pair, round: number, opts: Options): Promise<RunRecord> {
  const record: RunRecord = { round, pair: pair.id };
  const address = path.join(tmpDir!, `r${round}-${pair.id}.sock`);
  const duration = `${Math.round(opts.seconds * 1000)}ms`;
  const timeoutMs = opts.seconds * 2000 + 60000;
  const clientCpu = opts.pin ? 0 : undefined;
  const serverCpu = opts.pin === 'split' ? 1 : clientCpu;
  const spin = pair.client === 'node' && pair.busyPoll ? ['-busy-poll', String(pair.busyPoll)] : [];
  const common = ['-d', duration, '-size', String(opts.size), ...spin];
  let server: ChildProcess | undefined;
  try {
    server = await startServer(pair.server, address, serverCpu, pair.busyPoll);
    record.serial = await runClient(
      pair.client,
      ['bench', address, '-mode', 'serial', ...common, '-warmup', String(opts.serialWarmup)],
      clientCpu,
      timeoutMs,
    );
    record.parallel = await runClient(
      pair.client,
      ['bench', address, '-mode', 'parallel', '-c', String(opts.concurrency), ...common].concat([
        '-warmup',
        String(opts.parallelWarmup),
      ]),
      clientCpu,
      timeoutMs,
    );
  } catch (err) {
    record.error = (err as Error).message;
  } finally {
    if (server) await stopServer(server);
  }
  return record;
}

// --- report --------------------------------------------------------------------------------------

type Medians = Record<string, Partial<Record<Metric, number>>>;

function computeMedians(runs: RunRecord[]): Medians {
  const out: Medians = {};
  for (const pair of PAIRS) {
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

interface Target {
  description: string;
  pair: string;
  metric: Metric;
  bound: '<=' | '>=';
  target: number;
  measured?: number;
}

function targets(medians: Medians): Target[] {
  const list: Omit<Target, 'measured'>[] = [
    {
      description: 'Node ↔ Node serial p50',
      pair: 'node-node',
      metric: 'serial_p50_us',
      bound: '<=',
      target: 0.4,
    },
    {
      description: 'Go client → Node server serial p50',
      pair: 'go-node',
      metric: 'serial_p50_us',
      bound: '<=',
      target: 0.8,
    },
    {
      description: 'Node ↔ Node 64-in-flight ops/s',
      pair: 'node-node',
      metric: 'parallel_ops_per_sec',
      bound: '>=',
      target: 2,
    },
    {
      description: 'Node ↔ Node serial p50 with busyPollMicros 50 (opt-in)',
      pair: 'node-node-spin',
      metric: 'serial_p50_us',
      bound: '<=',
      target: 0.4,
    },
    {
      description: 'Go client → Node server serial p50 with busyPollMicros 50 (opt-in)',
      pair: 'go-node-spin',
      metric: 'serial_p50_us',
      bound: '<=',
      target: 0.8,
    },
  ];
  return list.map((t) => {
    const r = ratio(medians, t.pair, t.metric);
    return { ...t, measured: r === undefined ? undefined : Math.round(r * 1000) / 1000 };
  });
}

function placement(opts: Options): string {
  if (opts.pin === 'same') return 'client and server pinned to CPU 0';
  if (opts.pin === 'split') return 'client pinned to CPU 0, server to CPU 1';
  return 'unpinned (the scheduler decides)';
}

function fmtNumber(v: number, unit: string): string {
  if (unit === '/s') return Math.round(v).toLocaleString('en-US');
  if (v >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(1);
}

function fmtRatio(r: number | undefined): string {
  return r === undefined ? '–' : `${r.toFixed(2)}×`;
}

function markdown(m: Machine, opts: Options, runs: RunRecord[], medians: Medians): string {
  const lines: string[] = [];
  const load = m.loadavg.join(' ');
  lines.push(`## TTRPC: Node (containerd-shim) vs Go (${m.goTtrpc})`, '');
  lines.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.kernel}, node ${m.node}, ${m.go} · ` +
      `load avg at start ${load} · ${m.date}`,
  );
  lines.push(
    `Method: Echo with a ${opts.size} B payload, client and server in separate processes over a ` +
      `unix path socket, one connection. Serial: one call at a time, ${opts.seconds} s after ` +
      `${opts.serialWarmup} warm-up calls. ${opts.concurrency} in flight: ${opts.concurrency} ` +
      `concurrent callers on one client, ${opts.seconds} s after ${opts.parallelWarmup} warm-up ` +
      `calls. CPU placement: ${placement(opts)}. ${opts.rounds} round(s), the pairs ` +
      `interleaved; each cell is the median over ` +
      `the rounds. Ratio to Go ↔ Go in parentheses: latency pair/Go (lower is better), ` +
      `throughput pair/Go (higher is better).`,
    '',
  );
  const header = [
    'pair',
    ...METRICS.map((k) =>
      METRIC_INFO[k].unit === 'µs' ? `${METRIC_INFO[k].title} (µs)` : METRIC_INFO[k].title,
    ),
  ];
  lines.push(`| ${header.join(' | ')} |`);
  lines.push(`|${['---', ...METRICS.map(() => '---:')].join('|')}|`);
  for (const pair of PAIRS) {
    const cells = METRICS.map((metric) => {
      const v = medians[pair.id]?.[metric];
      if (v === undefined) return '–';
      const text = fmtNumber(v, METRIC_INFO[metric].unit);
      return pair.id === 'go-go' ? text : `${text} (${fmtRatio(ratio(medians, pair.id, metric))})`;
    });
    lines.push(`| ${pair.label} | ${cells.join(' | ')} |`);
  }
  lines.push('', 'Targets (ratio to Go ↔ Go; informational, nothing fails on timing):', '');
  for (const t of targets(medians)) {
    lines.push(
      `- ${t.description} ${t.bound === '<=' ? '≤' : '≥'} ${t.target}×: measured ${fmtRatio(t.measured)}`,
    );
  }
  if (opts.rounds > 1) {
    lines.push('', 'Per-round values (round 1 / 2 / …):', '');
    lines.push(`| ${header.join(' | ')} |`);
    lines.push(`|${['---', ...METRICS.map(() => '---:')].join('|')}|`);
    for (const pair of PAIRS) {
      const mine = runs
        .filter((r) => r.pair === pair.id)
        .sort((a, b) => a.round - b.round)
        .map(metricsOf);
      const cells = METRICS.map((metric) =>
        mine
          .map((x) =>
            x[metric] === undefined ? '–' : fmtNumber(x[metric]!, METRIC_INFO[metric].unit),
          )
          .join(' / '),
      );
      lines.push(`| ${pair.label} | ${cells.join(' | ')} |`);
    }
  }
  const failed = runs.filter((r) => r.error);
  const withErrors = runs.filter((r) => (r.serial?.errors ?? 0) + (r.parallel?.errors ?? 0) > 0);
  if (failed.length > 0 || withErrors.length > 0) {
    lines.push('', 'Problems:', '');
    for (const r of failed) lines.push(`- round ${r.round} ${r.pair}: ${r.error}`);
    for (const r of withErrors) {
      lines.push(
        `- round ${r.round} ${r.pair}: ${r.serial?.errors ?? 0} serial / ` +
          `${r.parallel?.errors ?? 0} parallel calls failed`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  ensureGoPeer();
  if (!fs.existsSync(nodePeerPath)) throw new Error(`${nodePeerPath} missing: run npm run build`);
  if (opts.pin) {
    if (opts.pin === 'split' && os.cpus().length < 2) throw new Error('--pin split needs 2 CPUs');
    if (tryExec('taskset', ['-c', '0', 'true']) === undefined)
      throw new Error('--pin needs taskset (util-linux)');
  }
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttrpc-bench-'));
  const info = machine();

  const runs: RunRecord[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    // Rotate the order each round so no pair always runs first (or right after another).
    const order = PAIRS.map((_, i) => PAIRS[(i + round - 1) % PAIRS.length]!);
    for (const pair of order) {
      process.stderr.write(`round ${round}/${opts.rounds} ${pair.label}: `);
      const record = await runPair(pair, round, opts);
      runs.push(record);
      if (record.error) {
        process.stderr.write(`failed: ${record.error}\n`);
      } else {
        const s = record.serial!;
        const p = record.parallel!;
        process.stderr.write(
          `serial p50 ${s.p50_us} µs p99 ${s.p99_us} µs; ` +
            `${opts.concurrency} in flight ${Math.round(p.ops_per_sec)} ops/s ` +
            `p50 ${p.p50_us} µs p99 ${p.p99_us} µs\n`,
        );
      }
    }
  }

  const medians = computeMedians(runs);
  if (opts.json) {
    const ratios: Record<string, Partial<Record<Metric, number>>> = {};
    for (const pair of PAIRS) {
      ratios[pair.id] = {};
      for (const metric of METRICS) {
        const r = ratio(medians, pair.id, metric);
        if (r !== undefined) ratios[pair.id]![metric] = Math.round(r * 1000) / 1000;
      }
    }
    const report = {
      machine: info,
      options: opts,
      pairs: PAIRS,
      medians,
      ratios,
      targets: targets(medians),
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
