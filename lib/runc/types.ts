// Options and result shapes of the runc client. The JSON shapes (state, stats, events) mirror what
// runc prints (runc's `types/events.go`, `libcontainer` state), key for key.

/** How to run runc; every field maps to a global runc flag. */
export interface RuncOptions {
  /** The runc binary; default `runc` (looked up on PATH). */
  command?: string;
  /** `--root`: where runc keeps container state (runc's default: /run/runc). */
  root?: string;
  /**
   * `--log`: runc's log file. Failed commands read runc's last error from the part of this file
   * written during the command. Without it, detached commands (create, exec, `run`/`restore` with
   * `detach`) cannot report runc's message: their stderr belongs to the container.
   */
  log?: string;
  /** `--log-format`; default `json` when `log` is set. */
  logFormat?: 'json' | 'text';
  /** `--systemd-cgroup`. */
  systemdCgroup?: boolean;
  /** `--criu`: path of the criu binary. */
  criu?: string;
  /** `--debug`. */
  debug?: boolean;
  /** `--rootless=auto|true|false`; not passed when undefined. */
  rootless?: 'auto' | boolean;
}

/**
 * File descriptors handed to runc as its stdin/stdout/stderr. For detached commands (create,
 * exec, run/restore with `detach`) without a terminal the container process inherits them; a
 * missing entry is /dev/null there. Without `detach`, `run`/`restore`/`exec` copy the process's
 * stdio through runc's; a missing stderr is then captured (for runc's error message), not shown.
 */
export interface IoFds {
  stdin?: number;
  stdout?: number;
  stderr?: number;
}

export interface CreateOptions {
  /** `--pid-file`: runc writes the container init's pid here. */
  pidFile?: string;
  /** `--console-socket`: AF_UNIX socket that receives the pty master (terminal: true). */
  consoleSocket?: string;
  /** `--no-pivot`. */
  noPivot?: boolean;
  /** `--no-new-keyring`. */
  noNewKeyring?: boolean;
  /** `run` only (`--detach`); `create` is always detached. */
  detach?: boolean;
  /** `run` only: `--no-subreaper`. */
  noSubreaper?: boolean;
  io?: IoFds;
  /**
   * Extra fds passed to the container as fds 3, 4, ... (`--preserve-fds` with their count), like
   * go-runc's `ExtraFiles`.
   */
  extraFiles?: number[];
  /** Appended after the other flags, before the container id. */
  extraArgs?: string[];
}

export interface ExecOptions {
  /** `--pid-file`: runc writes the exec process's pid here. */
  pidFile?: string;
  /** `--console-socket` (the process spec has terminal: true). */
  consoleSocket?: string;
  /**
   * `--detach` (default true): runc returns once the process started. With `detach: false` runc
   * waits for the process, and a non-zero exit status rejects with a RuncError.
   */
  detach?: boolean;
  io?: IoFds;
  /** Extra fds for the process as fds 3, 4, ... (`--preserve-fds`). */
  extraFiles?: number[];
  /** Appended after the other flags, before the container id. */
  extraArgs?: string[];
}

export interface KillOptions {
  /** `--all`: signal every process of the container. */
  all?: boolean;
}

export interface DeleteOptions {
  /** `--force`: SIGKILL a running container first. */
  force?: boolean;
}

/** `--manage-cgroups-mode` of checkpoint/restore. */
export type CgroupsMode = 'soft' | 'full' | 'strict' | 'ignore';

/** criu options shared by checkpoint and restore (go-runc's `CheckpointOpts` names). */
export interface CriuOptions {
  /** `--image-path`: where the checkpoint images are (required). */
  imagePath: string;
  /** `--work-path`: criu's work directory (its logs). */
  workDir?: string;
  /** `--tcp-established`. */
  allowOpenTcp?: boolean;
  /** `--ext-unix-sk`. */
  allowExternalUnixSockets?: boolean;
  /** `--shell-job`. */
  allowTerminal?: boolean;
  /** `--file-locks`. */
  fileLocks?: boolean;
  /** `--manage-cgroups-mode`. */
  cgroupsMode?: CgroupsMode;
  /** `--empty-ns` (repeated), e.g. `['network']`. */
  emptyNamespaces?: string[];
  /** `--lazy-pages`. */
  lazyPages?: boolean;
  /** `--auto-dedup`. */
  autoDedup?: boolean;
  /** Appended after the other flags, before the container id. */
  extraArgs?: string[];
}

export interface CheckpointOptions extends CriuOptions {
  /** `--parent-path`: a previous (pre-)dump, relative to the image path. */
  parentPath?: string;
  /** `--leave-running`: keep the container running after the dump. */
  leaveRunning?: boolean;
  /** `--pre-dump`. */
  preDump?: boolean;
  /** `--page-server host:port`. */
  criuPageServer?: string;
  /** `--status-fd`: this fd (passed to runc) gets a byte when criu is ready (lazy pages). */
  statusFd?: number;
}

export interface RestoreOptions extends CriuOptions {
  /** `--pid-file`. */
  pidFile?: string;
  /** `--console-socket`. */
  consoleSocket?: string;
  /** `--detach`: return once restored instead of waiting for the container's exit. */
  detach?: boolean;
  /** `--no-pivot`. */
  noPivot?: boolean;
  /** `--no-subreaper`. */
  noSubreaper?: boolean;
  io?: IoFds;
}

/** `runc state` / `runc list --format json` entry. */
export interface Container {
  id: string;
  /** The init's pid; 0 once stopped. */
  pid: number;
  /** created | running | pausing | paused | stopped. */
  status: string;
  bundle: string;
  rootfs: string;
  /** RFC 3339 with nanoseconds. */
  created: string;
  annotations?: Record<string, string>;
  ociVersion?: string;
  /** Empty in `state`, the user name in `list`. */
  owner?: string;
}

export interface RuncVersion {
  /** e.g. `1.1.5+ds1`. */
  runc: string;
  commit?: string;
  /** OCI runtime spec version, e.g. `1.0.2-dev`. */
  spec?: string;
  go?: string;
  libseccomp?: string;
}

// --- stats (`runc events --stats`); uint64 values are JavaScript numbers: exact up to 2^53, and
// for cgroup v1's "unlimited" (2^63 - 4096, a multiple of 4096) also exact.

export interface CpuUsage {
  /** Nanoseconds. */
  total?: number;
  percpu?: number[];
  percpu_kernel?: number[];
  percpu_user?: number[];
  kernel: number;
  user: number;
}

export interface Throttling {
  periods?: number;
  throttledPeriods?: number;
  throttledTime?: number;
}

export interface PsiData {
  avg10: number;
  avg60: number;
  avg300: number;
  total: number;
}

/** cgroup v2 PSI (newer runc only). */
export interface PsiStats {
  some?: PsiData;
  full?: PsiData;
}

export interface CpuStats {
  usage: CpuUsage;
  throttling: Throttling;
  psi?: PsiStats;
}

export interface CpuSetStats {
  cpus?: number[];
  cpu_exclusive: number;
  mems?: number[];
  mem_hardwall: number;
  mem_exclusive: number;
  memory_migrate: number;
  memory_spread_page: number;
  memory_spread_slab: number;
  memory_pressure: number;
  sched_load_balance: number;
  sched_relax_domain_level: number;
}

export interface MemoryEntry {
  /** Bytes; cgroup v1 "unlimited" is 9223372036854771712. */
  limit: number;
  usage?: number;
  max?: number;
  failcnt: number;
}

export interface MemoryStats {
  cache?: number;
  /** memory.usage_in_bytes / limit_in_bytes / max_usage_in_bytes / failcnt. */
  usage: MemoryEntry;
  /** cgroup v1: memory+swap (memsw). */
  swap: MemoryEntry;
  /** cgroup v1: kmem. */
  kernel: MemoryEntry;
  /** cgroup v1: kmem.tcp. */
  kernelTCP: MemoryEntry;
  /** memory.stat, key for key (cgroup v1: cache, rss, total_*, pgfault, ...). */
  raw?: Record<string, number>;
  psi?: PsiStats;
  /** Newer runc only. */
  event_count?: Record<string, number>;
}

export interface PidsStats {
  current?: number;
  /** Absent when unlimited. */
  limit?: number;
}

export interface BlkioEntry {
  major?: number;
  minor?: number;
  op?: string;
  value?: number;
}

export interface BlkioStats {
  ioServiceBytesRecursive?: BlkioEntry[];
  ioServicedRecursive?: BlkioEntry[];
  /** Sic: runc's JSON key. */
  ioQueueRecursive?: BlkioEntry[];
  ioServiceTimeRecursive?: BlkioEntry[];
  ioWaitTimeRecursive?: BlkioEntry[];
  ioMergedRecursive?: BlkioEntry[];
  ioTimeRecursive?: BlkioEntry[];
  sectorsRecursive?: BlkioEntry[];
  psi?: PsiStats;
}

export interface HugetlbStats {
  usage?: number;
  max?: number;
  failcnt: number;
}

export interface NetworkInterfaceStats {
  Name: string;
  RxBytes: number;
  RxPackets: number;
  RxErrors: number;
  RxDropped: number;
  TxBytes: number;
  TxPackets: number;
  TxErrors: number;
  TxDropped: number;
}

/** The `data` of a `runc events` stats event. */
export interface RuncStats {
  cpu: CpuStats;
  cpuset?: CpuSetStats;
  memory: MemoryStats;
  pids: PidsStats;
  blkio: BlkioStats;
  /** Keyed by page size, e.g. `2MB`; empty when the hugetlb controller is not mounted. */
  hugetlb: Record<string, HugetlbStats>;
  intel_rdt?: Record<string, unknown>;
  network_interfaces?: NetworkInterfaceStats[] | null;
}

/** One line of `runc events`: `stats` (with `stats`), `oom`, or another type runc may add. */
export interface RuncEvent {
  type: 'stats' | 'oom' | (string & {});
  id: string;
  /** The `data` of a `stats` event. */
  stats?: RuncStats;
  /** The raw `data`, when present. */
  data?: unknown;
}

/** `runc events` as an async iterable; `close()` stops runc (and ends the iteration). */
export interface RuncEventStream extends AsyncIterable<RuncEvent> {
  close(): void;
}
