// node dist/bench/shim-cpu.js [--runs N] [--burst N] [--rounds N] [--burst-warmup N]
// [--back-to-back] [--ours PATH]: where the CPU of
// a container goes, per process role, ours (warm start) against containerd-shim-runc-v2, under
// one private containerd (test/helpers/testbed). A benchmark, not a test.
//
// System-wide `perf record` of cpu-clock samples (one per 100 µs of CPU) plus process fork/exec
// events, while N `ctr run --rm /bin/true` run one after another, then while `--rounds` bursts
// of `--burst` containers start at once and are removed (as bench/shim.ts's burst: each round from
// a settled machine, no boot of the pool under way and no shim left, then 300 ms idle, unless
// `--back-to-back`; after `--burst-warmup` untimed rounds, default 1, so that the pool has grown
// to the burst as it has for any burst but a machine's first). Samples count
// only for processes descended from this bench (ctr), its containerd, and the standbys of its
// pool (in the bursts, also by phase: while the `ctr run`s go on, and while they are removed); each is put in a role: ctr, containerd, runc, the container, the shim's start / daemon /
// delete processes (runc-v2: the k-th exec of its binary in a serial run; ours: the launcher,
// the action server and the daemon named by the warm-start trace), standby boots. Figures are
// CPU ms per container. Needs root and perf.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findCommand } from '../test/helpers/env';
import { Testbed } from '../test/helpers/testbed';
import { settle } from './settle';
import { standbyPids, traceLines } from '../test/helpers/warm';

const repoRoot = path.resolve(__dirname, '..', '..');
const PERIOD_NS = 250_000;
/** Settled bursts (bench/settle.ts): the longest wait, then the idle time before a round. */
const SETTLE_CAP_MS = 10_000;
const SETTLE_IDLE_MS = 300;

interface Opts {
  runs: number;
  burst: number;
  rounds: number;
  warmupRounds: number;
  backToBack: boolean;
  ours: string;
}

function parse(argv: string[]): Opts {
  const o: Opts = {
    runs: 10,
    burst: 10,
    rounds: 2,
    warmupRounds: 1,
    backToBack: false,
    ours: path.join(repoRoot, 'examples', 'runc-shim', 'containerd-shim-runcts-v2'),
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--back-to-back') {
      o.backToBack = true;
      continue;
    }
    if (argv[i] === '--runs') o.runs = Number(v);
    else if (argv[i] === '--burst') o.burst = Number(v);
    else if (argv[i] === '--rounds') o.rounds = Number(v);
    else if (argv[i] === '--burst-warmup') o.warmupRounds = Number(v);
    else if (argv[i] === '--ours') o.ours = path.resolve(v!);
    else throw new Error(`unknown option ${argv[i]}`);
    i++;
  }
  return o;
}

const log = (m: string): void => void process.stderr.write(`${m}\n`);

function run(file: string, args: string[], env = process.env): Promise<number | null> {
  return new Promise((resolve) => {
    const c = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    c.once('close', (code) => resolve(code));
    c.once('error', () => resolve(-1));
  });
}

let tb: Testbed;
let seq = 0;

function ctr(rt: string, mode: string[], cmd: string[]): Promise<number | null> {
  const id = `cpu-${process.pid}-${++seq}`;
  return run(
    'ctr',
    [
      '-a',
      tb.address,
      '-n',
      tb.namespace,
      'run',
      ...mode,
      '--fifo-dir',
      tb.fifoDir,
      '--runtime',
      rt,
      tb.image,
      id,
      ...cmd,
    ],
    { ...process.env, CONTAINERD_SNAPSHOTTER: tb.snapshotter },
  ).then((code) => {
    if (code !== 0) log(`ctr run ${id} exited ${code}`);
    return code;
  });
}

async function rmAll(): Promise<void> {
  const list = await tb.ctr(['containers', 'ls', '-q']);
  const ids = list.stdout.split('\n').filter(Boolean);
  await Promise.all(
    ids.map(async (id) => {
      await tb.ctr(['tasks', 'rm', '-f', id], { timeoutMs: 30_000 });
      await tb.ctr(['containers', 'rm', id], { timeoutMs: 30_000 });
    }),
  );
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const left = await tb.leftovers();
    if (left.shims.length + left.bundles.length === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `work` under a system-wide perf record; returns `perf script` output. */
let perfPid = 0;

async function record(tmp: string, work: () => Promise<void>): Promise<string> {
  const data = path.join(tmp, 'perf.data');
  const perf = spawn(
    'perf',
    [
      'record',
      '-q',
      '-a',
      // process.hrtime's clock: samples are placed in the bursts' phases (burstPhases)
      '-k',
      'CLOCK_MONOTONIC',
      '-o',
      data,
      '-e',
      'cpu-clock',
      '-c',
      String(PERIOD_NS),
      '-e',
      'sched:sched_process_fork',
      '-e',
      'sched:sched_process_exec',
      '-e',
      'syscalls:sys_enter_accept4',
    ],
    { stdio: 'ignore' },
  );
  perfPid = perf.pid!;
  await new Promise((r) => setTimeout(r, 1500)); // perf is recording
  await work();
  await new Promise((r) => setTimeout(r, 300));
  const done = new Promise((r) => perf.once('close', r));
  perf.kill('SIGINT');
  await done;
  const out: Buffer[] = [];
  const script = spawn('perf', ['script', '-i', data, '-F', 'comm,pid,tid,time,event,trace'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  script.stdout.on('data', (b: Buffer) => out.push(b));
  await new Promise((r) => script.once('close', r));
  fs.rmSync(data, { force: true });
  return Buffer.concat(out).toString('utf8');
}

const LINE = /^\s*(.*?)\s+(\d+)\/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$/;

/** One burst round on CLOCK_MONOTONIC (s): its `ctr run`s from `start`, its removal from `removal` to `end`. */
interface Round {
  start: number;
  removal: number;
  end: number;
}
/** The rounds of the burst being measured (filled by `burst`, read by `measure`). */
let burstRounds: Round[] = [];
const now = (): number => Number(process.hrtime.bigint()) / 1e9;

function phaseOf(t: number, rounds: Round[]): 'starts' | 'removal' | 'between' {
  for (const r of rounds) {
    if (t >= r.start && t < r.removal) return 'starts';
    if (t >= r.removal && t < r.end) return 'removal';
  }
  return 'between';
}

type Roles = Map<string, number>;

/**
 * CPU ms per role. `roots`: pids whose descendants count; `known`: pid -> role decided from
 * outside (the warm trace); `shimComm`: the shim binary's comm (runc-v2 roles by exec order).
 */
function account(
  text: string,
  roots: Set<number>,
  known: Map<number, string>,
  containerd: number,
  go: boolean,
  serialGo: boolean,
  rounds: Round[] = [],
  byPhase?: Map<string, Roles>,
): Roles {
  const ours = new Set<number>(roots); // tids and pids
  const tgid = new Map<number, number>();
  const role = new Map<number, string>(known);
  const roles: Roles = new Map();
  let goExecs = 0;
  const accepted = new Set<number>();
  const pids = new Map<string, Set<number>>();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, comm, pidS, tidS, , event, rest] = m;
    const pid = Number(pidS);
    const tid = Number(tidS);
    if (event === 'sched:sched_process_fork') {
      const c = /child_pid=(\d+)/.exec(rest!);
      if (c && (ours.has(pid) || ours.has(tid))) {
        ours.add(Number(c[1]));
        tgid.set(Number(c[1]), pid); // a thread or a process: fixed by the samples' pid
      }
      continue;
    }
    if (event === 'sched:sched_process_exec') {
      if (!ours.has(pid)) continue;
      const f = /filename=(\S+)/.exec(rest!)?.[1] ?? '';
      if (serialGo && f.endsWith('containerd-shim-runc-v2')) {
        role.set(pid, ['shim start', 'shim daemon', 'shim delete'][goExecs++ % 3]!);
      }
      continue;
    }
    if (event === 'syscalls:sys_enter_accept4') {
      accepted.add(pid); // a standby's first accept is its handover
      continue;
    }
    if (!event!.startsWith('cpu-clock')) continue;
    if (!ours.has(pid) && !ours.has(tid)) continue;
    if (pid === process.pid || pid === perfPid) continue; // this bench, perf
    let r = role.get(pid);
    if (comm === 'node' && !accepted.has(pid)) r = 'standby boot / cold node';
    if (r === undefined) {
      if (pid === containerd) r = 'containerd';
      else if (comm === 'ctr') r = 'ctr';
      else if (comm!.startsWith('runc')) r = 'runc';
      else if (comm === 'perf') r = 'perf';
      else if (comm === 'containerd-shim') r = go ? 'shim (runc-v2, all)' : 'launcher';
      else if (comm === 'node') r = 'cold node after its first accept';
      else if (comm === 'true' || comm === 'sleep') r = 'container';
      else r = `other (${comm})`;
    }
    roles.set(r, (roles.get(r) ?? 0) + PERIOD_NS / 1e6);
    if (byPhase) {
      const ph = phaseOf(Number(m[4]), rounds);
      if (!byPhase.has(ph)) byPhase.set(ph, new Map());
      const pr = byPhase.get(ph)!;
      pr.set(r, (pr.get(r) ?? 0) + PERIOD_NS / 1e6);
    }
    if (!pids.has(r)) pids.set(r, new Set());
    pids.get(r)!.add(pid);
  }
  for (const [r, set] of pids) log(`  ${r}: ${set.size} processes`);
  return roles;
}

/** Standby pid -> role from the warm trace lines since `from` (launchers are comm-classified). */
function warmRoles(from: number): Map<number, string> {
  const m = new Map<number, string>();
  for (const line of traceLines(tb.warmLog).slice(from)) {
    const r = /^(start|daemon|delete) warm standby=(\d+)/.exec(line);
    if (!r) continue;
    const pid = Number(r[2]);
    if (r[1] === 'daemon') m.set(pid, 'shim daemon');
    else if (!m.has(pid)) m.set(pid, 'action server');
  }
  return m;
}

async function measure(
  label: string,
  rt: string,
  go: boolean,
  serial: boolean,
  tmp: string,
  work: () => Promise<void>,
  containers: number,
): Promise<Roles> {
  const from = traceLines(tb.warmLog).length;
  const roots = new Set<number>([process.pid, tb.pid!, ...standbyPids(tb.warmRoot)]);
  const text = await record(tmp, work);
  if (process.env.SHIM_CPU_DUMP)
    fs.writeFileSync(`${process.env.SHIM_CPU_DUMP}-${label.replace(/ /g, '_')}`, text);
  const known = warmRoles(from);
  const kinds = new Map<string, number>();
  for (const l of traceLines(tb.warmLog).slice(from)) {
    const k = l.replace(/\d+/g, 'N');
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  for (const [k, n] of kinds) log(`  trace ${n}× ${k}`);
  for (const p of known.keys()) roots.add(p);
  const rounds = burstRounds;
  burstRounds = [];
  const byPhase = new Map<string, Roles>();
  const roles = account(text, roots, known, tb.pid!, go, go && serial, rounds, byPhase);
  for (const [k, v] of roles) roles.set(k, v / containers);
  log(`${label} (${rt}): ${[...roles].map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  if (rounds.length > 0) {
    const wall = (f: (r: Round) => number): number => rounds.reduce((a, r) => a + f(r), 0) * 1000;
    const walls: Record<string, number> = {
      starts: wall((r) => r.removal - r.start),
      removal: wall((r) => r.end - r.removal),
    };
    for (const ph of ['starts', 'removal']) {
      const pr = byPhase.get(ph) ?? new Map<string, number>();
      const cpu = [...pr.values()].reduce((a, b) => a + b, 0);
      phaseLines.push(
        `| ${label} | ${ph} | ${(walls[ph]! / rounds.length).toFixed(0)} | ` +
          `${(cpu / walls[ph]!).toFixed(2)} | ${(cpu / containers).toFixed(1)} | ` +
          `${[...pr]
            .filter(([, v]) => v / containers >= 0.5)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${(v / containers).toFixed(1)}`)
            .join(', ')} |`,
      );
    }
  }
  return roles;
}

/** Rows of the burst's CPU by phase (what runs while its `ctr run`s, then its removal, go on). */
const phaseLines: string[] = [];

function table(title: string, cols: [string, Roles][]): string {
  const keys = [...new Set(cols.flatMap(([, r]) => [...r.keys()]))].sort();
  const rows = keys.map(
    (k) => `| ${k} | ${cols.map(([, r]) => (r.get(k) ?? 0).toFixed(1)).join(' | ')} |`,
  );
  const total = `| **total** | ${cols
    .map(([, r]) => [...r.values()].reduce((a, b) => a + b, 0).toFixed(1))
    .join(' | ')} |`;
  return [
    `${title}`,
    '',
    `| CPU ms per container | ${cols.map(([l]) => l).join(' | ')} |`,
    `| --- | ${cols.map(() => '---:').join(' | ')} |`,
    ...rows,
    total,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (findCommand('perf') === undefined) throw new Error('perf not found');
  delete process.env.NODE_EXTRA_CA_CERTS;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cpu-'));
  tb = await Testbed.start({ namespace: 'bench-cpu' });
  const go = 'io.containerd.runc.v2';
  try {
    for (let i = 0; i < 3; i++) {
      await ctr(go, ['--rm'], ['/bin/true']);
      await ctr(o.ours, ['--rm'], ['/bin/true']);
    }
    const serial = (rt: string) => async (): Promise<void> => {
      for (let i = 0; i < o.runs; i++) {
        await ctr(rt, ['--rm'], ['/bin/true']);
        await new Promise((r) => setTimeout(r, 100)); // the pool's refill is not counted twice
      }
    };
    const round = async (rt: string): Promise<Round> => {
      if (!o.backToBack) {
        const s = await settle(tb, SETTLE_IDLE_MS, SETTLE_CAP_MS);
        if (s.capped) log(`  not settled after ${s.ms} ms: measuring anyway`);
      }
      const start = now();
      await Promise.all(Array.from({ length: o.burst }, () => ctr(rt, ['-d'], ['sleep', '600'])));
      const removal = now();
      await rmAll();
      return { start, removal, end: now() };
    };
    const burst = (rt: string) => async (): Promise<void> => {
      for (let i = 0; i < o.rounds; i++) burstRounds.push(await round(rt));
    };
    const warmBursts = async (rt: string): Promise<void> => {
      for (let i = 0; i < o.warmupRounds; i++) await round(rt);
    };
    const s1 = await measure('serial runc-v2', go, true, true, tmp, serial(go), o.runs);
    const s2 = await measure('serial runcts', o.ours, false, true, tmp, serial(o.ours), o.runs);
    const n = o.burst * o.rounds;
    await warmBursts(go);
    const b1 = await measure('burst runc-v2', go, true, false, tmp, burst(go), n);
    await warmBursts(o.ours);
    const b2 = await measure('burst runcts', o.ours, false, false, tmp, burst(o.ours), n);
    process.stdout.write(
      table(`Serial \`ctr run --rm /bin/true\` × ${o.runs}`, [
        ['runc-v2', s1],
        ['runcts', s2],
      ]) +
        '\n' +
        table(
          `Burst: ${o.burst} at once × ${o.rounds} rounds, then removed ` +
            (o.backToBack
              ? '(back to back)'
              : `(each from a settled machine, after ${o.warmupRounds} untimed round(s))`),
          [
            ['runc-v2', b1],
            ['runcts', b2],
          ],
        ) +
        '\n' +
        [
          'Burst by phase: the `ctr run`s, then the removal (wall ms per round; CPUs busy on ' +
            'average; CPU ms per container in the phase, and by role, largest first)',
          '',
          '| runtime | phase | wall ms | CPUs busy | CPU ms | by role |',
          '| --- | --- | ---: | ---: | ---: | --- |',
          ...phaseLines,
          '',
        ].join('\n'),
    );
  } finally {
    await rmAll().catch(() => undefined);
    await tb.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  log(e.stack ?? e.message);
  process.exit(1);
});
