// Helper of bench/shim.ts: where the time of one `ctr run --rm` goes, from a system-wide perf
// trace of process exec/fork/exit and accept4 (kernel tracepoints: no ptrace, a few µs per event).
//
// From the events the run is cut into consecutive phases that add up to ctr's lifetime:
//   ctr → shim start       ctr's set-up and containerd's work until it execs `<shim> start`
//   shim start             the `start` process, exec to exit (it binds the socket, spawns the daemon)
//   wait for daemon        start exited, the daemon has not accepted containerd's connection yet
//                          (its boot time beyond start's exit; containerd's Connect/Create wait
//                          on it). A warm daemon was a standby before: it exec'd nothing in the
//                          run, and its accept of the handover comes before containerd's
//   daemon → runc create   Create handled by the daemon until it execs `runc create`
//   runc create/start/delete   each runc command, exec to exit
//   shim between runc      the rest of the window from the first runc exec to the last runc exit
//                          (the daemon's RPC handling, the container's own run, event round trips)
//   → shim delete          Delete/Shutdown after the last runc command until containerd execs
//                          `<shim> delete` (its cleanup after the shim's connection closed)
//   shim delete            the `delete` process, exec to exit
//   → ctr exit             the rest
// The daemon's boot (exec → its accept of containerd's connection) is reported too when it
// exec'd in the run (a cold daemon); it overlaps start's tail.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const TRACE_PHASES = [
  'ctr → shim start',
  'shim start',
  'wait for daemon',
  'daemon → runc create',
  'runc create',
  'runc start',
  'runc delete',
  'shim between runc',
  '→ shim delete',
  'shim delete',
  '→ ctr exit',
] as const;
export type TracePhase = (typeof TRACE_PHASES)[number];

export interface TraceResult {
  totalMs: number;
  phases: Record<TracePhase, number>;
  /** Daemon exec → accept of containerd's connection (overlaps `shim start`); NaN when warm. */
  daemonBootMs: number;
  /** Spawn of the daemon by `start`, ms after start's exec; NaN when warm (no exec). */
  daemonSpawnMs: number;
  /** True when the daemon exec'd nothing during the run (a standby took the role). */
  warmDaemon: boolean;
  /** runc commands the daemon ran (exec → exit ms), in order. */
  runc: number[];
}

interface Proc {
  pid: number;
  parent?: number;
  execs: { t: number; file: string }[];
  exit?: number;
  accepts: number[];
}

const EVENTS = [
  'sched:sched_process_exec',
  'sched:sched_process_exit',
  'sched:sched_process_fork',
  'syscalls:sys_enter_accept4',
];

function runQuiet(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: 'pipe' });
    child.stdin.end();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(
      () => child.pid && process.kill(child.pid, 'SIGKILL'),
      opts.timeoutMs ?? 60_000,
    );
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

/** perf with the tracepoints we need, or the reason it can't be used. */
export async function traceAvailable(perf: string | undefined): Promise<true | string> {
  if (perf === undefined) return 'perf not found (apt-get install linux-perf)';
  const res = await runQuiet(perf, ['list', 'tracepoint'], { timeoutMs: 20_000 }).catch(
    (e: Error) => ({ code: -1, stdout: '', stderr: e.message }),
  );
  const missing = EVENTS.filter((e) => !res.stdout.includes(e));
  if (missing.length > 0)
    return `perf lacks tracepoints ${missing.join(', ')} (tracefs mounted? root?)`;
  return true;
}

/**
 * Runs `ctr <ctrArgs>` under `perf record -a` and cuts the run into phases. `shimBinary` is the
 * path containerd executes (the runtime's binary, a script for ours).
 */
export async function traceCtrRun(
  perf: string,
  ctr: string,
  ctrArgs: string[],
  shimBinary: string,
  dir: string,
  tag: string,
  env: NodeJS.ProcessEnv,
  /** After the run: the pid of a warm daemon, when a standby took the role (else undefined). */
  warmDaemon: () => number | undefined = () => undefined,
): Promise<TraceResult> {
  const data = path.join(dir, `perf-${tag}.data`);
  try {
    const rec = await runQuiet(
      perf,
      [
        'record',
        '-q',
        '-a',
        '-o',
        data,
        ...EVENTS.flatMap((e) => ['-e', e]),
        '--',
        ctr,
        ...ctrArgs,
      ],
      { env, timeoutMs: 60_000 },
    );
    if (rec.code !== 0)
      throw new Error(`perf record / ctr failed (${rec.code}): ${rec.stderr.trim()}`);
    const script = await runQuiet(
      perf,
      ['script', '-i', data, '-F', 'comm,pid,tid,time,event,trace'],
      { timeoutMs: 60_000 },
    );
    if (script.code !== 0) throw new Error(`perf script failed: ${script.stderr.trim()}`);
    return analyse(script.stdout, ctr, shimBinary, warmDaemon());
  } finally {
    fs.rmSync(data, { force: true });
    fs.rmSync(data + '.old', { force: true });
  }
}

const LINE = /^\s*(.*?)\s+(\d+)\/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$/;

/** Phases of one traced run from `perf script -F comm,pid,tid,time,event,trace` output. */
export function analyse(
  text: string,
  ctrPath: string,
  shimBinary: string,
  warmDaemonPid?: number,
): TraceResult {
  const procs = new Map<number, Proc>();
  const proc = (pid: number): Proc => {
    let p = procs.get(pid);
    if (!p) procs.set(pid, (p = { pid, execs: [], accepts: [] }));
    return p;
  };
  const forkedBy = new Map<number, number>(); // child tid -> parent tgid
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const tgid = Number(m[2]);
    const t = Number(m[4]) * 1000;
    const event = m[5]!;
    const trace = m[6]!;
    if (event === 'sched:sched_process_fork') {
      const child = Number(/child_pid=(\d+)/.exec(trace)?.[1]);
      forkedBy.set(child, tgid);
    } else if (event === 'sched:sched_process_exec') {
      const p = proc(tgid);
      p.parent ??= forkedBy.get(tgid);
      p.execs.push({ t, file: /filename=(\S+)/.exec(trace)?.[1] ?? '' });
    } else if (event === 'sched:sched_process_exit') {
      if (/group_dead=1|group_dead=true/.test(trace)) proc(tgid).exit = t;
    } else if (event === 'syscalls:sys_enter_accept4') {
      proc(tgid).accepts.push(t);
    }
  }
  const all = [...procs.values()].filter((p) => p.execs.length > 0);
  const first = (p: Proc): number => p.execs[0]!.t;
  const byTime = all.sort((a, b) => first(a) - first(b));
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`trace: no ${what} found`);
    return v;
  };
  // containerd resolves a runtime name through PATH: compare base names.
  const isShim = (file: string): boolean => path.basename(file) === path.basename(shimBinary);
  const ctr = need(
    byTime.find((p) => p.execs.some((e) => e.file === ctrPath)),
    `exec of ${ctrPath}`,
  );
  const shimExecs = byTime.filter((p) => p.execs.some((e) => isShim(e.file)));
  const start = need(
    shimExecs.find((p) => p.parent !== undefined && p.parent !== ctr.pid),
    `exec of ${shimBinary} start`,
  );
  // The daemon: forked by `start` and exec'd (cold), or the standby the launcher's trace names
  // (warm: it exec'd nothing during the run). The trace is system-wide: only this daemon's
  // runc commands count.
  const daemon = need(
    warmDaemonPid !== undefined
      ? procs.get(warmDaemonPid)
      : byTime.find((p) => p.parent === start.pid),
    warmDaemonPid !== undefined ? `warm daemon ${warmDaemonPid}` : 'daemon spawned by shim start',
  );
  const warmDaemon = warmDaemonPid !== undefined;
  const runcs = byTime.filter(
    (p) => p.parent === daemon.pid && p.execs.some((e) => path.basename(e.file) === 'runc'),
  );
  if (runcs.length === 0) throw new Error('trace: the daemon ran no runc command');
  const del = need(
    [...shimExecs].reverse().find((p) => p !== start && p !== daemon && first(p) > first(start)),
    `exec of ${shimBinary} delete`,
  );
  const runcFirst = first(runcs[0]!);
  const t = {
    ctrExec: first(ctr),
    ctrExit: need(ctr.exit, 'ctr exit'),
    startExec: first(start),
    startExit: need(start.exit, 'shim start exit'),
    daemonExec: warmDaemon ? NaN : first(daemon),
    // containerd's connection: the daemon's last accept before runc create (a warm daemon's
    // first one is the handover).
    ready: need(
      daemon.accepts.filter((a) => a < runcFirst).pop(),
      'accept4 of containerd by the daemon',
    ),
    runcFirst,
    runcLast: Math.max(...runcs.map((r) => need(r.exit, 'runc exit'))),
    delExec: first(del),
    delExit: need(del.exit, 'shim delete exit'),
  };
  const runcMs = runcs.map((r) => r.exit! - first(r));
  const served = Math.max(t.ready, t.startExit);
  const named = runcMs.slice(0, 3);
  const phases: Record<TracePhase, number> = {
    'ctr → shim start': t.startExec - t.ctrExec,
    'shim start': t.startExit - t.startExec,
    'wait for daemon': Math.max(0, t.ready - t.startExit),
    'daemon → runc create': t.runcFirst - served,
    'runc create': named[0] ?? 0,
    'runc start': named[1] ?? 0,
    'runc delete': runcMs.length >= 3 ? runcMs[runcMs.length - 1]! : 0,
    'shim between runc': 0,
    '→ shim delete': t.delExec - t.runcLast,
    'shim delete': t.delExit - t.delExec,
    '→ ctr exit': t.ctrExit - t.delExit,
  };
  const runcNamed = phases['runc create'] + phases['runc start'] + phases['runc delete'];
  phases['shim between runc'] = t.runcLast - t.runcFirst - runcNamed;
  return {
    totalMs: t.ctrExit - t.ctrExec,
    phases,
    daemonBootMs: t.ready - t.daemonExec,
    daemonSpawnMs: t.daemonExec - t.startExec,
    warmDaemon,
    runc: runcMs,
  };
}
