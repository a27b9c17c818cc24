// npm run bench:shim: the TypeScript runc shim (examples/runc-shim, runtime
// io.containerd.runcts.v2) against Debian's containerd-shim-runc-v2, under one private
// containerd 1.6 (test/helpers/testbed). A benchmark, not a test: no figure ever fails the run.
//
//   1. start latency: `ctr run --rm <busybox> <id> /bin/true`, runtimes alternating after a
//      warm-up; median/p90 per runtime and the ratio of medians. Ours runs twice: as built
//      (warm start: standbys take start, the daemon role and delete, or the daemon's receipt
//      answers the delete; how many did is counted
//      from the launcher's trace) and as a copy packaged with --no-warm (runcts-cold, every
//      action a fresh node). Plus each binary's `-v` time (its start-up floor) and, when perf is
//      usable, a per-phase breakdown of a few traced runs (bench/shim-trace.ts: shim start,
//      daemon boot, runc commands, shim delete, ...).
//   1c. burst: N containers started at once (`ctr run -d`), then all removed; wall time. Ours
//      also with RUNCTS_SHIM_GROUP=namespace (runcts-ns: one daemon serves the whole burst).
//      Each round starts from a settled machine (no boot of our pools under way, no shim left,
//      then idle time); --burst-back-to-back runs them one right after another.
//   2. memory: 5 shims per runtime, one `sleep` container each, started 12 s apart after the
//      standby pools settled (every adopted daemon from a standby idle past V8's memory reducer,
//      whatever ran before); per shim process private (Private_Clean + Private_Dirty), PSS and
//      RSS from /proc/<pid>/smaps_rollup, and where the private memory sits
//      (bench/shim-smaps.ts). Medians and ratios, and each of our daemons: adopted or cold, its
//      standby's age, its boot cache (from the launcher's trace).
//   3. grouping: one shim per runtime serving 10 containers (annotation
//      io.containerd.runc.v2.group; for ours also RUNCTS_SHIM_GROUP=namespace, the per-runtime
//      option); the shim's PSS / 10 per container.
//   4. rpc: a running shim's Task State latency through the same client, its CPU time per call
//      at a few calls per second, and its CPU time while idle (bench/shim-rpc.ts).
//
//   node dist/bench/shim.js [--runs N] [--quick] [--json] [--only latency,trace,burst,memory,group,rpc]
//                           [--variant label=/path/to/shim]...
//
// The VM is small and shared: runs of different runtimes are interleaved, figures are medians,
// compare the ratios. Needs root, containerd, ctr, runc and containerd-shim-runc-v2 (perf for
// the breakdown). Everything it creates is removed at the end, also on Ctrl-C: tasks and
// containers through ctr, then the testbed's destroy() (which kills leftover shims by pid).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { packageShim } from '../lib/shim/package';
import { findCommand } from '../test/helpers/env';
import { SHIM_SOCKET_DIR, Testbed } from '../test/helpers/testbed';
import { traceLines } from '../test/helpers/warm';
import {
  CATEGORIES,
  CATEGORY_NOTES,
  countProcessesOf,
  findStandbys,
  readBreakdown,
  readRollup,
  readStat,
} from './shim-smaps';
import type { Breakdown, Category, ProcStat, Rollup } from './shim-smaps';
import { measureRpc } from './shim-rpc';
import { settle } from './settle';
import type { RpcStats } from './shim-rpc';
import { TRACE_PHASES, traceAvailable, traceCtrRun } from './shim-trace';
import type { TracePhase, TraceResult } from './shim-trace';

const repoRoot = path.resolve(__dirname, '..', '..');
const OURS = path.join(repoRoot, 'examples', 'runc-shim', 'containerd-shim-runcts-v2');
const GROUP_ANNOTATION = 'io.containerd.runc.v2.group';
const SECTIONS = ['latency', 'trace', 'burst', 'memory', 'group', 'rpc'] as const;
/** Our shim packaged with --no-warm: the cold path, measured side by side. */
const COLD = 'runcts-cold';
/** Ours with RUNCTS_SHIM_GROUP=namespace: one daemon serving every container of the namespace. */
const NS_GROUPED = 'runcts-ns';
type Section = (typeof SECTIONS)[number];

interface Runtime {
  label: string;
  /** What `ctr run --runtime` gets. */
  runtime: string;
  /** The binary containerd executes. */
  binary: string;
  /** Set when the runtime failed: it is left out of the remaining measurements. */
  failed?: string;
  /** The shim groups containers itself (RUNCTS_SHIM_GROUP): its socket key; no annotation. */
  groupKey?: string;
}

function fail(rt: Runtime, why: string): void {
  if (rt.label === 'runc-v2') throw new Error(`runc-v2 (the baseline) failed: ${why}`);
  rt.failed ??= why.trim().split('\n').pop() ?? why;
  log(`  ${rt.label}: FAILED, left out from now on: ${rt.failed}`);
}

const active = (runtimes: Runtime[]): Runtime[] => runtimes.filter((rt) => !rt.failed);

interface Options {
  runs: number;
  warmup: number;
  floorRuns: number;
  traceRuns: number;
  memShims: number;
  groupSize: number;
  groupRuns: number;
  burst: number;
  burstRounds: number;
  /**
   * Bursts one right after another (the previous round's boots and teardown still running),
   * instead of each from a settled machine (no boot of a pool under way, then burstIdleMs).
   */
  burstBackToBack: boolean;
  /**
   * The burst section before the latency section (serial ctr run --rm right after the bursts,
   * from pools a burst grew).
   */
  burstFirst: boolean;
  /** The idle time after the settle, before each burst (the kernel's teardown). */
  burstIdleMs: number;
  /** ctr run --rm of one runtime in a row before the next runtime's (1: alternate each run). */
  serialBlock: number;
  gapMs: number;
  settleMs: number;
  /** Memory: seconds between the rounds of starts (0: back to back), and idle before "steady". */
  memGapMs: number;
  memSettleMs: number;
  /** Memory: log every daemon's private memory every 250 ms (when V8's collections came). */
  memTimeline: boolean;
  rpcCalls: number;
  rpcSeconds: number;
  sections: Set<Section>;
  variants: Runtime[];
  keepEnv: boolean;
  /** Leave out runcts-cold (our shim packaged with --no-warm). */
  noCold: boolean;
  /** Our shim's binary (default: examples/runc-shim/containerd-shim-runcts-v2). */
  ours: string;
  json: boolean;
}

/** The longest wait for a settled machine before a burst; the idle time after it. */
const SETTLE_CAP_MS = 10_000;
const DEFAULT_BURST_IDLE_MS = 300;

const USAGE = `usage: node dist/bench/shim.js [options]
  --runs N          timed ctr run --rm per runtime (default 20; --quick 6)
  --warmup N        untimed runs per runtime first (default 2; --quick 1)
  --floor N         '<shim> -v' runs per runtime (default 10; --quick 5)
  --trace N         perf-traced runs per runtime for the breakdown (default 3; --quick 1; 0: none)
  --mem N           shims per runtime for the memory figures (default 5; --quick 3)
  --group N         containers in the grouped shim (default 10; --quick 4)
  --group-runs N    ctr run --rm into the running group shim, per runtime (default 10; --quick 4)
  --burst N         containers started at once in the burst section (default 10)
  --burst-rounds N  bursts per runtime, alternating (default 5; --quick 1)
  --burst-back-to-back
                    each burst right after the previous one (its boots and teardown still
                    running); by default each starts from a settled machine: no boot of any of
                    our pools under way, no shim or bundle left (at most ${SETTLE_CAP_MS / 1000} s), then idle time
  --burst-first     the burst section before the latency section: containers started one after
                    another right after the bursts, from pools the bursts grew
  --burst-idle MS   that idle time before each settled burst (default ${DEFAULT_BURST_IDLE_MS})
  --serial-block N  timed ctr run --rm of one runtime in a row before the next one's (default 1:
                    alternate each run; more shows what a runtime's leftovers cost itself)
  --gap MS          idle time before each timed ctr run --rm (default 0: back to back; more shows
                    containers started one at a time on a machine with time between them)
  --settle S        seconds shims idle before the grouped shims' reading and the RPC idle figures
                    (default 15)
  --mem-gap S       memory: seconds between the rounds of starts, after the pools settled as long
                    (default 12: every daemon from a standby idle past V8's memory reducer, as when
                    containers start now and then; 0: back to back, from standbys just booted)
  --mem-settle S    memory: seconds the shims idle before the steady reading (default 30)
  --mem-timeline    memory: log each daemon's private memory every 250 ms until the steady reading
  --rpc N           serial State calls per runtime (default 1000; --quick 200)
  --rpc-seconds S   then S s of 10 calls/s and S s idle, for the shim's CPU time (default 30; --quick 10)
  --only LIST       sections to run, comma-separated: ${SECTIONS.join(',')} (default all)
  --variant L=PATH  also measure another shim binary (e.g. a modified copy) under label L (a
                    built checkout's directory: its examples/runc-shim binary)
  --ours PATH       the binary measured as runcts (default examples/runc-shim/containerd-shim-runcts-v2)
  --no-cold         leave out runcts-cold (our shim packaged with --no-warm)
  --keep-env        keep NODE_EXTRA_CA_CERTS in the environment containerd and the shims inherit
                    (by default it is removed: node parses that CA bundle at every start)
  --quick           fewer runs everywhere
  --json            print the results as JSON instead of Markdown`;

function parseOptions(argv: string[]): Options {
  const o: Partial<Options> = {};
  let quick = false;
  let json = false;
  let keepEnv = false;
  let noCold = false;
  let burstBackToBack = false;
  let burstFirst = false;
  let ours = OURS;
  let sections = new Set<Section>(SECTIONS);
  const variants: Runtime[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [key, inline] = arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${key} needs a value\n${USAGE}`);
      return v;
    };
    const int = (min: number): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${key} must be an integer >= ${min}`);
      return n;
    };
    switch (key) {
      case '--runs':
        o.runs = int(1);
        break;
      case '--warmup':
        o.warmup = int(0);
        break;
      case '--floor':
        o.floorRuns = int(0);
        break;
      case '--trace':
        o.traceRuns = int(0);
        break;
      case '--mem':
        o.memShims = int(1);
        break;
      case '--group':
        o.groupSize = int(1);
        break;
      case '--group-runs':
        o.groupRuns = int(0);
        break;
      case '--burst':
        o.burst = int(1);
        break;
      case '--burst-rounds':
        o.burstRounds = int(1);
        break;
      case '--burst-back-to-back':
        burstBackToBack = true;
        break;
      case '--burst-first':
        burstFirst = true;
        break;
      case '--burst-idle':
        o.burstIdleMs = int(0);
        break;
      case '--serial-block':
        o.serialBlock = int(1);
        break;
      case '--gap':
        o.gapMs = int(0);
        break;
      case '--settle':
        o.settleMs = Number(value()) * 1000;
        if (!(o.settleMs >= 0)) throw new Error('--settle must be >= 0');
        break;
      case '--mem-gap':
        o.memGapMs = Number(value()) * 1000;
        if (!(o.memGapMs >= 0)) throw new Error('--mem-gap must be >= 0');
        break;
      case '--mem-settle':
        o.memSettleMs = Number(value()) * 1000;
        if (!(o.memSettleMs >= 0)) throw new Error('--mem-settle must be >= 0');
        break;
      case '--mem-timeline':
        o.memTimeline = true;
        break;
      case '--rpc':
        o.rpcCalls = int(1);
        break;
      case '--rpc-seconds':
        o.rpcSeconds = int(1);
        break;
      case '--only': {
        const list = value().split(',');
        for (const s of list) {
          if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section ${s}`);
        }
        sections = new Set(list as Section[]);
        break;
      }
      case '--variant': {
        const v = value();
        const eq = v.indexOf('=');
        if (eq <= 0) throw new Error('--variant wants LABEL=/absolute/path');
        const label = v.slice(0, eq);
        let file = path.resolve(v.slice(eq + 1));
        // A built checkout stands for its runc shim.
        if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
          file = path.join(file, 'examples', 'runc-shim', 'containerd-shim-runcts-v2');
        }
        if (!/^[A-Za-z0-9._-]+$/.test(label)) throw new Error(`bad variant label ${label}`);
        if (findCommand(file) === undefined) throw new Error(`${file} is not executable`);
        variants.push({ label, runtime: file, binary: file });
        break;
      }
      case '--quick':
        quick = true;
        break;
      case '--keep-env':
        keepEnv = true;
        break;
      case '--no-cold':
        noCold = true;
        break;
      case '--ours':
        ours = path.resolve(value());
        if (findCommand(ours) === undefined) throw new Error(`${ours} is not executable`);
        break;
      case '--json':
        json = true;
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
    runs: o.runs ?? (quick ? 6 : 20),
    warmup: o.warmup ?? (quick ? 1 : 2),
    floorRuns: o.floorRuns ?? (quick ? 5 : 10),
    traceRuns: o.traceRuns ?? (quick ? 1 : 3),
    memShims: o.memShims ?? (quick ? 3 : 5),
    groupSize: o.groupSize ?? (quick ? 4 : 10),
    groupRuns: o.groupRuns ?? (quick ? 4 : 10),
    burst: o.burst ?? 10,
    burstRounds: o.burstRounds ?? (quick ? 1 : 5),
    burstBackToBack,
    burstFirst,
    burstIdleMs: o.burstIdleMs ?? DEFAULT_BURST_IDLE_MS,
    serialBlock: o.serialBlock ?? 1,
    gapMs: o.gapMs ?? 0,
    settleMs: o.settleMs ?? 15_000,
    memGapMs: o.memGapMs ?? 12_000,
    memSettleMs: o.memSettleMs ?? 30_000,
    memTimeline: o.memTimeline ?? false,
    rpcCalls: o.rpcCalls ?? (quick ? 200 : 1000),
    rpcSeconds: o.rpcSeconds ?? (quick ? 10 : 30),
    sections,
    variants,
    keepEnv,
    noCold,
    ours,
    json,
  };
}

// --- helpers -------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  // nearest rank
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Timed {
  code: number | null;
  ms: number;
  stderr: string;
}

/** Runs a command with stdin on /dev/null; ms = spawn to exit (hrtime). */
function timed(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const begin = process.hrtime.bigint();
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let ms = 0;
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('exit', () => (ms = Number(process.hrtime.bigint() - begin) / 1e6));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ms, stderr: Buffer.concat(err).toString('utf8').trim() });
    });
  });
}

function firstLine(file: string, args: string[]): string {
  try {
    const out = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim().split('\n')[0] ?? '';
  } catch {
    return 'unknown';
  }
}

interface Machine {
  cpu: string;
  cores: number;
  memTotalMiB: number;
  kernel: string;
  node: string;
  containerd: string;
  runc: string;
  runcShim: string;
  snapshotter: string;
  /** Environment variables removed before containerd started (its shims inherit its env). */
  envRemoved: string[];
  nodeOptions?: string;
  loadavg: number[];
  date: string;
}

function machine(snapshotter: string, envRemoved: string[]): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  const shimVersion = (() => {
    try {
      const out = execFileSync('containerd-shim-runc-v2', ['-v'], { encoding: 'utf8' });
      return /Version:\s*(\S+)/.exec(out)?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  return {
    cpu: cpu.trim(),
    cores: os.cpus().length,
    memTotalMiB: Math.round(os.totalmem() / 1048576),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    containerd: firstLine('containerd', ['--version']).split(/\s+/)[2] ?? 'unknown',
    runc: firstLine('runc', ['--version']).replace(/^runc version\s+/, ''),
    runcShim: shimVersion,
    snapshotter,
    envRemoved,
    nodeOptions: process.env.NODE_OPTIONS,
    loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

// --- the testbed and our containers --------------------------------------------------------------

let tb: Testbed | undefined;
/** Containers this run created and may not have removed yet. */
const live = new Set<string>();
let idSeq = 0;
const newId = (tag: string): string => `bs-${tag}-${process.pid}-${++idSeq}`;

/**
 * Shim socket keys we caused (task ids, group names) -> runtime label. A shim must remove its
 * socket in /run/containerd/s when it exits; once no shim of ours runs, any socket left at
 * sha256(<address>/<ns>/<key>) is counted against its runtime and removed.
 */
const socketKeys = new Map<string, string>();
const leftoverSockets: Record<string, number> = {};
let socketBase: { address: string; namespace: string } | undefined;

function sweepSockets(): void {
  if (!socketBase) return;
  for (const [key, label] of socketKeys) {
    const hex = createHash('sha256')
      .update(path.join(socketBase.address, socketBase.namespace, key))
      .digest('hex');
    const file = path.join(SHIM_SOCKET_DIR, hex);
    try {
      if (!fs.lstatSync(file).isSocket()) continue;
      fs.rmSync(file);
      leftoverSockets[label] = (leftoverSockets[label] ?? 0) + 1;
      log(`  ${label}: its shim left ${file} behind (key ${key}); removed`);
    } catch {
      // not there: fine
    }
    socketKeys.delete(key);
  }
}

function ctrEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERD_SNAPSHOTTER: tb!.snapshotter };
}

function ctrArgs(args: string[]): string[] {
  return ['-a', tb!.address, '-n', tb!.namespace, ...args];
}

/** `ctr run` with our fifo dir; stdin is /dev/null. */
function runArgs(
  rt: Runtime,
  id: string,
  mode: string[],
  extra: string[],
  cmd: string[],
): string[] {
  const group = extra.find((a) => a.startsWith(`${GROUP_ANNOTATION}=`));
  socketKeys.set(group ? group.slice(GROUP_ANNOTATION.length + 1) : (rt.groupKey ?? id), rt.label);
  return ctrArgs([
    'run',
    ...mode,
    '--fifo-dir',
    tb!.fifoDir,
    '--runtime',
    rt.runtime,
    ...extra,
    tb!.image,
    id,
    ...cmd,
  ]);
}

async function waitNoShims(timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let shims = tb!.findShims();
  while (shims.length > 0 && Date.now() < deadline) {
    await sleep(50);
    shims = tb!.findShims();
  }
  return shims;
}

/** Removes every container we created (tasks killed first) through ctr. */
async function removeContainers(): Promise<void> {
  if (!tb || tb.pid === undefined) return;
  const ids = [...live];
  await Promise.all(
    ids.map(async (id) => {
      await tb!.ctr(['tasks', 'kill', '-s', 'SIGKILL', id], { timeoutMs: 10_000 });
    }),
  );
  for (const id of ids) {
    // `tasks rm -f` waits for the killed task; then the container.
    await tb.ctr(['tasks', 'rm', '-f', id], { timeoutMs: 20_000 });
    const rm = await tb.ctr(['containers', 'rm', id], { timeoutMs: 20_000 });
    if (rm.code === 0 || /not found/.test(rm.stderr)) live.delete(id);
    else log(`  ctr containers rm ${id} failed: ${rm.stderr.trim()}`);
  }
  const left = await waitNoShims(10_000);
  if (left.length > 0) log(`  shims still running after removal: ${left.join(' ')}`);
  else sweepSockets();
}

// --- 1. floors and start latency -----------------------------------------------------------------

/** How many of a runtime's actions a standby took (from the launcher's trace). */
interface WarmHits {
  runs: number;
  start: number;
  daemon: number;
  delete: number;
  /** Of those, the fresh standbys taken (not an action server): each one's replacement boots. */
  fresh: number;
  /** Deletes the launcher answered from the daemon's receipt (no standby, no node). */
  receipt: number;
}

interface LatencyStats {
  label: string;
  n: number;
  errors: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
  ratio: number;
  samples: number[];
  /** Ours: the actions standbys took over the timed runs. */
  warm?: WarmHits;
  /**
   * runc-v2's timed runs that came right after one of this runtime's: a runtime whose
   * leftovers (a boot it started) spill into the next run makes these slower.
   */
  runcAfter?: number[];
}

/** The testbed's warm-start trace with each line's time (ms) and writer. */
function rawTrace(): { ms: number; pid: number; line: string }[] {
  let text: string;
  try {
    text = fs.readFileSync(tb!.warmLog, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => {
    const m = /^(\d+)\.(\d+) pid=(\d+) (.*)$/.exec(l);
    return m ? [{ ms: Number(m[1]) * 1000 + Number(m[2]), pid: Number(m[3]), line: m[4]! }] : [];
  });
}

/** Lines in the testbed's warm-start trace so far. */
const traceMark = (): number => traceLines(tb!.warmLog).length;

/** Adds the warm actions traced since `from` to `hits`. */
function countWarm(hits: WarmHits, from: number, runs = 1): void {
  hits.runs += runs;
  for (const line of traceLines(tb!.warmLog).slice(from)) {
    const m = /^(start|daemon|delete) warm /.exec(line);
    if (m) hits[m[1] as 'start' | 'daemon' | 'delete']++;
    if (m && !line.includes(' (action server)')) hits.fresh++;
    if (line.startsWith('delete receipt: ')) hits.receipt++;
  }
}

const noHits = (): WarmHits => ({ runs: 0, start: 0, daemon: 0, delete: 0, fresh: 0, receipt: 0 });

interface FloorStats {
  label: string;
  command: string;
  medianMs: number;
  p90Ms: number;
  samples: number[];
}

async function measureFloors(runtimes: Runtime[], n: number): Promise<FloorStats[]> {
  const entries: { label: string; file: string; args: string[]; rt?: Runtime }[] = [
    ...runtimes.map((rt) => ({ label: rt.label, file: rt.binary, args: ['-v'], rt })),
    { label: 'node -e 0', file: process.execPath, args: ['-e', '0'] },
  ];
  const samples = entries.map(() => [] as number[]);
  for (let i = -1; i < n; i++) {
    for (const [k, e] of entries.entries()) {
      if (e.rt?.failed) continue;
      // A shim with containerd's environment (the testbed's pool root, not the machine's).
      const r = await timed(e.file, e.args, e.rt ? tb!.containerdEnv : process.env);
      if (r.code !== 0) {
        if (!e.rt) throw new Error(`${e.file} ${e.args.join(' ')} exited ${r.code}`);
        fail(e.rt, `${e.file} -v exited ${r.code}: ${r.stderr}`);
      } else if (i >= 0) samples[k]!.push(r.ms); // i = -1: warm the page cache
    }
  }
  return entries.map((e, k) => ({
    label: e.label,
    command: `${path.basename(e.file)} ${e.args.join(' ')}`,
    medianMs: median(samples[k]!),
    p90Ms: quantile(samples[k]!, 0.9),
    samples: samples[k]!,
  }));
}

async function runRm(rt: Runtime, tag: string, extra: string[] = []): Promise<Timed> {
  const id = newId(tag);
  live.add(id);
  const r = await timed('ctr', runArgs(rt, id, ['--rm'], extra, ['/bin/true']), ctrEnv());
  if (r.code === 0) live.delete(id);
  if (extra.length === 0 && rt.groupKey === undefined) {
    const left = await waitNoShims(5_000);
    if (left.length > 0) log(`  ${rt.label}: shims still alive 5 s after ctr run --rm: ${left}`);
  }
  return r;
}

async function measureLatency(runtimes: Runtime[], opts: Options): Promise<LatencyStats[]> {
  for (let i = 0; i < opts.warmup; i++) {
    for (const rt of active(runtimes)) {
      const r = await runRm(rt, `w-${rt.label}`);
      if (r.code !== 0) fail(rt, `warm-up ctr run failed: ${r.stderr}`);
    }
  }
  runtimes = active(runtimes);
  const samples = runtimes.map(() => [] as number[]);
  const errors = runtimes.map(() => 0);
  const hits = runtimes.map(noHits);
  const runcAfter = runtimes.map(() => [] as number[]);
  let previous: number | undefined; // the runtime whose run came last
  for (let i = 0; i < opts.runs; i += opts.serialBlock) {
    const block = Math.min(opts.serialBlock, opts.runs - i);
    // The first runtime rotates: each one's leftovers fall on each of the others alike.
    const round = i / opts.serialBlock;
    for (let n = 0; n < runtimes.length; n++) {
      const k = (n + round) % runtimes.length;
      const rt = runtimes[k]!;
      for (let j = 0; j < block && !rt.failed; j++) {
        if (opts.gapMs > 0) await sleep(opts.gapMs);
        const from = traceMark();
        const r = await runRm(rt, `l-${rt.label}`);
        countWarm(hits[k]!, from);
        if (r.code === 0 && k === 0 && previous !== undefined) runcAfter[previous]!.push(r.ms);
        previous = k;
        if (r.code === 0) samples[k]!.push(r.ms);
        else {
          errors[k]!++;
          log(`  ${rt.label}: ctr run failed (${r.code}): ${r.stderr.split('\n').pop()}`);
          if (errors[k]! > Math.max(3, opts.runs / 4))
            fail(rt, `too many failed runs: ${r.stderr}`);
        }
      }
    }
    log(
      `  round ${i + block}/${opts.runs}: ` +
        runtimes.map((rt, k) => `${rt.label} ${samples[k]!.at(-1)?.toFixed(0)} ms`).join(', '),
    );
  }
  await removeContainers(); // failed --rm runs
  const base = median(samples[0]!);
  return runtimes.map((rt, k) => ({
    label: rt.label,
    n: samples[k]!.length,
    errors: errors[k]!,
    medianMs: median(samples[k]!),
    p90Ms: quantile(samples[k]!, 0.9),
    minMs: Math.min(...samples[k]!),
    maxMs: Math.max(...samples[k]!),
    ratio: median(samples[k]!) / base,
    samples: samples[k]!,
    warm: rt.label === 'runc-v2' ? undefined : hits[k],
    runcAfter: runcAfter[k]!,
  }));
}

// --- 1b. the breakdown ---------------------------------------------------------------------------

interface TraceStats {
  label: string;
  n: number;
  totalMs: number;
  phases: Record<TracePhase, number>;
  daemonBootMs: number;
  daemonSpawnMs: number;
  /** Traced runs whose daemon was a standby (no exec during the run). */
  warmDaemons: number;
  runs: TraceResult[];
}

const finite = (values: number[]): number[] => values.filter(Number.isFinite);

async function measureTrace(
  runtimes: Runtime[],
  n: number,
  perf: string,
  dir: string,
): Promise<TraceStats[]> {
  const ctr = findCommand('ctr')!;
  const runs = runtimes.map(() => [] as TraceResult[]);
  for (let i = 0; i < n; i++) {
    for (const [k, rt] of runtimes.entries()) {
      const id = newId(`t-${rt.label}`);
      live.add(id);
      const from = traceMark();
      // A standby that took the daemon role is named in the launcher's trace.
      const warmDaemon = (): number | undefined => {
        for (const line of traceLines(tb!.warmLog).slice(from)) {
          const m = /^daemon warm standby=(\d+)/.exec(line);
          if (m) return Number(m[1]);
        }
        return undefined;
      };
      try {
        const res = await traceCtrRun(
          perf,
          ctr,
          runArgs(rt, id, ['--rm'], [], ['/bin/true']),
          rt.binary,
          dir,
          `${rt.label}-${i}`,
          ctrEnv(),
          warmDaemon,
        );
        live.delete(id);
        runs[k]!.push(res);
      } catch (err) {
        log(`  ${rt.label}: traced run failed: ${(err as Error).message}`);
      }
      await waitNoShims(5_000);
    }
  }
  await removeContainers();
  return runtimes.map((rt, k) => {
    const r = runs[k]!;
    const phases = Object.fromEntries(
      TRACE_PHASES.map((p) => [p, median(r.map((x) => x.phases[p]))]),
    ) as Record<TracePhase, number>;
    return {
      label: rt.label,
      n: r.length,
      totalMs: median(r.map((x) => x.totalMs)),
      phases,
      daemonBootMs: median(finite(r.map((x) => x.daemonBootMs))),
      daemonSpawnMs: median(finite(r.map((x) => x.daemonSpawnMs))),
      warmDaemons: r.filter((x) => x.warmDaemon).length,
      runs: r,
    };
  });
}

// --- 1c. a burst ---------------------------------------------------------------------------------

interface BurstStats {
  label: string;
  containers: number;
  rounds: number;
  errors: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  ratio: number;
  samples: number[];
  warm?: WarmHits;
  /** Settled mode: the waits for a settled machine after this runtime's rounds (ms, idle time not included). */
  settleMs?: number[];
  /** Of those, the waits that reached SETTLE_CAP_MS. */
  settleCapped?: number;
}

/** Until no shim of ours runs and every bundle is gone (the last `shim delete` has run). */
async function waitRemoved(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await tb!.leftovers();
    if (left.shims.length + left.bundles.length === 0 || Date.now() > deadline) return;
    await sleep(10);
  }
}

/** `n` containers started at once (`ctr run -d`), then all removed: ms until nothing is left. */
async function burstOnce(
  rt: Runtime,
  n: number,
): Promise<{ ms: number; startsMs: number; errors: number }> {
  const ids = Array.from({ length: n }, () => newId(`b-${rt.label}`));
  for (const id of ids) live.add(id);
  const begin = process.hrtime.bigint();
  const runs = await Promise.all(
    ids.map((id) => timed('ctr', runArgs(rt, id, ['-d'], [], ['sleep', '600']), ctrEnv())),
  );
  const startsMs = Number(process.hrtime.bigint() - begin) / 1e6;
  await Promise.all(
    ids.map(async (id) => {
      await tb!.ctr(['tasks', 'rm', '-f', id], { timeoutMs: 30_000 });
      const rm = await tb!.ctr(['containers', 'rm', id], { timeoutMs: 30_000 });
      if (rm.code === 0) live.delete(id);
    }),
  );
  await waitRemoved(30_000);
  const ms = Number(process.hrtime.bigint() - begin) / 1e6;
  const failed = runs.filter((r) => r.code !== 0);
  for (const r of failed) log(`  ${rt.label}: burst ctr run failed (${r.code}): ${r.stderr}`);
  return { ms, startsMs, errors: failed.length };
}

async function measureBurst(runtimes: Runtime[], opts: Options): Promise<BurstStats[]> {
  const samples = runtimes.map(() => [] as number[]);
  const errors = runtimes.map(() => 0);
  const hits = runtimes.map(noHits);
  const waits = runtimes.map(() => [] as number[]);
  const capped = runtimes.map(() => 0);
  if (!opts.burstBackToBack) {
    const first = await settle(tb!, opts.burstIdleMs, SETTLE_CAP_MS);
    log(`  settled before the first burst in ${first.ms} ms${first.capped ? ' (cap)' : ''}`);
  }
  for (let i = 0; i < opts.burstRounds; i++) {
    // The order rotates each round: a burst runs faster or slower after another runtime's (its
    // standbys' boots and teardown still running), so no runtime always goes first.
    for (let j = 0; j < runtimes.length; j++) {
      const k = (i + j) % runtimes.length;
      const rt = runtimes[k]!;
      if (rt.failed) continue;
      const from = traceMark();
      const r = await burstOnce(rt, opts.burst);
      countWarm(hits[k]!, from, opts.burst);
      errors[k]! += r.errors;
      if (r.errors === 0) samples[k]!.push(r.ms);
      let after = '';
      if (!opts.burstBackToBack) {
        // The next burst (any runtime's) starts from a settled machine: this one's boots and
        // teardown do not fall on it.
        const s = await settle(tb!, opts.burstIdleMs, SETTLE_CAP_MS);
        waits[k]!.push(s.ms);
        if (s.capped) capped[k]!++;
        after = `, settled in ${s.ms} ms${s.capped ? ' (cap reached)' : ''}`;
      }
      const phases = `(starts ${r.startsMs.toFixed(0)}, removal ${(r.ms - r.startsMs).toFixed(0)})`;
      log(
        `  burst ${i + 1}/${opts.burstRounds}: ${rt.label} ${r.ms.toFixed(0)} ms ${phases}${after}`,
      );
    }
  }
  await removeContainers();
  const base = median(samples[0]!);
  return runtimes.map((rt, k) => ({
    label: rt.label,
    containers: opts.burst,
    rounds: samples[k]!.length,
    errors: errors[k]!,
    medianMs: median(samples[k]!),
    minMs: Math.min(...samples[k]!),
    maxMs: Math.max(...samples[k]!),
    ratio: median(samples[k]!) / base,
    samples: samples[k]!,
    warm: rt.label === 'runc-v2' ? undefined : hits[k],
    ...(opts.burstBackToBack ? {} : { settleMs: waits[k]!, settleCapped: capped[k]! }),
  }));
}

// --- 2./3. memory --------------------------------------------------------------------------------

interface ShimSample {
  pid: number;
  id: string;
  rollup: Rollup;
  breakdown: Breakdown;
  stat: ProcStat;
  /** Wall-clock ms when the process started (from its age). */
  startedMs: number;
  /** Ours: how the daemon came to be (from the launcher's trace and /proc). */
  facts?: DaemonFacts;
}

/** What is known of one of our daemons, to tell apart daemons of different origin. */
interface DaemonFacts {
  /** Adopted (a standby took the daemon role) or cold (spawned by `start`). */
  how: 'adopted' | 'cold';
  /** Seconds the process ran before its `ctr run -d` began (a standby's wait; < 0: after). */
  bootedBeforeS: number;
  /** Its boot and the boot cache: `used` (`used (serving code)`), `wrote it`, `not used`; '–': no trace line. */
  bootCache: string;
  /** kB private 1 s after the last start. */
  freshPrivate: number;
}

interface MemoryStats {
  label: string;
  shims: number;
  /** Medians, kB. */
  private: number;
  pss: number;
  rss: number;
  privateRatio: number;
  pssRatio: number;
  breakdown: Breakdown;
  samples: ShimSample[];
}

interface GroupStats {
  label: string;
  containers: number;
  shims: number;
  /** kB, the (single) shim's totals. */
  pss: number;
  private: number;
  rss: number;
  pssPerContainer: number;
  privatePerContainer: number;
  breakdown?: Breakdown;
}

/** Warm start's standbys running at the steady memory reading (their rollups). */
let standbys: Rollup[] = [];

/** Our shims by the container id in their cmdline (`-id`: the first container of a group). */
function shimsById(): Map<string, number> {
  const map = new Map<string, number>();
  for (const pid of tb!.findShims()) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('-id');
      if (i >= 0 && argv[i + 1]) map.set(argv[i + 1]!, pid);
    } catch {
      // exited
    }
  }
  return map;
}

async function startDetached(rt: Runtime, id: string, extra: string[] = []): Promise<void> {
  live.add(id);
  const r = await timed('ctr', runArgs(rt, id, ['-d'], extra, ['sleep', '600']), ctrEnv());
  if (r.code !== 0) throw new Error(`ctr run -d with ${rt.label} failed (${r.code}): ${r.stderr}`);
}

function sumBreakdowns(list: Breakdown[], pick: (values: number[]) => number): Breakdown {
  const of = (key: 'private' | 'pss'): Record<Category, number> =>
    Object.fromEntries(CATEGORIES.map((c) => [c, pick(list.map((b) => b[key][c]))])) as Record<
      Category,
      number
    >;
  return { private: of('private'), pss: of('pss') };
}

/** Reads every shim of `ids` (by container id) and summarizes per runtime. */
function readShims(runtimes: Runtime[], ids: string[][]): MemoryStats[] {
  const byId = shimsById();
  const stats = runtimes.map((rt, k) => {
    const samples: ShimSample[] = [];
    for (const id of ids[k]!) {
      const pid = byId.get(id);
      if (pid === undefined) {
        log(`  ${rt.label}: no shim process found for ${id}`);
        continue;
      }
      try {
        samples.push({
          pid,
          id,
          rollup: readRollup(pid),
          breakdown: readBreakdown(pid),
          stat: readStat(pid),
          startedMs: 0,
        });
        const last = samples[samples.length - 1]!;
        last.startedMs = Date.now() - last.stat.ageS * 1000;
      } catch (err) {
        log(`  ${rt.label}: cannot read /proc/${pid}: ${(err as Error).message}`);
      }
    }
    return {
      label: rt.label,
      shims: samples.length,
      private: median(samples.map((s) => s.rollup.private)),
      pss: median(samples.map((s) => s.rollup.pss)),
      rss: median(samples.map((s) => s.rollup.rss)),
      privateRatio: 0,
      pssRatio: 0,
      breakdown: sumBreakdowns(
        samples.map((s) => s.breakdown),
        median,
      ),
      samples,
    };
  });
  for (const s of stats) {
    s.privateRatio = s.private / stats[0]!.private;
    s.pssRatio = s.pss / stats[0]!.pss;
  }
  return stats;
}

/**
 * One container per shim. Read twice: 1 s after the last start ("fresh") and after
 * `memSettleMs` of idling ("steady": V8's memory reducer runs its collections ~8 s after it was
 * started, or 8 s later again each time the allocation rate is not low yet, and node shims shrink
 * by several MiB). With `memGapMs`, the pools of our runtimes are booted first and the rounds of
 * starts are that far apart, so that every adopted daemon comes from a standby idle long enough
 * for its own memory reducer to have run (as when containers start now and then), whatever ran
 * before this section; with 0, back to back, from standbys booted during the section.
 */
async function measureMemory(
  runtimes: Runtime[],
  opts: Options,
  sharers: Record<string, number>,
): Promise<{ fresh: MemoryStats[]; steady: MemoryStats[] }> {
  const ids = runtimes.map(() => [] as string[]);
  if (opts.memGapMs > 0) {
    for (const rt of runtimes) if (rt.label !== 'runc-v2' && !rt.failed) await runRm(rt, 'mp');
    await sleep(opts.memGapMs);
  }
  const traceFrom = rawTrace().length;
  const startedAt = new Map<string, number>();
  const timeline = new Map<number, { t: number; kb: number }[]>();
  const t0 = Date.now();
  const sampler = opts.memTimeline
    ? setInterval(() => {
        for (const [id, pid] of shimsById()) {
          if (!id.startsWith('bs-m-') || id.startsWith('bs-m-runc-v2-')) continue;
          try {
            const list = timeline.get(pid) ?? [];
            list.push({ t: Date.now() - t0, kb: readRollup(pid).private });
            timeline.set(pid, list);
          } catch {
            // gone
          }
        }
      }, 250)
    : undefined;
  for (let i = 0; i < opts.memShims; i++) {
    if (i > 0 && opts.memGapMs > 0) await sleep(opts.memGapMs);
    for (const [k, rt] of runtimes.entries()) {
      if (rt.failed) continue;
      const id = newId(`m-${rt.label}`);
      try {
        startedAt.set(id, Date.now());
        await startDetached(rt, id);
        ids[k]!.push(id);
      } catch (err) {
        fail(rt, (err as Error).message);
      }
    }
  }
  const keep = runtimes.map((rt) => !rt.failed);
  runtimes = runtimes.filter((_, k) => keep[k]);
  const okIds = ids.filter((_, k) => keep[k]);
  await sleep(1000);
  const fresh = readShims(runtimes, okIds);
  await sleep(opts.memSettleMs);
  const steady = readShims(runtimes, okIds);
  if (sampler) clearInterval(sampler);
  for (const [pid, list] of timeline) {
    // Where it changed by 0.2 MiB or more: V8's collections, malloc_trim.
    const steps: string[] = [];
    let last = NaN;
    for (const p of list) {
      if (!(Math.abs(p.kb - last) < 200)) steps.push(`${(p.t / 1000).toFixed(1)} s ${mib(p.kb)}`);
      if (!(Math.abs(p.kb - last) < 200)) last = p.kb;
    }
    log(`  private MiB of ${pid} (s from the first start): ${steps.join(', ')}`);
  }
  const all = rawTrace();
  const trace = all.slice(traceFrom);
  const adopted = new Set(
    trace.flatMap((t) => {
      const m = /^daemon warm standby=(\d+)/.exec(t.line);
      return m ? [Number(m[1])] : [];
    }),
  );
  const freshByPid = new Map(fresh.flatMap((s) => s.samples.map((f) => [f.pid, f.rollup.private])));
  for (const s of steady) {
    if (s.label === 'runc-v2') continue;
    for (const d of s.samples) {
      const boot = all.filter((t) => t.pid === d.pid && / boot cache /.test(t.line)).pop();
      d.facts = {
        how: adopted.has(d.pid) ? 'adopted' : 'cold',
        bootedBeforeS: (startedAt.get(d.id)! - d.startedMs) / 1000,
        bootCache: !boot
          ? '–'
          : / boot cache used/.test(boot.line)
            ? / serving code$/.test(boot.line)
              ? 'used (serving code)'
              : 'used'
            : / wrote /.test(boot.line)
              ? 'wrote it'
              : 'not used',
        freshPrivate: freshByPid.get(d.pid) ?? NaN,
      };
      log(
        `  ${s.label} pid ${d.pid}: ${d.facts.how}, process started ` +
          `${d.facts.bootedBeforeS.toFixed(1)} s before its ctr run, boot cache ${d.facts.bootCache}, ` +
          `CPU ${d.stat.cpuMs} ms, private ${mib(d.facts.freshPrivate)} fresh, ` +
          `${mib(d.rollup.private)} steady (malloc ${mib(d.breakdown.private['malloc: [heap] + arenas'])}, ` +
          `other anonymous ${mib(d.breakdown.private['other anonymous'])})`,
      );
    }
  }
  standbys = findStandbys(tb!.warmRoot).flatMap((pid) => {
    try {
      return [readRollup(pid)];
    } catch {
      return [];
    }
  });
  for (const s of steady) {
    const pid = s.samples[0]?.pid;
    if (pid === undefined) continue;
    try {
      const exe = fs.realpathSync(`/proc/${pid}/exe`);
      sharers[exe] ??= countProcessesOf(exe);
    } catch {
      // exited
    }
  }
  await removeContainers();
  return { fresh, steady };
}

async function measureGroup(
  runtimes: Runtime[],
  opts: Options,
): Promise<{ memory: GroupStats[]; latency: LatencyStats[] }> {
  const groups = runtimes.map((rt) => `bench-${rt.label}-${process.pid}`);
  const annotation = (k: number): string[] =>
    runtimes[k]!.groupKey !== undefined ? [] : ['--annotation', `${GROUP_ANNOTATION}=${groups[k]}`];
  const ids = runtimes.map(() => [] as string[]);
  for (let i = 0; i < opts.groupSize; i++) {
    for (const [k, rt] of runtimes.entries()) {
      if (rt.failed) continue;
      const id = newId(`g-${rt.label}`);
      try {
        await startDetached(rt, id, annotation(k));
        ids[k]!.push(id);
      } catch (err) {
        fail(rt, (err as Error).message);
      }
    }
  }
  await sleep(opts.settleMs);
  const byId = shimsById();
  const memory = runtimes.flatMap((rt, k) => {
    if (rt.failed) return [];
    const pids = [
      ...new Set(ids[k]!.map((id) => byId.get(id)).filter((p): p is number => p !== undefined)),
    ];
    const rollups = pids.map(readRollup);
    const sum = (f: (r: Rollup) => number): number => rollups.reduce((a, r) => a + f(r), 0);
    const n = ids[k]!.length;
    return [
      {
        label: rt.label,
        containers: n,
        shims: pids.length,
        pss: sum((r) => r.pss),
        private: sum((r) => r.private),
        rss: sum((r) => r.rss),
        pssPerContainer: sum((r) => r.pss) / n,
        privatePerContainer: sum((r) => r.private) / n,
        breakdown: pids.length === 1 ? readBreakdown(pids[0]!) : undefined,
      },
    ];
  });
  // Start latency when the group's shim is already running: no daemon to boot.
  const samples = runtimes.map(() => [] as number[]);
  const errors = runtimes.map(() => 0);
  for (let i = 0; i < opts.groupRuns; i++) {
    for (const [k, rt] of runtimes.entries()) {
      if (rt.failed) continue;
      const r = await runRm(rt, `gl-${rt.label}`, annotation(k));
      if (r.code === 0) samples[k]!.push(r.ms);
      else errors[k]!++;
    }
  }
  const base = median(samples[0]!);
  const latency = runtimes.flatMap((rt, k) =>
    rt.failed
      ? []
      : [
          {
            label: rt.label,
            n: samples[k]!.length,
            errors: errors[k]!,
            medianMs: median(samples[k]!),
            p90Ms: quantile(samples[k]!, 0.9),
            minMs: Math.min(...samples[k]!),
            maxMs: Math.max(...samples[k]!),
            ratio: median(samples[k]!) / base,
            samples: samples[k]!,
          },
        ],
  );
  await removeContainers();
  return { memory, latency };
}

// --- 4. Task RPC cost -----------------------------------------------------------------------------

async function measureRpcs(runtimes: Runtime[], opts: Options): Promise<RpcStats[]> {
  const out: RpcStats[] = [];
  for (const rt of runtimes) {
    if (rt.failed) continue;
    const id = newId(`r-${rt.label}`);
    try {
      await startDetached(rt, id);
      const pid = shimsById().get(id);
      if (pid === undefined) throw new Error(`no shim process found for ${id}`);
      await sleep(opts.settleMs); // start-up done, memory released: the steady shim
      out.push(
        await measureRpc(rt.label, id, path.join(tb!.bundleRoot, id), pid, {
          serialCalls: opts.rpcCalls,
          pacedRate: 10,
          pacedMs: opts.rpcSeconds * 1000,
          idleMs: opts.rpcSeconds * 1000,
        }),
      );
    } catch (err) {
      fail(rt, (err as Error).message);
    }
    await removeContainers();
  }
  return out;
}

// --- report --------------------------------------------------------------------------------------

interface Report {
  machine: Machine;
  options: Omit<Options, 'sections' | 'variants' | 'keepEnv' | 'ours' | 'noCold'> & {
    sections: Section[];
    runtimes: Runtime[];
  };
  floors?: FloorStats[];
  latency?: LatencyStats[];
  trace?: TraceStats[] | { skipped: string };
  /** Steady state (after --settle), the figures compared. */
  memory?: MemoryStats[];
  /** The same shims 1 s after the last of them started. */
  memoryFresh?: MemoryStats[];
  /** How many processes run each shim's executable (PSS divides shared pages among them). */
  sharers?: Record<string, number>;
  /** Shim sockets left in /run/containerd/s after their shims exited (removed by the bench). */
  leftoverSockets?: Record<string, number>;
  group?: GroupStats[];
  /** `ctr run --rm` into the already running group shim. */
  groupLatency?: LatencyStats[];
  /** Warm start's standby pool at the steady memory reading: how many, and their memory. */
  standbys?: { count: number; private: number; pss: number; rss: number };
  rpc?: RpcStats[];
  burst?: BurstStats[];
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(v < 10 ? 1 : 0) : '–');
const hitsText = (h: WarmHits | undefined): string =>
  h
    ? `${h.start} / ${h.daemon} / ${h.delete} of ${h.runs} (${h.fresh} fresh, ${h.receipt} receipts)`
    : '–';
const mib = (kb: number): string => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '–');
const x = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');

/** A Markdown table; the first column and those in `left` are left-aligned. */
function table(head: string[], rows: string[][], left: number[] = []): string {
  const sep = head.map((_, i) => (i === 0 || left.includes(i) ? '---' : '---:'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function markdown(r: Report, runtimes: Runtime[]): string {
  const m = r.machine;
  const out: string[] = [];
  const ours = 'runcts';
  const find = <T extends { label: string }>(list: T[] | undefined): T | undefined =>
    list?.find((e) => e.label === ours);
  const failed = runtimes.filter((rt) => rt.failed);
  out.push(`## containerd-shim-runcts-v2 vs containerd-shim-runc-v2 (npm run bench:shim)`);
  out.push('');
  out.push(
    `Machine: ${m.cpu}, ${m.cores} vCPU, ${m.memTotalMiB} MiB, ${m.kernel}; node ${m.node}; ` +
      `containerd ${m.containerd}, runc ${m.runc}, containerd-shim-runc-v2 ${m.runcShim}; ` +
      `snapshotter ${m.snapshotter}; load ${m.loadavg.join(' ')}; ${m.date}.` +
      (m.envRemoved.length > 0
        ? ` Removed from containerd's (so the shims') environment: ${m.envRemoved.join(', ')} ` +
          '(--keep-env keeps it).'
        : '') +
      (m.nodeOptions ? ` NODE_OPTIONS=${m.nodeOptions}.` : ''),
  );
  const ourBinary = runtimes.find((rt) => rt.label === ours)?.binary;
  if (ourBinary && ourBinary !== OURS) {
    out.push('');
    out.push(`${ours} is \`${ourBinary}\` (--ours).`);
  }
  if (failed.length > 0) {
    out.push('');
    out.push(
      'Failed (left out after the failure): ' +
        failed.map((rt) => `${rt.label}: ${rt.failed}`).join('; ') +
        '.',
    );
  }
  if (r.latency) {
    const o = r.options;
    out.push('');
    out.push(
      `### Start latency: \`ctr run --rm busybox <id> /bin/true\` (${o.runs} runs each, ` +
        `runtimes alternating${o.serialBlock > 1 ? ` in blocks of ${o.serialBlock} runs` : ''}, ` +
        `${o.gapMs > 0 ? `${o.gapMs} ms idle before each, ` : ''}` +
        `the first one rotating, after ${o.warmup} warm-up runs each` +
        `${o.burstFirst && r.burst ? ', right after the bursts' : ''}; runc-v2 after: its runs ` +
        `right after one of that runtime's, median and count)`,
    );
    out.push('');
    out.push(
      table(
        [
          'runtime',
          'median ms',
          'p90 ms',
          'min ms',
          'max ms',
          'vs runc-v2 (medians)',
          'runc-v2 after ms',
          'warm: start / daemon / delete (fresh standbys taken, deletes from a receipt)',
        ],
        r.latency.map((s) => [
          s.label + (s.errors ? ` (${s.errors} failed)` : ''),
          ms(s.medianMs),
          ms(s.p90Ms),
          ms(s.minMs),
          ms(s.maxMs),
          x(s.ratio),
          s.runcAfter?.length ? `${ms(median(s.runcAfter))} (${s.runcAfter.length})` : '–',
          hitsText(s.warm),
        ]),
      ),
    );
    const ratio = find(r.latency)?.ratio;
    if (ratio !== undefined) {
      out.push('');
      out.push(`Target ≤ 1.0× runc-v2: ${ratio <= 1 ? 'met' : 'not met'} (${x(ratio)}).`);
    }
  }
  if (r.burst) {
    const o = r.options;
    out.push('');
    out.push(
      `### Burst: ${o.burst} containers started at once (\`ctr run -d … sleep 600\`), then all ` +
        `removed (\`ctr tasks rm -f\`, \`ctr containers rm\`) until no shim or bundle is left ` +
        `(${o.burstRounds} round(s) each, runtimes alternating, the first one rotating; ` +
        (o.burstBackToBack
          ? 'back to back: each right after the previous one, its boots and teardown still ' +
            'running, `--burst-back-to-back`)'
          : `settled: each from a machine with no boot of our pools under way and no shim left, ` +
            `then ${o.burstIdleMs} ms idle)`),
    );
    out.push('');
    out.push(
      table(
        [
          'runtime',
          'median ms',
          'min ms',
          'max ms',
          'vs runc-v2 (medians)',
          'warm: start / daemon / delete (fresh standbys taken, deletes from a receipt)',
        ],
        r.burst.map((b) => [
          b.label + (b.errors ? ` (${b.errors} failed)` : ''),
          ms(b.medianMs),
          ms(b.minMs),
          ms(b.maxMs),
          x(b.ratio),
          hitsText(b.warm),
        ]),
      ),
    );
    const ratio = find(r.burst)?.ratio;
    if (ratio !== undefined) {
      out.push('');
      out.push(`Target ≤ 1.0× runc-v2: ${ratio <= 1 ? 'met' : 'not met'} (${x(ratio)}).`);
    }
    const settled = r.burst.filter((b) => b.settleMs !== undefined && b.settleMs.length > 0);
    if (settled.length > 0) {
      out.push('');
      out.push(
        "Waits for a settled machine after each runtime's bursts (median / max ms, the idle " +
          'time not included): ' +
          settled
            .map(
              (b) =>
                `${b.label} ${ms(median(b.settleMs!))} / ${ms(Math.max(...b.settleMs!))}` +
                (b.settleCapped ? ` (${b.settleCapped} at the ${SETTLE_CAP_MS / 1000} s cap)` : ''),
            )
            .join(', ') +
          '.',
      );
    }
    const ns = r.burst.find((b) => b.label === NS_GROUPED);
    if (ns !== undefined && Number.isFinite(ns.ratio)) {
      out.push('');
      out.push(
        `Per-runtime option \`RUNCTS_SHIM_GROUP=namespace\` (${NS_GROUPED}: one daemon serves ` +
          `all ${o.burst} containers of a burst, so its warm daemons count at most one per ` +
          `burst): burst ${x(ns.ratio)} runc-v2 (the target ${ns.ratio <= 1 ? 'met' : 'not met'} ` +
          'this way).',
      );
    }
  }
  if (r.floors) {
    out.push('');
    out.push(`### Binary start-up floor (\`-v\`, ${r.options.floorRuns} runs each, interleaved)`);
    out.push('');
    out.push(
      table(
        ['command', 'median ms', 'p90 ms'],
        r.floors.map((f) => [`${f.label}: \`${f.command}\``, ms(f.medianMs), ms(f.p90Ms)]),
      ),
    );
  }
  if (r.trace && 'skipped' in r.trace) {
    out.push('');
    out.push(`### Where the time goes: skipped (${r.trace.skipped})`);
  } else if (r.trace) {
    const t = r.trace;
    out.push('');
    out.push(
      `### Where the time goes (perf trace of exec/fork/exit/accept4, median of ${t[0]!.n} ` +
        `traced runs each; phases add up to ctr's lifetime)`,
    );
    out.push('');
    const oi = t.findIndex((s) => s.label === ours);
    const head = ['phase', ...t.map((s) => `${s.label} ms`), `${ours} − runc-v2`];
    const row = (name: string, vals: number[]): string[] => [
      name,
      ...vals.map(ms),
      oi > 0 ? ms(vals[oi]! - vals[0]!) : '–',
    ];
    out.push(
      table(head, [
        ...TRACE_PHASES.map((p) =>
          row(
            p,
            t.map((s) => s.phases[p]),
          ),
        ),
        row(
          '**sum of phases (medians)**',
          t.map((s) => TRACE_PHASES.reduce((a, p) => a + s.phases[p], 0)),
        ),
        row(
          'total (median of traced runs)',
          t.map((s) => s.totalMs),
        ),
        row(
          '(daemon exec → first accept4)',
          t.map((s) => s.daemonBootMs),
        ),
        row(
          '(shim start exec → daemon spawned)',
          t.map((s) => s.daemonSpawnMs),
        ),
        ['(runs whose daemon was a standby)', ...t.map((s) => `${s.warmDaemons} of ${s.n}`), ''],
      ]),
    );
    const go = t.find((s) => s.label === 'runc-v2');
    const ts = t.find((s) => s.label === ours);
    if (go && ts) {
      for (const phase of ['shim start', 'shim delete'] as const) {
        const ratio = ts.phases[phase] / go.phases[phase];
        out.push('');
        out.push(
          `Target \`${phase}\` (the action, exec to exit) ≤ 2× runc-v2's: ` +
            `${ratio <= 2 ? 'met' : 'not met'} (${x(ratio)}).`,
        );
      }
    }
    out.push('');
    out.push(
      'ctr → shim start: ctr and containerd before the shim (snapshot, container, bundle). ' +
        'wait for daemon: start has exited but the daemon has not reached accept4 yet. ' +
        '→ shim delete: Delete/Shutdown until containerd runs `<shim> delete` for the closed ' +
        'connection. Traced runs are slower than untimed ones (perf is recording).',
    );
  }
  if (r.memory) {
    const mem = r.memory;
    const fresh = new Map((r.memoryFresh ?? []).map((f) => [f.label, f]));
    out.push('');
    out.push(
      `### Memory: one container (\`sleep 600\`) per shim, ${r.options.memShims} shims per runtime, ` +
        (r.options.memGapMs > 0
          ? `started ${r.options.memGapMs / 1000} s apart after the standby pools settled as long ` +
            "(every adopted daemon from a standby idle past V8's memory reducer, as when containers " +
            'start now and then, whatever ran before) '
          : 'started back to back (daemons from standbys booted meanwhile) ') +
        `(medians, MiB; steady = after ${r.options.memSettleMs / 1000} s idle, fresh = 1 s after the last start)`,
    );
    out.push('');
    out.push(
      table(
        [
          'runtime',
          'shims',
          'private',
          'PSS',
          'RSS',
          'private vs runc-v2',
          'PSS vs runc-v2',
          'fresh private',
          'fresh PSS',
        ],
        mem.map((s) => [
          s.label,
          String(s.shims),
          mib(s.private),
          mib(s.pss),
          mib(s.rss),
          x(s.privateRatio),
          x(s.pssRatio),
          mib(fresh.get(s.label)?.private ?? NaN),
          mib(fresh.get(s.label)?.pss ?? NaN),
        ]),
      ),
    );
    out.push('');
    const pr = find(mem)?.privateRatio ?? NaN;
    out.push(
      `Target private ≤ 3× runc-v2: ${pr <= 3 ? 'met' : 'not met'} ` +
        `(${x(pr)}, steady). private = Private_Clean + Private_Dirty. ` +
        'PSS splits shared pages among the processes mapping them' +
        (r.sharers
          ? '; processes running each executable at the time: ' +
            Object.entries(r.sharers)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')
          : '') +
        '.',
    );
    out.push('');
    out.push('Where the private memory sits (steady, median per shim, MiB, /proc/<pid>/smaps):');
    out.push('');
    out.push(
      table(
        ['runtime', ...CATEGORIES],
        mem.map((s) => [s.label, ...CATEGORIES.map((c) => mib(s.breakdown.private[c]))]),
      ),
    );
    out.push('');
    out.push(CATEGORIES.map((c) => `${c}: ${CATEGORY_NOTES[c]}.`).join(' '));
    const daemons = mem.flatMap((m) => m.samples.flatMap((d) => (d.facts ? [{ m, d }] : [])));
    if (daemons.length > 0) {
      out.push('');
      out.push('Each of our daemons (steady, MiB):');
      out.push('');
      out.push(
        table(
          [
            'runtime',
            'daemon',
            'process started before its ctr run, s',
            'boot cache',
            'CPU ms',
            'fresh private',
            'private',
            'malloc',
            'other anonymous',
          ],
          daemons.map(({ m, d }) => [
            m.label,
            d.facts!.how,
            d.facts!.bootedBeforeS.toFixed(1),
            d.facts!.bootCache,
            String(Math.round(d.stat.cpuMs)),
            mib(d.facts!.freshPrivate),
            mib(d.rollup.private),
            mib(d.breakdown.private['malloc: [heap] + arenas']),
            mib(d.breakdown.private['other anonymous']),
          ]),
          [1, 3],
        ),
      );
      out.push('');
      out.push(
        'daemon: adopted (a standby took the role) or cold, from the launcher trace; process ' +
          "started: a standby's age when the container's `ctr run` began (< 0: a cold daemon); boot " +
          'cache: what its boot did with it (CONTAINERD_SHIM_WARM_LOG); CPU: its whole life, boot ' +
          'included.',
      );
    }
    const sb = r.standbys;
    if (sb) {
      out.push('');
      out.push(
        sb.count === 0
          ? 'Standby pool (warm start): no standby was running at the steady reading.'
          : `Standby pool (warm start), apart from the shims above: ${sb.count} standby ` +
              `process${sb.count === 1 ? '' : 'es'}, median private ${mib(sb.private)} MiB, ` +
              `PSS ${mib(sb.pss)}, RSS ${mib(sb.rss)} each.`,
      );
    }
  }
  if (r.group) {
    const g = r.group;
    const standalone = r.memory?.[0]?.pss;
    out.push('');
    out.push(
      `### One shim serving ${r.options.groupSize} containers (\`--annotation ${GROUP_ANNOTATION}=<g>\`; ` +
        'runcts-ns: ours with `RUNCTS_SHIM_GROUP=namespace` in its environment and no annotation; MiB)',
    );
    out.push('');
    out.push(
      table(
        [
          'runtime',
          'shim processes',
          'PSS',
          'PSS / container',
          'private',
          'private / container',
          'RSS',
        ],
        g.map((s) => [
          s.label,
          String(s.shims),
          mib(s.pss),
          mib(s.pssPerContainer),
          mib(s.private),
          mib(s.privatePerContainer),
          mib(s.rss),
        ]),
      ),
    );
    const per = find(g)?.pssPerContainer;
    if (standalone !== undefined && per !== undefined) {
      out.push('');
      out.push(
        `Target ${ours} PSS / container ≤ runc-v2 standalone PSS (${mib(standalone)} MiB): ` +
          `${per <= standalone ? 'met' : 'not met'} (${mib(per)} MiB, ${x(per / standalone)}). ` +
          'Only one process runs each shim binary here, so its PSS carries all of its file pages.',
      );
    }
    const standalonePrivate = r.memory?.[0]?.private;
    const ns = g.find((s) => s.label === NS_GROUPED);
    if (standalonePrivate !== undefined && ns !== undefined) {
      out.push('');
      out.push(
        `Per-runtime option \`RUNCTS_SHIM_GROUP=namespace\`: private / container ` +
          `${mib(ns.privatePerContainer)} MiB, ${x(ns.privatePerContainer / standalonePrivate)} ` +
          `runc-v2's standalone private (${mib(standalonePrivate)} MiB; the 3× target ` +
          `${ns.privatePerContainer <= 3 * standalonePrivate ? 'met' : 'not met'} this way).`,
      );
    }
  }
  if (r.groupLatency && r.groupLatency.length > 0) {
    out.push('');
    out.push(
      `### Start latency into the running group shim (\`ctr run --rm --annotation ` +
        `${GROUP_ANNOTATION}=<g>\` with the group's shim up: no daemon boot; ` +
        `${r.options.groupRuns} runs each, alternating)`,
    );
    out.push('');
    out.push(
      table(
        ['runtime', 'median ms', 'p90 ms', 'vs runc-v2 (medians)'],
        r.groupLatency.map((s) => [
          s.label + (s.errors ? ` (${s.errors} failed)` : ''),
          ms(s.medianMs),
          ms(s.p90Ms),
          x(s.ratio),
        ]),
      ),
    );
  }
  if (r.rpc && r.rpc.length > 0) {
    const base = r.rpc.find((s) => s.label === 'runc-v2');
    out.push('');
    out.push(
      `### Task RPC cost of a running shim (one \`sleep\` container; this package's TaskClient on ` +
        `the shim's socket for every runtime; ${r.options.rpcCalls} serial State calls, then ` +
        `${r.options.rpcSeconds} s at 10 calls/s, then ${r.options.rpcSeconds} s idle)`,
    );
    out.push('');
    out.push(
      table(
        [
          'runtime',
          'State p50 µs',
          'p99 µs',
          'p50 vs runc-v2',
          'shim CPU ms / call (10/s)',
          'idle shim CPU ms / min',
        ],
        r.rpc.map((s) => [
          s.label,
          ms(s.p50Us),
          ms(s.p99Us),
          x(s.p50Us / (base?.p50Us ?? NaN)),
          s.cpuMsPerCall.toFixed(3),
          s.idleCpuMsPerMin.toFixed(2),
        ]),
      ),
    );
    out.push('');
    out.push(
      "CPU: the run time of all the shim's threads (/proc/<pid>/task/*/schedstat), per call while " +
        'paced and per minute while nothing calls it.',
    );
  }
  const leftovers = Object.entries(r.leftoverSockets ?? {});
  if (leftovers.length > 0) {
    out.push('');
    out.push(
      'Shim sockets left in /run/containerd/s after their shim exited (removed by the bench): ' +
        leftovers.map(([label, n]) => `${label} ${n}`).join(', ') +
        '.',
    );
  }
  return out.join('\n') + '\n';
}

// --- main ----------------------------------------------------------------------------------------

/**
 * Ours once more, grouped by its per-runtime option instead of the annotation (one daemon per
 * namespace): containerd passes its environment to `start`, so a wrapper in `dir` stands in for
 * a containerd started with `RUNCTS_SHIM_GROUP=namespace`. Measured in the burst and grouping
 * sections.
 */
function nsGroupedRuntime(dir: string, ours: string, namespace: string): Runtime {
  const wrapper = path.join(dir, 'containerd-shim-runcts-ns');
  fs.writeFileSync(wrapper, `#!/bin/sh\nRUNCTS_SHIM_GROUP=namespace exec ${ours} "$@"\n`, {
    mode: 0o755,
  });
  return { label: NS_GROUPED, runtime: wrapper, binary: ours, groupKey: `namespace:${namespace}` };
}

async function cleanup(): Promise<void> {
  const bed = tb;
  if (!bed) return;
  await removeContainers().catch((e: Error) => log(`cleanup: ${e.message}`));
  tb = undefined;
  await bed.destroy(); // kills any shim of ours still running
  sweepSockets();
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench:shim needs root (containerd, runc)');
  for (const cmd of ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2']) {
    if (findCommand(cmd) === undefined) throw new Error(`${cmd} not found in PATH`);
  }
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'examples', 'runc-shim', 'main.js'))) {
    throw new Error('dist/examples/runc-shim is missing: npm run build first');
  }
  const runtimes: Runtime[] = [
    {
      label: 'runc-v2',
      runtime: 'io.containerd.runc.v2',
      binary: findCommand('containerd-shim-runc-v2')!,
    },
    { label: 'runcts', runtime: opts.ours, binary: opts.ours },
    ...opts.variants,
  ];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-shim-'));
  if (!opts.noCold) {
    // The same shim with every action cold: a copy of the launcher packaged with --no-warm.
    const cold = path.join(tmp, 'containerd-shim-runctscold-v2');
    packageShim({
      entry: path.join(repoRoot, 'dist', 'examples', 'runc-shim', 'main.js'),
      output: cold,
      warm: false,
    });
    runtimes.splice(2, 0, { label: COLD, runtime: cold, binary: cold });
  }
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  log('starting the testbed (private containerd 1.6)…');
  // containerd passes its environment to the shims. NODE_EXTRA_CA_CERTS (set on this kind of VM,
  // not in containerd's systemd unit) makes every node start parse a CA bundle: ~45 ms, ~1 MiB.
  const envRemoved: string[] = [];
  if (!opts.keepEnv && process.env.NODE_EXTRA_CA_CERTS !== undefined) {
    delete process.env.NODE_EXTRA_CA_CERTS;
    envRemoved.push('NODE_EXTRA_CA_CERTS');
  }
  tb = await Testbed.start({
    namespace: 'bench-shim',
    ...(process.env.I14_GC_LOG ? { env: { I14_GC_LOG: process.env.I14_GC_LOG } } : {}),
  });
  socketBase = { address: tb.address, namespace: tb.namespace };
  const nsGrouped = nsGroupedRuntime(tmp, opts.ours, tb.namespace);
  const report: Report = {
    machine: machine(tb.snapshotter, envRemoved),
    options: {
      runs: opts.runs,
      warmup: opts.warmup,
      floorRuns: opts.floorRuns,
      traceRuns: opts.traceRuns,
      memShims: opts.memShims,
      groupSize: opts.groupSize,
      groupRuns: opts.groupRuns,
      burst: opts.burst,
      burstRounds: opts.burstRounds,
      burstBackToBack: opts.burstBackToBack,
      burstFirst: opts.burstFirst,
      burstIdleMs: opts.burstIdleMs,
      serialBlock: opts.serialBlock,
      gapMs: opts.gapMs,
      settleMs: opts.settleMs,
      memGapMs: opts.memGapMs,
      memSettleMs: opts.memSettleMs,
      memTimeline: opts.memTimeline,
      rpcCalls: opts.rpcCalls,
      rpcSeconds: opts.rpcSeconds,
      json: opts.json,
      sections: [...opts.sections],
      runtimes,
    },
  };
  const burst = async (): Promise<void> => {
    if (opts.sections.has('burst') && opts.burst > 0) {
      log(`burst (${opts.burst} containers at once, ${opts.burstRounds} round(s) per runtime)…`);
      report.burst = await measureBurst([...active(runtimes), nsGrouped], opts);
    }
  };
  try {
    if (opts.burstFirst) await burst();
    if (opts.sections.has('latency')) {
      if (opts.floorRuns > 0) {
        log(`binary start-up floors (${opts.floorRuns} × -v each)…`);
        report.floors = await measureFloors(active(runtimes), opts.floorRuns);
      }
      log(`start latency (${opts.warmup} warm-up + ${opts.runs} runs per runtime)…`);
      report.latency = await measureLatency(active(runtimes), opts);
    }
    if (!opts.burstFirst) await burst();
    if (opts.sections.has('trace') && opts.traceRuns > 0) {
      const perf = findCommand('perf');
      const ok = await traceAvailable(perf);
      if (ok === true) {
        log(`breakdown (${opts.traceRuns} perf-traced runs per runtime)…`);
        report.trace = await measureTrace(active(runtimes), opts.traceRuns, perf!, tmp);
      } else {
        report.trace = { skipped: ok };
      }
    }
    if (opts.sections.has('memory')) {
      log(`memory (${opts.memShims} shims per runtime)…`);
      report.sharers = {};
      const mem = await measureMemory(
        active(runtimes).filter((rt) => rt.label !== COLD),
        opts,
        report.sharers,
      );
      report.memory = mem.steady;
      report.memoryFresh = mem.fresh;
      report.standbys = {
        count: standbys.length,
        private: median(standbys.map((s) => s.private)),
        pss: median(standbys.map((s) => s.pss)),
        rss: median(standbys.map((s) => s.rss)),
      };
    }
    if (opts.sections.has('group')) {
      log(`grouping (${opts.groupSize} containers in one shim per runtime)…`);
      const grouped: Runtime[] = [...active(runtimes).filter((rt) => rt.label !== COLD), nsGrouped];
      const group = await measureGroup(grouped, opts);
      report.group = group.memory;
      report.groupLatency = group.latency;
    }
    if (opts.sections.has('rpc')) {
      log(
        `Task RPC cost (${opts.rpcCalls} State calls, ${opts.rpcSeconds} s at 10/s, ${opts.rpcSeconds} s idle per runtime)…`,
      );
      report.rpc = await measureRpcs(active(runtimes), opts);
    }
  } finally {
    log('cleaning up…');
    await cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  report.leftoverSockets = leftoverSockets;
  process.stdout.write(
    opts.json ? JSON.stringify(report, null, 2) + '\n' : markdown(report, runtimes),
  );
}

main().catch(async (err: Error) => {
  log(`bench:shim: ${err.stack ?? err.message}`);
  await cleanup().catch((e: Error) => log(`cleanup failed: ${e.message}`));
  process.exit(1);
});
