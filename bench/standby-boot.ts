// node dist/bench/standby-boot.js [--boots N] [--settle MS] [LABEL=BINARY ...]: the CPU of one
// standby boot (the Node process each container costs in the background under warm start), for
// packaged shim binaries side by side. A benchmark, not a test.
//
// Each boot: `<binary> --containerd-shim-prewarm` into a private pool (CONTAINERD_SHIM_WARM_DIR,
// a pool of one), wait until the standby published its socket, let it settle (V8's background
// compiles and GC helpers finish), read the CPU of every thread (/proc/<pid>/task/*/schedstat,
// ns), SIGKILL it. Two untimed boots per binary first (the first writes the boot cache), then
// the binaries alternate, the first of each round rotating. NODE_EXTRA_CA_CERTS is removed from
// the environment (node parses that bundle at every start: ~28 ms here), as bench:shim does.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '..', '..');

interface Variant {
  label: string;
  binary: string;
  dir: string;
  total: number[];
  main: number[];
  workers: number[];
  ready: number[];
}

interface Opts {
  boots: number;
  settleMs: number;
  variants: Variant[];
}

const USAGE = `usage: node dist/bench/standby-boot.js [--boots N] [--settle MS] [LABEL=BINARY ...]
  --boots N     timed boots per binary (default 20), after 2 untimed ones
  --settle MS   wait after the standby is ready before reading its CPU (default 400)
  LABEL=BINARY  a packaged shim binary (default ours=examples/runc-shim/containerd-shim-runcts-v2);
                the first one is the base of the ratios`;

function parse(argv: string[]): Opts {
  const o: Opts = { boots: 20, settleMs: 400, variants: [] };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'standby-boot-'));
  const add = (label: string, binary: string): void => {
    const dir = path.join(root, label);
    fs.mkdirSync(dir, { mode: 0o700 });
    const file = path.resolve(binary);
    fs.accessSync(file, fs.constants.X_OK);
    o.variants.push({ label, binary: file, dir, total: [], main: [], workers: [], ready: [] });
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--boots') o.boots = Number(argv[++i]);
    else if (a === '--settle') o.settleMs = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (/^[\w.-]+=/.test(a)) add(a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1));
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (!Number.isInteger(o.boots) || o.boots < 1) throw new Error('--boots must be ≥ 1');
  if (o.variants.length === 0) {
    add('ours', path.join(repoRoot, 'examples', 'runc-shim', 'containerd-shim-runcts-v2'));
  }
  return o;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** CPU ns of each thread of `pid`, the main thread first. */
function threadCpu(pid: number): { main: number; workers: number } {
  let main = 0;
  let workers = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let ns: number;
    try {
      ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      continue; // a thread that ended (its CPU is lost: none do while a standby waits)
    }
    if (Number(tid) === pid) main += ns;
    else workers += ns;
  }
  return { main, workers };
}

const started = new Set<number>();

async function boot(v: Variant, settleMs: number, record: boolean): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERD_SHIM_WARM_DIR: v.dir,
    CONTAINERD_SHIM_WARM_POOL: '1',
    CONTAINERD_SHIM_WARM_MAX: '1',
  };
  delete env.NODE_EXTRA_CA_CERTS;
  const t0 = process.hrtime.bigint();
  const pool = execFileSync(v.binary, ['--containerd-shim-prewarm'], { env }).toString().trim();
  if (!path.isAbsolute(pool)) throw new Error(`${v.label}: prewarm printed no pool (${pool})`);
  let pid = 0;
  for (let i = 0; i < 3000 && pid === 0; i++) {
    const name = fs.readdirSync(pool).find((n) => n.startsWith('s-'));
    if (name !== undefined) pid = Number(name.split('-')[2]);
    else await sleep(5);
  }
  if (pid === 0) throw new Error(`${v.label}: no standby ready after 15 s`);
  started.add(pid);
  const ready = Number(process.hrtime.bigint() - t0) / 1e6;
  await sleep(settleMs);
  const cpu = threadCpu(pid);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 1000 && alive(pid); i++) await sleep(5);
  started.delete(pid);
  for (const n of fs.readdirSync(pool)) {
    if (/^[sabt]-/.test(n)) fs.rmSync(path.join(pool, n), { force: true });
  }
  if (!record) return;
  v.main.push(cpu.main / 1e6);
  v.workers.push(cpu.workers / 1e6);
  v.total.push((cpu.main + cpu.workers) / 1e6);
  v.ready.push(ready);
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const load = (): string =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  const before = load();
  try {
    for (const v of o.variants) for (let i = 0; i < 2; i++) await boot(v, o.settleMs, false);
    for (let round = 0; round < o.boots; round++) {
      const k = round % o.variants.length;
      for (const v of [...o.variants.slice(k), ...o.variants.slice(0, k)]) {
        await boot(v, o.settleMs, true);
      }
    }
  } finally {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(path.dirname(o.variants[0]!.dir), { recursive: true, force: true });
  }
  const base = median(o.variants[0]!.total);
  const out = [
    `Standby boot CPU (ms, medians of ${o.boots} boots each, interleaved; load ${before} before, ${load()} after)`,
    '',
    '| binary | total | main thread | other threads | vs first | ready after (wall) |',
    '| ------ | ----: | ----------: | ------------: | -------: | -----------------: |',
  ];
  for (const v of o.variants) {
    out.push(
      `| ${v.label} | ${median(v.total).toFixed(1)} | ${median(v.main).toFixed(1)} | ` +
        `${median(v.workers).toFixed(1)} | ${(median(v.total) / base).toFixed(3)}× | ` +
        `${median(v.ready).toFixed(0)} |`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
