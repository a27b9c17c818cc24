// What `ttrpc bench` prints: the progress line on stderr, and the results as a text table or (with
// --json) one JSON object on stdout. Latencies are in microseconds in JSON.
import { performance } from 'node:perf_hooks';

import type { BenchOptions, RunState, Target } from './bench';
import { formatDuration } from '../duration';

export interface LatencyJson {
  min: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface TargetJson {
  target: string;
  /** Calls that completed (ok + errors). */
  calls: number;
  ok: number;
  errors: number;
  /** Failed calls by status code name. */
  errorCodes: Record<string, number>;
  /** Measuring time (the sum of this target's slices). */
  durationMs: number;
  /** Completed calls per second of measuring time. */
  throughput: number;
  /** Every completed call, failed ones included, in µs (open loop: from the time it was due). */
  latencyUs: LatencyJson;
  /**
   * Open loop: how long after its due time each call was sent, in µs. Includes waiting for a
   * free slot (-c) behind a slow server, and the load generator's own lateness.
   */
  sendDelayUs?: { p50: number; p99: number; max: number };
}

export interface BenchJson extends Partial<TargetJson> {
  method: string;
  mode: 'closed' | 'open';
  concurrency: number;
  connections: number;
  /** Open loop: the intended calls per second per target; null in closed loop. */
  rate: number | null;
  warmup: { calls: number } | { durationMs: number } | null;
  /** Stopped early (SIGINT or a lost connection). */
  interrupted: boolean;
  /** --compare: both targets and target2/target1 ratios. */
  slices?: number;
  targets?: TargetJson[];
  ratio?: Record<string, number | null>;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

export function targetJson(target: Target, open: boolean): TargetJson {
  const t = target.tally;
  const s = t.histogram.summary();
  const delay = t.sendDelay;
  return {
    target: target.address,
    calls: t.calls,
    ok: t.ok,
    errors: t.errorCount,
    errorCodes: Object.fromEntries([...t.errors].sort()),
    durationMs: round1(t.activeMs),
    throughput: t.activeMs > 0 ? round1((t.calls * 1000) / t.activeMs) : 0,
    latencyUs: {
      min: s.min,
      mean: round1(s.mean),
      stddev: round1(s.stddev),
      p50: s.p50,
      p90: s.p90,
      p99: s.p99,
      p999: s.p999,
      max: s.max,
    },
    ...(open
      ? { sendDelayUs: { p50: delay.percentile(50), p99: delay.percentile(99), max: delay.max } }
      : {}),
  };
}

const RATIO_KEYS = ['throughput', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const;

function ratios(a: TargetJson, b: TargetJson): Record<string, number | null> {
  const value = (t: TargetJson, key: (typeof RATIO_KEYS)[number]): number =>
    key === 'throughput' ? t.throughput : t.latencyUs[key];
  const out: Record<string, number | null> = {};
  for (const key of RATIO_KEYS) {
    const x = value(a, key);
    out[key] = x > 0 ? Math.round((value(b, key) / x) * 1000) / 1000 : null;
  }
  return out;
}

export function benchJson(
  method: string,
  options: BenchOptions,
  targets: Target[],
  slices: number,
  interrupted: boolean,
): BenchJson {
  const head: BenchJson = {
    method,
    mode: options.rate !== undefined ? 'open' : 'closed',
    concurrency: options.concurrency,
    connections: options.connections,
    rate: options.rate ?? null,
    warmup:
      options.warmupCalls !== undefined
        ? { calls: options.warmupCalls }
        : options.warmupMs !== undefined
          ? { durationMs: options.warmupMs }
          : null,
    interrupted,
  };
  const results = targets.map((t) => targetJson(t, options.rate !== undefined));
  if (results.length === 1) return { ...head, ...results[0]! };
  return { ...head, slices, targets: results, ratio: ratios(results[0]!, results[1]!) };
}

/** 97µs, 1.23ms, 2.5s. */
export function formatMicros(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1e6) return `${(us / 1000).toPrecision(3)}ms`;
  return `${(us / 1e6).toPrecision(3)}s`;
}

function formatRate(n: number): string {
  if (n >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return n.toPrecision(3);
}

function plan(options: BenchOptions, compare: boolean, slices: number): string {
  const conns = `${options.connections} connection${options.connections === 1 ? '' : 's'}`;
  const budget =
    options.calls !== undefined
      ? `${options.calls} calls`
      : `${formatDuration(options.durationMs!)}${options.rate !== undefined ? ` (${Math.max(1, Math.floor((options.durationMs! * options.rate) / 1000))} calls)` : ''}`;
  const each = compare ? ` per target in ${slices} interleaved slices` : '';
  const warmup =
    options.warmupCalls !== undefined
      ? `, warm-up ${options.warmupCalls} calls`
      : options.warmupMs !== undefined
        ? `, warm-up ${formatDuration(options.warmupMs)}`
        : '';
  if (options.rate !== undefined) {
    return `open loop: ${formatRate(options.rate)} calls/s, at most ${options.concurrency} in flight on ${conns}, ${budget}${each}${warmup}`;
  }
  const callers = `${options.concurrency} caller${options.concurrency === 1 ? '' : 's'}`;
  return `closed loop: ${callers} on ${conns}, ${budget}${each}${warmup}`;
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length),
        )
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

function errorText(t: TargetJson): string {
  const entries = Object.entries(t.errorCodes);
  return entries.length === 0 ? '0' : entries.map(([code, n]) => `${code} ${n}`).join(', ');
}

function delayText(d: { p50: number; p99: number; max: number }): string {
  return `p50 ${formatMicros(d.p50)}, p99 ${formatMicros(d.p99)}, max ${formatMicros(d.max)}`;
}

const LATENCY_ROWS: [string, keyof LatencyJson][] = [
  ['min', 'min'],
  ['mean', 'mean'],
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p99.9', 'p999'],
  ['max', 'max'],
];

/** The human-readable report. */
export function benchText(result: BenchJson, options: BenchOptions): string {
  const lines: string[] = [];
  const compare = result.targets !== undefined;
  lines.push(compare ? result.method : `${result.method} on ${result.target}`);
  lines.push(plan(options, compare, result.slices ?? 1));
  if (result.interrupted) lines.push('(interrupted: partial results)');
  lines.push('');
  if (!compare) {
    const t = result as BenchJson & TargetJson;
    const rows = [
      ['calls', `${t.calls} (ok ${t.ok}, errors ${t.errors})`],
      ...(t.errors > 0 ? [['errors', errorText(t)]] : []),
      ['duration', formatMicros(t.durationMs * 1000)],
      ['throughput', `${formatRate(t.throughput)} calls/s`],
      ['', ''],
      ['latency', ''],
      ...LATENCY_ROWS.map(([label, key]) => [`  ${label}`, formatMicros(t.latencyUs[key])]),
      ...(t.sendDelayUs
        ? [
            ['', ''],
            ['send delay', delayText(t.sendDelayUs)],
          ]
        : []),
    ];
    lines.push(table(rows));
  } else {
    const [a, b] = result.targets!;
    const ratio = result.ratio!;
    const r = (key: string): string => (ratio[key] === null ? '-' : ratio[key]!.toFixed(2));
    const rows = [
      ['', 'target1', 'target2', 'ratio 2/1'],
      ['address', a!.target, b!.target, ''],
      ['calls', String(a!.calls), String(b!.calls), ''],
      ['errors', errorText(a!), errorText(b!), ''],
      ['throughput/s', formatRate(a!.throughput), formatRate(b!.throughput), r('throughput')],
      ...LATENCY_ROWS.map(([label, key]) => [
        label,
        formatMicros(a!.latencyUs[key]),
        formatMicros(b!.latencyUs[key]),
        key === 'min' ? '' : r(key),
      ]),
      ...(a!.sendDelayUs && b!.sendDelayUs
        ? [['send delay', delayText(a!.sendDelayUs), delayText(b!.sendDelayUs), '']]
        : []),
    ];
    lines.push(table(rows));
  }
  return `${lines.join('\n')}\n`;
}

/** Rewrites one progress line on stderr (TTY) or prints one a second (--progress elsewhere). */
export function startProgress(stream: NodeJS.WriteStream): {
  update(state: RunState): void;
  stop(): void;
} {
  const tty = stream.isTTY === true;
  let state: RunState | undefined;
  let last = { at: performance.now(), calls: 0 };
  const render = (): void => {
    if (!state) return;
    const now = performance.now();
    const elapsed = ((now - state.startedAt) / 1000).toFixed(1);
    const calls = state.targets.reduce((n, t) => n + t.tally.calls, 0);
    const rate = ((calls - last.calls) * 1000) / Math.max(1, now - last.at);
    last = { at: now, calls };
    let text: string;
    if (state.phase !== 'measuring') {
      text = `${state.phase}…`;
    } else {
      const parts = state.targets.map((t, i) => {
        const h = t.tally.histogram;
        const label = state!.targets.length > 1 ? `[${i + 1}] ` : '';
        return `${label}${t.tally.calls} calls, ${t.tally.errorCount} errors, p50 ${formatMicros(h.percentile(50))}, p99 ${formatMicros(h.percentile(99))}`;
      });
      text = `${elapsed}s  ${formatRate(rate)} calls/s  ${parts.join('  ')}`;
    }
    stream.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
  };
  const timer = setInterval(render, tty ? 250 : 1000);
  return {
    update(s: RunState): void {
      if (s.phase === 'measuring') last = { at: performance.now(), calls: 0 };
      state = s;
    },
    stop(): void {
      clearInterval(timer);
      if (tty) stream.write('\r\x1b[K');
    },
  };
}
