// npm run bench:cri: pods through containerd's CRI API, as the kubelet drives them, under the
// `runc` handler (that release's containerd-shim-runc-v2) and the `runcts` handler
// (examples/runc-shim), on each containerd generation (test/helpers/cri-testbed). A benchmark,
// not a test: no figure fails the run.
//
// A batch is `--pods` pods (default 10) of `--containers` containers (default 2) under one
// handler, phase by phase, one call at a time: RunPodSandbox for every pod; CreateContainer +
// StartContainer for each container; StopContainer + RemoveContainer; StopPodSandbox +
// RemovePodSandbox. pods/s = pods / the batch's total time. Between starting and stopping, after
// `--settle-ms`, each pod's shim processes are measured (RSS, PSS, private from smaps_rollup).
// Batches of the two handlers alternate ABBA over `--rounds` (default 2) after one warm-up pod
// each; the machine is shared and noisy, so compare ratios from one run, and read the load.
//
//   node dist/bench/cri.js [--pods N] [--containers N] [--rounds N] [--settle-ms N]
//                          [--generations 1.6,1.7,2.1] [--keep-env] [--json]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

import { CriTestbed, HANDLERS } from '../test/helpers/cri-testbed';
import type { Handler } from '../test/helpers/cri-testbed';
import { containerdGenerations, findContainerd, findCriProto } from '../test/helpers/peers';
import type { ContainerdGeneration } from '../test/helpers/peers';
import { readRollup } from './shim-smaps';

const PHASES = ['RunPodSandbox', 'create+start', 'stop+remove', 'StopPodSandbox+remove'] as const;
type Phase = (typeof PHASES)[number];
const handlers = Object.keys(HANDLERS) as Handler[];
/** A container that leaves at once on SIGTERM (so StopContainer measures the shim, not a grace). */
const WORKLOAD = ['sh', '-c', 'trap "exit 0" TERM; sleep 300 & wait'];

interface Options {
  pods: number;
  containers: number;
  rounds: number;
  settleMs: number;
  generations: ContainerdGeneration[];
  keepEnv: boolean;
  json: boolean;
}

interface Memory {
  /** Shim processes per pod. */
  shims: number;
  /** kB per pod: sums over the pod's shim processes. */
  rss: number;
  pss: number;
  private: number;
}

interface HandlerResult {
  pods: number;
  totalMs: number;
  /** ms per pod, over all batches. */
  phases: Record<Phase, number>;
  /** Medians over the pods measured. */
  memory: Memory;
}

interface GenerationResult {
  generation: ContainerdGeneration;
  containerd: string;
  bootMs: number;
  load: { before: number[]; after: number[] };
  handlers: Record<Handler, HandlerResult>;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    pods: 10,
    containers: 2,
    rounds: 2,
    settleMs: 5000,
    generations: containerdGenerations(),
    keepEnv: false,
    json: false,
  };
  const positive = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} wants a non-negative integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    switch (arg) {
      case '--pods':
        opts.pods = Math.max(1, positive(arg, argv[++i]));
        break;
      case '--containers':
        opts.containers = positive(arg, argv[++i]);
        break;
      case '--rounds':
        opts.rounds = Math.max(1, positive(arg, argv[++i]));
        break;
      case '--settle-ms':
        opts.settleMs = positive(arg, argv[++i]);
        break;
      case '--generations': {
        const wanted = (argv[++i] ?? '').split(',');
        opts.generations = (['1.6', '1.7', '2.1'] as const).filter((g) => wanted.includes(g));
        if (opts.generations.length === 0) throw new Error('--generations: 1.6, 1.7 and/or 2.1');
        break;
      }
      case '--keep-env':
        opts.keepEnv = true;
        break;
      case '--json':
        opts.json = true;
        break;
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return opts;
}

const log = (msg: string): void => void process.stderr.write(msg + '\n');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const load = (): number[] => os.loadavg().map((v) => Math.round(v * 100) / 100);

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The shim processes serving a pod: `-id <pod or container id>` among this testbed's shims. */
function podShims(tb: CriTestbed, ids: Set<string>): number[] {
  return tb.findShims().filter((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('-id');
      return i >= 0 && ids.has(argv[i + 1]!);
    } catch {
      return false;
    }
  });
}

interface Batch {
  totalMs: number;
  phases: Record<Phase, number>;
  memory: Memory[];
}

/** One batch of pods under `handler`, phase by phase. */
async function batch(
  tb: CriTestbed,
  handler: Handler,
  tag: string,
  opts: Pick<Options, 'pods' | 'containers' | 'settleMs'>,
): Promise<Batch> {
  const phases = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  const timed = async <T>(phase: Phase, call: () => Promise<T>): Promise<T> => {
    const begin = now();
    try {
      return await call();
    } finally {
      phases[phase] += now() - begin;
    }
  };
  const pods: { id: string; config: Record<string, unknown>; containers: string[] }[] = [];
  for (let i = 0; i < opts.pods; i++) {
    const pod = await timed('RunPodSandbox', () => tb.runPod(handler, `${tag}-${i}`));
    pods.push({ ...pod, containers: [] });
  }
  for (const pod of pods) {
    for (let c = 0; c < opts.containers; c++) {
      pod.containers.push(await timed('create+start', () => tb.container(pod, `c${c}`, WORKLOAD)));
    }
  }
  await sleep(opts.settleMs);
  const memory = pods.map((pod) => {
    const shims = podShims(tb, new Set([pod.id, ...pod.containers]));
    const rollups = shims.map((pid) => readRollup(pid));
    const sum = (k: 'rss' | 'pss' | 'private'): number => rollups.reduce((a, r) => a + r[k], 0);
    return { shims: shims.length, rss: sum('rss'), pss: sum('pss'), private: sum('private') };
  });
  for (const pod of pods) {
    for (const id of pod.containers) {
      await timed('stop+remove', async () => {
        await tb.cri.runtime('StopContainer', { container_id: id, timeout: 10 });
        await tb.cri.runtime('RemoveContainer', { container_id: id });
      });
    }
  }
  for (const pod of pods) {
    await timed('StopPodSandbox+remove', async () => {
      await tb.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod.id });
      await tb.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod.id });
    });
    await tb.removePodCgroups(pod);
  }
  const totalMs = PHASES.reduce((a, p) => a + phases[p], 0);
  return { totalMs, phases, memory };
}

async function measureGeneration(
  generation: ContainerdGeneration,
  opts: Options,
  proto: string,
): Promise<GenerationResult | undefined> {
  const peer = findContainerd(generation);
  if (!peer) {
    log(`containerd ${generation}: not found (bash scripts/ci-setup.sh), skipped`);
    return undefined;
  }
  // containerd passes its environment to the shims; NODE_EXTRA_CA_CERTS (set on this kind of
  // VM, not in containerd's service unit) makes every node start parse a CA bundle.
  const dropEnv = opts.keepEnv ? [] : ['NODE_EXTRA_CA_CERTS'];
  const tb = await CriTestbed.start(peer, proto, { dropEnv });
  current = tb;
  const before = load();
  try {
    log(`containerd ${generation}: warm-up (one pod per handler)…`);
    for (const h of handlers)
      await batch(tb, h, `warm-${h}`, { pods: 1, containers: 1, settleMs: 0 });
    const batches: Record<Handler, Batch[]> = { runc: [], runcts: [] };
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? handlers : [...handlers].reverse();
      for (const h of order) {
        log(
          `containerd ${generation}: round ${round + 1}/${opts.rounds}, ${h}: ${opts.pods} pods × ${opts.containers} containers…`,
        );
        batches[h].push(await batch(tb, h, `r${round}-${h}`, opts));
      }
    }
    const left = await tb.settle(20_000);
    const leftover = Object.entries(left).filter(([, v]) => (v as unknown[]).length > 0);
    if (leftover.length > 0) log(`containerd ${generation}: left behind: ${JSON.stringify(left)}`);
    const summarize = (list: Batch[]): HandlerResult => {
      const pods = list.length * opts.pods;
      const phases = Object.fromEntries(
        PHASES.map((p) => [p, list.reduce((a, b) => a + b.phases[p], 0) / pods]),
      ) as Record<Phase, number>;
      const mem = list.flatMap((b) => b.memory);
      return {
        pods,
        totalMs: list.reduce((a, b) => a + b.totalMs, 0),
        phases,
        memory: {
          shims: median(mem.map((m) => m.shims)),
          rss: median(mem.map((m) => m.rss)),
          pss: median(mem.map((m) => m.pss)),
          private: median(mem.map((m) => m.private)),
        },
      };
    };
    const version = (() => {
      try {
        return (
          execFileSync(peer.containerd, ['--version'], { encoding: 'utf8' }).split(/\s+/)[2] ?? ''
        );
      } catch {
        return 'unknown';
      }
    })();
    return {
      generation,
      containerd: version,
      bootMs: tb.bootMs,
      load: { before, after: load() },
      handlers: { runc: summarize(batches.runc), runcts: summarize(batches.runcts) },
    };
  } finally {
    current = undefined;
    await tb.destroy();
  }
}

/** The testbed in use, torn down on SIGINT/SIGTERM too. */
let current: CriTestbed | undefined;

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join(
    '\n',
  );
}

function markdown(results: GenerationResult[], opts: Options): string {
  const cpu =
    /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const runc = (() => {
    try {
      return execFileSync('runc', ['--version'], { encoding: 'utf8' })
        .split('\n')[0]!
        .replace('runc version ', '');
    } catch {
      return 'unknown';
    }
  })();
  const out: string[] = [
    `Machine: ${cpu.trim()}, ${os.cpus().length} vCPU, ${Math.round(os.totalmem() / 1048576)} MiB, ${os.type()} ${os.release()}; node ${process.version}; runc ${runc}; ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}.`,
    `Method: ${opts.pods} pods × ${opts.containers} containers per batch, one CRI call at a time; batches of the two handlers alternating (ABBA) over ${opts.rounds} round(s) after a warm-up pod each; shim memory measured ${opts.settleMs} ms after the containers started.`,
    '',
  ];
  const f = (n: number, digits = 0): string => n.toFixed(digits);
  const mib = (kb: number): string => (kb / 1024).toFixed(1);
  for (const r of results) {
    const base = r.handlers.runc;
    const pps = (h: HandlerResult): number => (h.pods * 1000) / h.totalMs;
    out.push(
      `#### containerd ${r.containerd} (load ${r.load.before.join(' ')} before, ${r.load.after.join(' ')} after)`,
      '',
      table(
        ['handler', 'pods/s', 'vs runc', ...PHASES.map((p) => `${p} ms/pod`)],
        handlers.map((h) => {
          const x = r.handlers[h];
          return [
            h,
            f(pps(x), 2),
            `${f(pps(x) / pps(base), 2)}×`,
            ...PHASES.map((p) => `${f(x.phases[p])} (${f(x.phases[p] / base.phases[p], 1)}×)`),
          ];
        }),
      ),
      '',
      table(
        [
          'handler',
          'shim processes / pod',
          'RSS MiB / pod',
          'PSS MiB / pod',
          'private MiB / pod',
          'RSS vs runc',
          'PSS vs runc',
        ],
        handlers.map((h) => {
          const m = r.handlers[h].memory;
          return [
            h,
            f(m.shims),
            mib(m.rss),
            mib(m.pss),
            mib(m.private),
            `${f(m.rss / base.memory.rss, 2)}×`,
            `${f(m.pss / base.memory.pss, 2)}×`,
          ];
        }),
      ),
      '',
    );
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    void (current?.destroy() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (process.getuid?.() !== 0) throw new Error('bench:cri needs root (containerd, runc, CNI)');
  const proto = findCriProto();
  if (!proto)
    throw new Error(
      'CRI api.proto missing: bash scripts/debian-peers.sh sid golang-k8s-cri-api-dev',
    );
  const results: GenerationResult[] = [];
  for (const generation of opts.generations) {
    const r = await measureGeneration(generation, opts, proto);
    if (r) results.push(r);
  }
  process.stdout.write(
    opts.json ? JSON.stringify(results, null, 2) + '\n' : markdown(results, opts) + '\n',
  );
}

main().catch((err: Error) => {
  log(`bench:cri: ${err.stack ?? err.message}`);
  process.exit(1);
});
