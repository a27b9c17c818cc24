// `ttrpc bench`: a load generator for one unary method.
//
// Closed loop (default): `-c` callers share the connections, each sending its next call when the
// previous one answered. Open loop (`--rate R`): call i is due at start + i/R whether or not
// earlier calls have answered; at most `-c` are in flight and a due call waits for a free slot.
// Its latency runs from the time it was *due*, not from when it was sent, so time spent queued
// behind a stalled server is counted (the coordinated-omission correction of wrk2 and
// HdrHistogram) instead of disappearing from the percentiles.
//
// `--compare <address2>` measures two targets with the same plan, interleaved in short slices
// (A B B A A B …, so a drift of the machine's speed over time hits both alike).
import { performance } from 'node:perf_hooks';

import type { Client } from '../ttrpc';
import { UsageError } from './args';
import { encodeRequests, readRequestText } from './call';
import { Histogram } from './histogram';
import type { ProtoRegistry } from './protos';
import { connectTarget, errorCodeName } from './target';

export interface BenchOptions {
  address: string;
  /** A second target, measured interleaved with the first. */
  compare?: string;
  method: string;
  request?: string;
  metadata: [string, string][];
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Closed loop: callers; open loop: calls in flight at most. */
  concurrency: number;
  connections: number;
  /** Measured calls (per target), or */
  calls?: number;
  /** measuring time (per target). */
  durationMs?: number;
  /** Open loop: calls per second (per target). */
  rate?: number;
  warmupCalls?: number;
  warmupMs?: number;
  /** Interleaved slices per target in --compare mode. */
  slices?: number;
  /** Significant digits of the latency histogram. */
  digits: number;
  progress: boolean;
  /** Where the progress line goes (stderr); TTY lines are rewritten in place. */
  progressStream?: NodeJS.WriteStream;
}

/** What one target did during the measured part of the run. */
export class Tally {
  readonly histogram: Histogram;
  ok = 0;
  readonly errors = new Map<string, number>();
  /** Open loop: how late each call was sent after it was due (the generator's own lag), µs. */
  readonly sendDelay: Histogram;
  /** Time spent measuring this target (sum of its slices). */
  activeMs = 0;

  constructor(digits: number) {
    this.histogram = new Histogram(digits);
    this.sendDelay = new Histogram(digits);
  }

  get errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  get calls(): number {
    return this.ok + this.errorCount;
  }

  fail(err: unknown): void {
    const name = errorCodeName(err);
    this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
  }
}

export interface Target {
  address: string;
  clients: Client[];
  tally: Tally;
}

type Budget = { calls: number } | { durationMs: number };

/** Shared by every loop: a stop request (SIGINT) or a lost connection ends the run. */
export interface Control {
  stopped: boolean;
  lost?: { address: string; error: unknown };
}

type Invoke = (client: Client) => Promise<unknown>;

function closedLoop(
  target: Target,
  tally: Tally,
  budget: Budget,
  concurrency: number,
  invoke: Invoke,
  control: Control,
): Promise<void> {
  const start = performance.now();
  const end = 'durationMs' in budget ? start + budget.durationMs : Infinity;
  const limit = 'calls' in budget ? budget.calls : Infinity;
  let issued = 0;
  const worker = async (w: number): Promise<void> => {
    const client = target.clients[w % target.clients.length]!;
    while (!control.stopped && issued < limit && performance.now() < end) {
      issued++;
      const sent = performance.now();
      try {
        await invoke(client);
        tally.ok++;
      } catch (err) {
        tally.fail(err);
        if (client.closed) {
          control.stopped = true;
          control.lost ??= { address: target.address, error: err };
        }
      }
      tally.histogram.record((performance.now() - sent) * 1000);
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  return Promise.all(workers).then(() => {
    tally.activeMs += performance.now() - start;
  });
}

function openLoop(
  target: Target,
  tally: Tally,
  budget: Budget,
  rate: number,
  maxInFlight: number,
  invoke: Invoke,
  control: Control,
): Promise<void> {
  return new Promise((resolve) => {
    const interval = 1000 / rate;
    const total =
      'calls' in budget ? budget.calls : Math.max(1, Math.floor((budget.durationMs * rate) / 1000));
    const start = performance.now();
    let next = 0;
    let inFlight = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;

    const complete = (client: Client, due: number, err?: unknown): void => {
      tally.histogram.record((performance.now() - due) * 1000);
      inFlight--;
      if (err !== undefined && client.closed) {
        control.stopped = true;
        control.lost ??= { address: target.address, error: err };
      }
      pump();
    };
    const launch = (i: number, now: number): void => {
      const due = start + i * interval;
      const client = target.clients[i % target.clients.length]!;
      tally.sendDelay.record((now - due) * 1000);
      inFlight++;
      invoke(client).then(
        () => {
          tally.ok++;
          complete(client, due);
        },
        (err: unknown) => {
          tally.fail(err);
          complete(client, due, err ?? new Error('failed'));
        },
      );
    };
    function pump(): void {
      if (done) return;
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (immediate !== undefined) {
        clearImmediate(immediate);
        immediate = undefined;
      }
      if (control.stopped) next = total;
      const now = performance.now();
      while (next < total && inFlight < maxInFlight && start + next * interval <= now)
        launch(next++, now);
      if (next >= total) {
        if (inFlight === 0) {
          done = true;
          tally.activeMs += performance.now() - start;
          resolve();
        }
        return;
      }
      // With every slot busy, the next completion pumps; the due call's wait counts as latency.
      if (inFlight >= maxInFlight) return;
      // Timers fire on whole milliseconds, late: for a call due within 2 ms, poll every loop
      // iteration instead (I/O still runs in between), so the generator's own lateness stays
      // small next to what it measures.
      const wait = start + next * interval - now;
      if (wait > 2) timer = setTimeout(pump, wait - 1);
      else immediate = setImmediate(pump);
    }
    pump();
  });
}

function runSlice(
  options: BenchOptions,
  target: Target,
  tally: Tally,
  budget: Budget,
  invoke: Invoke,
  control: Control,
): Promise<void> {
  if (options.rate !== undefined)
    return openLoop(target, tally, budget, options.rate, options.concurrency, invoke, control);
  return closedLoop(target, tally, budget, options.concurrency, invoke, control);
}

/** How many interleaved slices each target's budget is cut into in --compare mode. */
export function sliceCount(options: BenchOptions): number {
  if (options.slices !== undefined) return options.slices;
  if (options.calls !== undefined)
    return Math.max(1, Math.min(10, Math.floor(options.calls / Math.max(options.concurrency, 10))));
  return Math.max(2, Math.min(40, Math.round(options.durationMs! / 500)));
}

function sliceBudgets(options: BenchOptions, count: number): Budget[] {
  if (options.calls !== undefined) {
    const base = Math.floor(options.calls / count);
    const extra = options.calls % count;
    return Array.from({ length: count }, (_, i) => ({ calls: base + (i < extra ? 1 : 0) }));
  }
  return Array.from({ length: count }, () => ({ durationMs: options.durationMs! / count }));
}

export type Phase = 'connecting' | 'warm-up' | 'measuring' | 'done';

export interface RunState {
  phase: Phase;
  targets: Target[];
  startedAt: number;
}

/** Connects, warms up and measures; the tallies are in the returned targets. */
export async function runBench(
  registry: ProtoRegistry,
  options: BenchOptions,
  control: Control,
  onState?: (state: RunState) => void,
): Promise<{ targets: Target[]; slices: number }> {
  const resolved = registry.findMethod(options.method);
  if (resolved.kind !== 'unary') {
    throw new UsageError(
      `bench measures unary methods; ${resolved.service}/${resolved.method} is ${resolved.kind}`,
    );
  }
  const [payload] = encodeRequests(resolved, await readRequestText(options.request));
  const callOptions = { timeoutMs: options.timeoutMs, metadata: options.metadata };
  const invoke: Invoke = (client) =>
    client.call(resolved.service, resolved.method, payload!, callOptions);

  const addresses = [options.address, ...(options.compare !== undefined ? [options.compare] : [])];
  const state: RunState = { phase: 'connecting', targets: [], startedAt: performance.now() };
  onState?.(state);
  try {
    for (const address of addresses) {
      const clients: Client[] = [];
      state.targets.push({ address, clients, tally: new Tally(options.digits) });
      for (let i = 0; i < options.connections; i++)
        clients.push(await connectTarget(address, { connectTimeoutMs: options.connectTimeoutMs }));
    }

    if (options.warmupCalls !== undefined || options.warmupMs !== undefined) {
      state.phase = 'warm-up';
      onState?.(state);
      const budget: Budget =
        options.warmupCalls !== undefined
          ? { calls: options.warmupCalls }
          : { durationMs: options.warmupMs! };
      for (const target of state.targets) {
        if (control.stopped) break;
        await runSlice(options, target, new Tally(options.digits), budget, invoke, control);
      }
    }

    state.phase = 'measuring';
    state.startedAt = performance.now();
    onState?.(state);
    let slices = 1;
    if (state.targets.length === 1) {
      const target = state.targets[0]!;
      const budget: Budget =
        options.calls !== undefined
          ? { calls: options.calls }
          : { durationMs: options.durationMs! };
      if (!control.stopped) await runSlice(options, target, target.tally, budget, invoke, control);
    } else {
      slices = sliceCount(options);
      const budgets = sliceBudgets(options, slices);
      for (let i = 0; i < slices && !control.stopped; i++) {
        const order = i % 2 === 0 ? state.targets : [...state.targets].reverse();
        for (const target of order) {
          if (control.stopped) break;
          await runSlice(options, target, target.tally, budgets[i]!, invoke, control);
        }
      }
    }
    state.phase = 'done';
    onState?.(state);
    return { targets: state.targets, slices };
  } finally {
    for (const target of state.targets) for (const client of target.clients) client.close();
  }
}
