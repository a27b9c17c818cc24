// cgroup helpers for shims (the Rust crate's `cgroup` module, the cgroup side of Go's runc shim):
// which cgroups a process is in, the Stats RPC's metrics read from the cgroup files the way
// containerd's cgroups library reads them (v1: cgroup1 controllers' Stat; v2: cgroup2
// Manager.Stat), the shim cgroup and the OOM score. Linux only.
//
// Mode: /sys/fs/cgroup being a cgroup2 mount is v2 (unified); anything else (a tmpfs of v1
// controller mounts, possibly with a cgroup2 `unified` mount beside them: "hybrid") is v1,
// as containerd's cgroups.Mode() treats hybrid.
//
// Reading metrics never throws for a missing controller or file: what cannot be read is left
// unset. 64-bit counters are numbers when exact (< 2^53) and bigints above.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { codedError, systemError } from '../../error-codes';
import type * as generated from '../../generated/cgroups';
import { toAny } from '../util';
import { readMountInfo } from './mount';

// The metrics messages (a large module) load on the first Stats call.
const codec = (): typeof generated.io.containerd.cgroups =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('../../int64/encode'), require('../../generated/cgroups') as typeof generated).io
    .containerd.cgroups;

export type MetricsV1 = generated.io.containerd.cgroups.v1.Metrics.$Properties;
export type MetricsV2 = generated.io.containerd.cgroups.v2.Metrics.$Properties;
export type CgroupMode = 'v1' | 'v2';

/** A uint64 read from a cgroup file: a number when exact, a bigint above 2^53. */
export type Uint64 = number | bigint;

/** The `Any` the Stats RPC returns (`google.protobuf.Any` in protobufjs naming). */
export interface MetricsAny {
  type_url: string;
  value: Uint8Array;
}

/** containerd's type URLs for the metrics (typeurl falls back to the bare proto name). */
export const METRICS_V1_TYPE_URL = 'io.containerd.cgroups.v1.Metrics';
export const METRICS_V2_TYPE_URL = 'io.containerd.cgroups.v2.Metrics';

/** The cgroup filesystem root. */
export const CGROUP_ROOT = '/sys/fs/cgroup';

const CGROUP2_SUPER_MAGIC = 0x63677270;
const MAX_UINT64 = (1n << 64n) - 1n;
const USER_HZ = 100n; // sysconf(_SC_CLK_TCK) is USER_HZ, 100 on every Linux ABI
const NS_PER_SEC = 1_000_000_000n;

let cachedMode: CgroupMode | undefined;

/** The cgroup mode of this host (cached): 'v2' if /sys/fs/cgroup is cgroup2, else 'v1'. */
export function cgroupMode(): CgroupMode {
  if (cachedMode === undefined) {
    cachedMode = fs.statfsSync(CGROUP_ROOT).type === CGROUP2_SUPER_MAGIC ? 'v2' : 'v1';
  }
  return cachedMode;
}

/** /proc/<pid>/cgroup: the v1 paths by controller and the v2 (`0::`) path. */
export interface ProcCgroups {
  /** v1 hierarchies: controller (or `name=systemd`) -> path in that hierarchy. */
  controllers: Record<string, string>;
  /** The cgroup2 path (the `0::/path` line), if there is one. */
  unified?: string;
}

/** Parses the text of /proc/<pid>/cgroup. */
export function parseProcCgroup(text: string): ProcCgroups {
  const result: ProcCgroups = { controllers: {} };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first === -1 || second === -1) {
      throw codedError('ERR_CGROUP_PARSE', `invalid cgroup entry: ${JSON.stringify(line)}`);
    }
    const names = line.slice(first + 1, second);
    const cgroupPath = line.slice(second + 1);
    if (names === '') {
      result.unified = cgroupPath;
      continue;
    }
    for (const name of names.split(',')) result.controllers[name] = cgroupPath;
  }
  return result;
}

/** The cgroups of `pid` (ENOENT when the process is gone). */
export function readProcCgroup(pid: number | 'self'): ProcCgroups {
  return parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
}

/** `mountpoint` joined with a cgroup path, without a trailing slash. */
function cgroupDir(mountpoint: string, mountRoot: string, cgroupPath: string): string {
  const dir = path.join(mountpoint, within(mountRoot, cgroupPath));
  return dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir;
}

function within(mountRoot: string, cgroupPath: string): string {
  // In a cgroup namespace or a container the mount may show only a subtree.
  if (mountRoot !== '/' && (cgroupPath === mountRoot || cgroupPath.startsWith(`${mountRoot}/`))) {
    return cgroupPath.slice(mountRoot.length) || '/';
  }
  return cgroupPath;
}

/**
 * The v1 cgroup directories of `pid`, by controller (cpu, cpuacct, memory, pids, blkio, ...):
 * each hierarchy's mountpoint (from /proc/self/mountinfo) joined with the process's path in it.
 * Controllers that are not mounted are absent.
 */
export function cgroupV1Paths(pid: number | 'self'): Record<string, string> {
  const cgroups = readProcCgroup(pid).controllers;
  const paths: Record<string, string> = {};
  for (const m of readMountInfo()) {
    if (m.fstype !== 'cgroup') continue;
    for (const option of m.superOptions.split(',')) {
      const p = cgroups[option];
      if (p === undefined || paths[option] !== undefined) continue;
      paths[option] = cgroupDir(m.mountpoint, m.root, p);
    }
  }
  return paths;
}

/** The cgroup2 directory of `pid` (on a v2 host, or the `unified` hierarchy of a hybrid one). */
export function cgroupV2Path(pid: number | 'self'): string {
  const unified = readProcCgroup(pid).unified;
  if (unified === undefined) {
    throw codedError('ERR_CGROUP_NOT_FOUND', `process ${pid} has no cgroup2 path`);
  }
  const mount = cgroup2Mount();
  return cgroupDir(mount.mountpoint, mount.root, unified);
}

function cgroup2Mount(): { mountpoint: string; root: string } {
  const mounts = readMountInfo().filter((m) => m.fstype === 'cgroup2');
  const mount = mounts.find((m) => m.mountpoint === CGROUP_ROOT) ?? mounts[0];
  if (mount === undefined) {
    throw codedError('ERR_CGROUP_NOT_FOUND', 'no cgroup2 filesystem is mounted');
  }
  return mount;
}

/** Where the cgroup2 filesystem is mounted (/sys/fs/cgroup on v2, .../unified on hybrid). */
export function cgroup2Mountpoint(): string {
  return cgroup2Mount().mountpoint;
}

/** Where `pid`'s cgroup is, in this host's mode. */
export type ProcessCgroup =
  { mode: 'v1'; paths: Record<string, string> } | { mode: 'v2'; path: string };

export function processCgroup(pid: number | 'self'): ProcessCgroup {
  return cgroupMode() === 'v2'
    ? { mode: 'v2', path: cgroupV2Path(pid) }
    : { mode: 'v1', paths: cgroupV1Paths(pid) };
}

// ---- file readers: undefined for anything missing or unreadable ----

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** containerd cgroups' parseUint: a uint64, negative values as 0; undefined if not a number. */
export function parseUint64(text: string): Uint64 | undefined {
  const s = text.trim();
  if (!/^-?\d+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v < 0n) return 0;
  if (v > MAX_UINT64) return undefined;
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function big(v: Uint64): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

function small(v: bigint): Uint64 {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readUint(file: string): Uint64 | undefined {
  const text = readText(file);
  return text === undefined ? undefined : parseUint64(text);
}

/** A value that may be "max": v1 pids.max style gives `maxValue` for it. */
function readUintOrMax(file: string, maxValue: Uint64): Uint64 | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  return text.trim() === 'max' ? maxValue : parseUint64(text);
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, ...); bad lines are skipped. */
function readKV(file: string): Map<string, Uint64> | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const out = new Map<string, Uint64>();
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) continue;
    const v = parseUint64(parts[1]);
    if (v !== undefined) out.set(parts[0], v);
  }
  return out;
}

function pick<K extends string>(
  kv: Map<string, Uint64>,
  fields: Record<K, string>,
): Partial<Record<K, Uint64>> {
  const out: Partial<Record<K, Uint64>> = {};
  for (const [field, key] of Object.entries(fields) as [K, string][]) {
    const v = kv.get(key);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

function isEmpty(o: object): boolean {
  return Object.keys(o).length === 0;
}

function hugePageSizes(): string[] {
  let names: string[];
  try {
    names = fs.readdirSync('/sys/kernel/mm/hugepages');
  } catch {
    return [];
  }
  const sizes: string[] = [];
  for (const name of names) {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (m === null) continue;
    const kb = Number(m[1]);
    if (kb >= 1 << 20) sizes.push(`${kb >> 20}GB`);
    else if (kb >= 1 << 10) sizes.push(`${kb >> 10}MB`);
    else sizes.push(`${kb}KB`);
  }
  return sizes;
}

// ---- cgroup v1 ----

const MEMORY_STAT_V1 = {
  cache: 'cache',
  rss: 'rss',
  rssHuge: 'rss_huge',
  mappedFile: 'mapped_file',
  dirty: 'dirty',
  writeback: 'writeback',
  pgPgIn: 'pgpgin',
  pgPgOut: 'pgpgout',
  pgFault: 'pgfault',
  pgMajFault: 'pgmajfault',
  inactiveAnon: 'inactive_anon',
  activeAnon: 'active_anon',
  inactiveFile: 'inactive_file',
  activeFile: 'active_file',
  unevictable: 'unevictable',
  hierarchicalMemoryLimit: 'hierarchical_memory_limit',
  hierarchicalSwapLimit: 'hierarchical_memsw_limit',
  totalCache: 'total_cache',
  totalRss: 'total_rss',
  totalRssHuge: 'total_rss_huge',
  totalMappedFile: 'total_mapped_file',
  totalDirty: 'total_dirty',
  totalWriteback: 'total_writeback',
  totalPgPgIn: 'total_pgpgin',
  totalPgPgOut: 'total_pgpgout',
  totalPgFault: 'total_pgfault',
  totalPgMajFault: 'total_pgmajfault',
  totalInactiveAnon: 'total_inactive_anon',
  totalActiveAnon: 'total_active_anon',
  totalInactiveFile: 'total_inactive_file',
  totalActiveFile: 'total_active_file',
  totalUnevictable: 'total_unevictable',
} as const;

function memoryEntryV1(
  dir: string,
  module: string,
): generated.io.containerd.cgroups.v1.MemoryEntry.$Properties | undefined {
  const prefix = path.join(dir, module === '' ? 'memory.' : `memory.${module}.`);
  const usage = readUint(`${prefix}usage_in_bytes`);
  if (usage === undefined) return undefined;
  const entry: generated.io.containerd.cgroups.v1.MemoryEntry.$Properties = { usage };
  const max = readUint(`${prefix}max_usage_in_bytes`);
  if (max !== undefined) entry.max = max;
  const failcnt = readUint(`${prefix}failcnt`);
  if (failcnt !== undefined) entry.failcnt = failcnt;
  const limit = readUint(`${prefix}limit_in_bytes`);
  if (limit !== undefined) entry.limit = limit;
  return entry;
}

function blkioDevices(): Map<string, string> {
  const devices = new Map<string, string>();
  const text = readText('/proc/partitions') ?? '';
  for (const line of text.split('\n').slice(2)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const key = `${f[0]}:${f[1]}`;
    if (!devices.has(key)) devices.set(key, `/dev/${f[3]}`);
  }
  return devices;
}

function blkioEntries(
  file: string,
  devices: Map<string, string>,
): generated.io.containerd.cgroups.v1.BlkIOEntry.$Properties[] | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const entries: generated.io.containerd.cgroups.v1.BlkIOEntry.$Properties[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(/[ :]/).filter((s) => s !== '');
    if (f.length < 3) continue; // "Total N" and blank lines
    const major = parseUint64(f[0]);
    const minor = parseUint64(f[1]);
    const value = parseUint64(f.length === 4 ? f[3] : f[2]);
    if (major === undefined || minor === undefined || value === undefined) continue;
    entries.push({
      device: devices.get(`${major}:${minor}`) ?? '',
      major,
      minor,
      op: f.length === 4 ? f[2] : '',
      value,
    });
  }
  return entries;
}

const BLKIO_RECURSIVE = {
  sectorsRecursive: 'sectors_recursive',
  ioServiceBytesRecursive: 'io_service_bytes_recursive',
  ioServicedRecursive: 'io_serviced_recursive',
  ioQueuedRecursive: 'io_queued_recursive',
  ioServiceTimeRecursive: 'io_service_time_recursive',
  ioWaitTimeRecursive: 'io_wait_time_recursive',
  ioMergedRecursive: 'io_merged_recursive',
  ioTimeRecursive: 'time_recursive',
} as const;

function blkioStatV1(
  dir: string,
): generated.io.containerd.cgroups.v1.BlkIOStat.$Properties | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const devices = blkioDevices();
  const stat: generated.io.containerd.cgroups.v1.BlkIOStat.$Properties = {};
  let count = 0;
  // The CFQ-era files (gone since Linux 5.0 unless BFQ provides them under blkio.bfq.*):
  // containerd reads them when blkio.io_serviced_recursive exists ...
  if (fs.existsSync(path.join(dir, 'blkio.io_serviced_recursive'))) {
    for (const [field, name] of Object.entries(BLKIO_RECURSIVE)) {
      const entries = blkioEntries(path.join(dir, `blkio.${name}`), devices);
      if (entries === undefined) continue;
      stat[field as keyof typeof BLKIO_RECURSIVE] = entries;
      count += entries.length;
    }
  }
  // ... and the throttle counters when those gave nothing.
  if (count === 0) {
    const serviced = blkioEntries(path.join(dir, 'blkio.throttle.io_serviced'), devices);
    const bytes = blkioEntries(path.join(dir, 'blkio.throttle.io_service_bytes'), devices);
    if (serviced !== undefined) stat.ioServicedRecursive = serviced;
    if (bytes !== undefined) stat.ioServiceBytesRecursive = bytes;
  }
  return stat;
}

/**
 * A v1 `Metrics` from the controllers' directories (`cgroupV1Paths(pid)`): cpuacct (usage
 * total/user/kernel/per-CPU, ns), cpu (throttling), memory (memory.stat, usage/swap/kernel/
 * kernel TCP entries, oom_control), pids (current, limit with "max" as 0), blkio, hugetlb.
 */
export function readMetricsV1(paths: Readonly<Record<string, string | undefined>>): MetricsV1 {
  const metrics: MetricsV1 = {};

  const cpu: generated.io.containerd.cgroups.v1.CPUStat.$Properties = {};
  if (paths.cpuacct !== undefined) {
    const usage: generated.io.containerd.cgroups.v1.CPUUsage.$Properties = {};
    const total = readUint(path.join(paths.cpuacct, 'cpuacct.usage'));
    if (total !== undefined) usage.total = total;
    const stat = readKV(path.join(paths.cpuacct, 'cpuacct.stat'));
    const user = stat?.get('user');
    const system = stat?.get('system');
    if (user !== undefined) usage.user = small((big(user) * NS_PER_SEC) / USER_HZ);
    if (system !== undefined) usage.kernel = small((big(system) * NS_PER_SEC) / USER_HZ);
    const percpu = readText(path.join(paths.cpuacct, 'cpuacct.usage_percpu'));
    if (percpu !== undefined) {
      // The generated type says number|Long; bigint encodes exactly too (lib/int64/encode).
      usage.perCpu = percpu
        .trim()
        .split(/\s+/)
        .filter((s) => s !== '')
        .map((s) => parseUint64(s) ?? 0) as number[];
    }
    if (!isEmpty(usage)) cpu.usage = usage;
  }
  if (paths.cpu !== undefined) {
    const stat = readKV(path.join(paths.cpu, 'cpu.stat'));
    if (stat !== undefined) {
      cpu.throttling = pick(stat, {
        periods: 'nr_periods',
        throttledPeriods: 'nr_throttled',
        throttledTime: 'throttled_time',
      });
    }
  }
  if (!isEmpty(cpu)) metrics.cpu = cpu;

  if (paths.memory !== undefined) {
    const dir = paths.memory;
    const memory: generated.io.containerd.cgroups.v1.MemoryStat.$Properties = {};
    const stat = readKV(path.join(dir, 'memory.stat'));
    if (stat !== undefined) Object.assign(memory, pick(stat, MEMORY_STAT_V1));
    const usage = memoryEntryV1(dir, '');
    if (usage !== undefined) memory.usage = usage;
    const swap = memoryEntryV1(dir, 'memsw');
    if (swap !== undefined) memory.swap = swap;
    const kernel = memoryEntryV1(dir, 'kmem');
    if (kernel !== undefined) memory.kernel = kernel;
    const kernelTcp = memoryEntryV1(dir, 'kmem.tcp');
    if (kernelTcp !== undefined) memory.kernelTcp = kernelTcp;
    if (!isEmpty(memory)) metrics.memory = memory;
    const oom = readKV(path.join(dir, 'memory.oom_control'));
    if (oom !== undefined) {
      metrics.memoryOomControl = pick(oom, {
        oomKillDisable: 'oom_kill_disable',
        underOom: 'under_oom',
        oomKill: 'oom_kill',
      });
    }
  }

  if (paths.pids !== undefined) {
    const current = readUint(path.join(paths.pids, 'pids.current'));
    if (current !== undefined) {
      const limit = readUintOrMax(path.join(paths.pids, 'pids.max'), 0);
      metrics.pids = limit === undefined ? { current } : { current, limit };
    }
  }

  if (paths.blkio !== undefined) {
    const blkio = blkioStatV1(paths.blkio);
    if (blkio !== undefined) metrics.blkio = blkio;
  }

  if (paths.hugetlb !== undefined) {
    const hugetlb: generated.io.containerd.cgroups.v1.HugetlbStat.$Properties[] = [];
    for (const size of hugePageSizes()) {
      const prefix = path.join(paths.hugetlb, `hugetlb.${size}.`);
      const usage = readUint(`${prefix}usage_in_bytes`);
      if (usage === undefined) continue;
      const entry: generated.io.containerd.cgroups.v1.HugetlbStat.$Properties = {
        pagesize: size,
        usage,
      };
      const max = readUint(`${prefix}max_usage_in_bytes`);
      if (max !== undefined) entry.max = max;
      const failcnt = readUint(`${prefix}failcnt`);
      if (failcnt !== undefined) entry.failcnt = failcnt;
      hugetlb.push(entry);
    }
    if (hugetlb.length > 0) metrics.hugetlb = hugetlb;
  }
  return metrics;
}

// ---- cgroup v2 ----

const MEMORY_STAT_V2 = {
  anon: 'anon',
  file: 'file',
  kernelStack: 'kernel_stack',
  slab: 'slab',
  sock: 'sock',
  shmem: 'shmem',
  fileMapped: 'file_mapped',
  fileDirty: 'file_dirty',
  fileWriteback: 'file_writeback',
  anonThp: 'anon_thp',
  inactiveAnon: 'inactive_anon',
  activeAnon: 'active_anon',
  inactiveFile: 'inactive_file',
  activeFile: 'active_file',
  unevictable: 'unevictable',
  slabReclaimable: 'slab_reclaimable',
  slabUnreclaimable: 'slab_unreclaimable',
  pgfault: 'pgfault',
  pgmajfault: 'pgmajfault',
  workingsetRefault: 'workingset_refault',
  workingsetActivate: 'workingset_activate',
  workingsetNodereclaim: 'workingset_nodereclaim',
  pgrefill: 'pgrefill',
  pgscan: 'pgscan',
  pgsteal: 'pgsteal',
  pgactivate: 'pgactivate',
  pgdeactivate: 'pgdeactivate',
  pglazyfree: 'pglazyfree',
  pglazyfreed: 'pglazyfreed',
  thpFaultAlloc: 'thp_fault_alloc',
  thpCollapseAlloc: 'thp_collapse_alloc',
  workingsetRefaultAnon: 'workingset_refault_anon',
  workingsetRefaultFile: 'workingset_refault_file',
  workingsetActivateAnon: 'workingset_activate_anon',
  workingsetActivateFile: 'workingset_activate_file',
} as const;

function readPsi(
  file: string,
): generated.io.containerd.cgroups.v2.PSIStats.$Properties | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const psi: generated.io.containerd.cgroups.v2.PSIStats.$Properties = {};
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const data: generated.io.containerd.cgroups.v2.PSIData.$Properties = {};
    for (const field of fields) {
      const [key, value] = field.split('=');
      if (key === 'total') {
        const v = parseUint64(value ?? '');
        if (v !== undefined) data.total = v;
      } else if (key === 'avg10' || key === 'avg60' || key === 'avg300') {
        const v = Number(value);
        if (Number.isFinite(v)) data[key] = v;
      }
    }
    psi[kind] = data;
  }
  return isEmpty(psi) ? undefined : psi;
}

function readIoStat(
  file: string,
): generated.io.containerd.cgroups.v2.IOEntry.$Properties[] | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const entries: generated.io.containerd.cgroups.v2.IOEntry.$Properties[] = [];
  for (const line of text.split('\n')) {
    const [device, ...fields] = line.trim().split(/\s+/);
    const majmin = /^(\d+):(\d+)$/.exec(device ?? '');
    if (majmin === null) continue;
    const entry: generated.io.containerd.cgroups.v2.IOEntry.$Properties = {
      major: Number(majmin[1]),
      minor: Number(majmin[2]),
    };
    for (const field of fields) {
      const [key, value] = field.split('=');
      if (key !== 'rbytes' && key !== 'wbytes' && key !== 'rios' && key !== 'wios') continue;
      const v = parseUint64(value ?? '');
      if (v !== undefined) entry[key] = v;
    }
    entries.push(entry);
  }
  return entries;
}

function readRdma(
  file: string,
): generated.io.containerd.cgroups.v2.RdmaEntry.$Properties[] | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const entries: generated.io.containerd.cgroups.v2.RdmaEntry.$Properties[] = [];
  for (const line of text.split('\n')) {
    const [device, ...fields] = line.trim().split(/\s+/);
    if (!device) continue;
    const entry: generated.io.containerd.cgroups.v2.RdmaEntry.$Properties = { device };
    for (const field of fields) {
      const [key, value] = field.split('=');
      // "max" is the kernel's INT32_MAX here (containerd: math.MaxUint32 truncated to uint32).
      const v = value === 'max' ? 0xffffffff : Number(value);
      if (!Number.isFinite(v)) continue;
      if (key === 'hca_handle') entry.hcaHandles = v;
      if (key === 'hca_object') entry.hcaObjects = v;
    }
    entries.push(entry);
  }
  return entries;
}

/**
 * A v2 `Metrics` from a cgroup2 directory, like containerd's cgroup2 Manager.Stat: pids
 * (current, max), cpu.stat (+ cpu.pressure), memory.stat + memory.current/max/peak/swap.*
 * (+ memory.pressure), memory.events, io.stat (+ io.pressure), rdma, hugetlb. "max" limits are
 * 2^64-1, as containerd reports them.
 */
export function readMetricsV2(dir: string): MetricsV2 {
  const metrics: MetricsV2 = {};
  const file = (name: string): string => path.join(dir, name);

  const pidsCurrent = readUint(file('pids.current'));
  if (pidsCurrent !== undefined) {
    const limit = readUintOrMax(file('pids.max'), MAX_UINT64);
    metrics.pids = limit === undefined ? { current: pidsCurrent } : { current: pidsCurrent, limit };
  }

  const cpuStat = readKV(file('cpu.stat'));
  if (cpuStat !== undefined) {
    const cpu: generated.io.containerd.cgroups.v2.CPUStat.$Properties = pick(cpuStat, {
      usageUsec: 'usage_usec',
      userUsec: 'user_usec',
      systemUsec: 'system_usec',
      nrPeriods: 'nr_periods',
      nrThrottled: 'nr_throttled',
      throttledUsec: 'throttled_usec',
      nrBursts: 'nr_bursts',
      burstUsec: 'burst_usec',
    });
    const psi = readPsi(file('cpu.pressure'));
    if (psi !== undefined) cpu.psi = psi;
    metrics.cpu = cpu;
  }

  const memoryStat = readKV(file('memory.stat'));
  if (memoryStat !== undefined) {
    const memory: generated.io.containerd.cgroups.v2.MemoryStat.$Properties = pick(
      memoryStat,
      MEMORY_STAT_V2,
    );
    const single: [keyof generated.io.containerd.cgroups.v2.MemoryStat.$Properties, string][] = [
      ['usage', 'memory.current'],
      ['usageLimit', 'memory.max'],
      ['maxUsage', 'memory.peak'],
      ['swapUsage', 'memory.swap.current'],
      ['swapLimit', 'memory.swap.max'],
      ['swapMaxUsage', 'memory.swap.peak'],
    ];
    for (const [field, name] of single) {
      const v = readUintOrMax(file(name), MAX_UINT64);
      if (v !== undefined) (memory as Record<string, unknown>)[field] = v;
    }
    const psi = readPsi(file('memory.pressure'));
    if (psi !== undefined) memory.psi = psi;
    metrics.memory = memory;
  }

  const events = readKV(file('memory.events'));
  if (events !== undefined && events.size > 0) {
    metrics.memoryEvents = pick(events, {
      low: 'low',
      high: 'high',
      max: 'max',
      oom: 'oom',
      oomKill: 'oom_kill',
      oomGroupKill: 'oom_group_kill',
    });
  }

  const usage = readIoStat(file('io.stat'));
  const ioPsi = readPsi(file('io.pressure'));
  if (usage !== undefined || ioPsi !== undefined) {
    metrics.io = {};
    if (usage !== undefined) metrics.io.usage = usage;
    if (ioPsi !== undefined) metrics.io.psi = ioPsi;
  }

  const rdmaCurrent = readRdma(file('rdma.current'));
  if (rdmaCurrent !== undefined) {
    metrics.rdma = { current: rdmaCurrent, limit: readRdma(file('rdma.max')) ?? [] };
  }

  const hugetlb: generated.io.containerd.cgroups.v2.HugeTlbStat.$Properties[] = [];
  for (const size of hugePageSizes()) {
    const current = readUint(file(`hugetlb.${size}.current`));
    if (current === undefined) continue;
    const entry: generated.io.containerd.cgroups.v2.HugeTlbStat.$Properties = {
      pagesize: size,
      current,
    };
    const max = readUintOrMax(file(`hugetlb.${size}.max`), MAX_UINT64);
    if (max !== undefined) entry.max = max;
    const failcnt = readKV(file(`hugetlb.${size}.events`))?.get('max');
    if (failcnt !== undefined) entry.failcnt = failcnt;
    hugetlb.push(entry);
  }
  if (hugetlb.length > 0) metrics.hugetlb = hugetlb;
  return metrics;
}

/** Encodes v1 metrics as the Stats RPC's Any (`io.containerd.cgroups.v1.Metrics`). */
export function metricsV1Any(metrics: MetricsV1): MetricsAny {
  return toAny(codec().v1.Metrics, metrics) as MetricsAny;
}

/** Encodes v2 metrics as the Stats RPC's Any (`io.containerd.cgroups.v2.Metrics`). */
export function metricsV2Any(metrics: MetricsV2): MetricsAny {
  return toAny(codec().v2.Metrics, metrics) as MetricsAny;
}

/**
 * The metrics of `pid`'s cgroup as the `Any` containerd's Stats RPC returns: v1 hosts (and
 * hybrid ones) `io.containerd.cgroups.v1.Metrics`, v2 hosts `io.containerd.cgroups.v2.Metrics`
 * (the type URLs Go's typeurl gives these gogo/protobuf messages, which `ctr task metrics`
 * resolves). Throws ENOENT when the process is gone.
 */
export function collectMetrics(pid: number): MetricsAny {
  const cg = processCgroup(pid);
  return cg.mode === 'v2'
    ? metricsV2Any(readMetricsV2(cg.path))
    : metricsV1Any(readMetricsV1(cg.paths));
}

/**
 * Moves `pid` into the cgroup at `cgroupPath` (a path below the cgroup root, like the runc
 * Options' `shim_cgroup`): on v2 `/sys/fs/cgroup/<path>`, on v1 the same path in every mounted
 * hierarchy where it exists (containerd's cgroups.Load(StaticPath) + Add). The Rust crate's
 * `add_task_to_cgroup`.
 */
export function addProcessToCgroup(cgroupPath: string, pid: number): void {
  const relative = path.join('/', cgroupPath);
  if (cgroupMode() === 'v2') {
    fs.writeFileSync(path.join(cgroup2Mountpoint(), relative, 'cgroup.procs'), String(pid));
    return;
  }
  let added = 0;
  const seen = new Set<string>();
  for (const m of readMountInfo()) {
    if (m.fstype !== 'cgroup' || seen.has(m.mountpoint)) continue;
    seen.add(m.mountpoint);
    const dir = path.join(m.mountpoint, relative);
    if (!fs.existsSync(dir)) continue;
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    added++;
  }
  if (added === 0) {
    throw systemError('ENOENT', `cgroup ${cgroupPath} does not exist in any v1 hierarchy`);
  }
}

/**
 * Sets `pid`'s oom_score_adj to this process's + 1 (at most 1000), so the OOM killer picks the
 * container's processes before the shim: the Rust crate's `adjust_oom_score`, Go's
 * AdjustOOMScore. Skipped when the shim's own score is already 1000 or more.
 */
export function adjustOomScore(pid: number): void {
  const own = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
  if (!Number.isFinite(own) || own >= 1000) return;
  fs.writeFileSync(`/proc/${pid}/oom_score_adj`, String(Math.min(own + 1, 1000)));
}
