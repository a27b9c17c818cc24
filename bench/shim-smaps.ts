// Helper of bench/shim.ts: a process's memory from /proc/<pid>/smaps_rollup, and its private
// memory and PSS split by kind of mapping from /proc/<pid>/smaps.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** kB values of the smaps_rollup fields we report. */
export interface Rollup {
  rss: number;
  pss: number;
  /** Private_Clean + Private_Dirty. */
  private: number;
  pssAnon: number;
  pssFile: number;
}

export function readRollup(pid: number): Rollup {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return {
    rss: field('Rss'),
    pss: field('Pss'),
    private: field('Private_Clean') + field('Private_Dirty'),
    pssAnon: field('Pss_Anon'),
    pssFile: field('Pss_File'),
  };
}

export const CATEGORIES = [
  'executable',
  'shared libraries + addon',
  'malloc: [heap] + arenas',
  'thread stacks',
  'other anonymous',
] as const;
export type Category = (typeof CATEGORIES)[number];

export const CATEGORY_NOTES: Record<Category, string> = {
  executable: 'the node or Go binary: text, rodata, relocated data',
  'shared libraries + addon': 'libc, libstdc++, … and containerd_shim.node',
  'malloc: [heap] + arenas':
    "glibc malloc's brk heap and its per-thread 64 MiB arenas (node only; Go does not use them)",
  'thread stacks': 'main stack and the 8 MiB thread stacks behind a guard page (touched pages)',
  'other anonymous':
    'node: V8 heap pages (256 KiB chunks), code range; Go: the Go heap, goroutine stacks, runtime',
};

export interface Breakdown {
  /** kB private (clean + dirty) per category. */
  private: Record<Category, number>;
  /** kB PSS per category. */
  pss: Record<Category, number>;
}

interface Mapping {
  start: number;
  end: number;
  perms: string;
  name: string;
  pss: number;
  private: number;
}

function parseSmaps(text: string): Mapping[] {
  const maps: Mapping[] = [];
  let cur: Mapping | undefined;
  for (const line of text.split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (h) {
      cur = {
        start: parseInt(h[1]!, 16),
        end: parseInt(h[2]!, 16),
        perms: h[3]!,
        name: h[4]!,
        pss: 0,
        private: 0,
      };
      maps.push(cur);
      continue;
    }
    const f = /^(\w+):\s+(\d+) kB/.exec(line);
    if (!f || !cur) continue;
    if (f[1] === 'Pss') cur.pss = Number(f[2]);
    else if (f[1] === 'Private_Clean' || f[1] === 'Private_Dirty') cur.private += Number(f[2]);
  }
  return maps;
}

const MiB = 1024 * 1024;

export function readBreakdown(pid: number): Breakdown {
  const maps = parseSmaps(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  let exe = '';
  try {
    exe = fs.realpathSync(`/proc/${pid}/exe`);
  } catch {
    // exited
  }
  const glibcArenas = path.basename(exe) === 'node' || path.basename(exe).startsWith('node');
  const zero = (): Record<Category, number> =>
    Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const out: Breakdown = { private: zero(), pss: zero() };
  maps.forEach((m, i) => {
    let cat: Category;
    const prev = maps[i - 1];
    if (m.name.startsWith('/')) {
      cat = m.name.replace(/ \(deleted\)$/, '') === exe ? 'executable' : 'shared libraries + addon';
    } else if (m.name === '[heap]') {
      cat = 'malloc: [heap] + arenas';
    } else if (m.name === '[stack]') {
      cat = 'thread stacks';
    } else if (m.name === '' && glibcArenas && m.start % (64 * MiB) === 0) {
      cat = 'malloc: [heap] + arenas';
    } else if (
      m.name === '' &&
      m.perms.startsWith('rw') &&
      m.end - m.start >= MiB &&
      prev !== undefined &&
      prev.name === '' &&
      prev.perms === '---p' &&
      prev.end === m.start &&
      prev.end - prev.start <= 64 * 1024
    ) {
      cat = 'thread stacks';
    } else {
      cat = 'other anonymous';
    }
    out.private[cat] += m.private;
    out.pss[cat] += m.pss;
  });
  return out;
}

/** A process's CPU time, threads and age from /proc/<pid>/stat. */
export interface ProcStat {
  /** utime + stime, ms. */
  cpuMs: number;
  threads: number;
  /** Seconds since the process started. */
  ageS: number;
}

export function readStat(pid: number): ProcStat {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces), from field 3 (state) on.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = 100; // USER_HZ on Linux
  const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return {
    cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / ticks,
    threads: Number(f[17]),
    ageS: uptime - Number(f[19]) / ticks,
  };
}

/** Processes whose executable is `exe` (to say how widely its pages are shared). */
export function countProcessesOf(exe: string): number {
  let n = 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.realpathSync(`/proc/${name}/exe`) === exe) n++;
    } catch {
      // gone, or a kernel thread
    }
  }
  return n;
}

/**
 * Warm start's standby processes (booted ahead of demand; the launcher marks each with
 * `__CONTAINERD_SHIM_STANDBY=<pool>` in its initial environment): their memory is the pool's own,
 * reported apart from the shims serving containers. Only the pools under `warmRoot` (the bench's
 * testbed): other pools on the machine are not the bench's.
 */
export function findStandbys(warmRoot: string): number[] {
  const pools = warmRoot.endsWith('/') ? warmRoot : `${warmRoot}/`;
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = fs.readFileSync(`/proc/${name}/environ`, 'utf8');
      if (environ.split('\0').some((e) => e.startsWith(`__CONTAINERD_SHIM_STANDBY=${pools}`)))
        pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}
